"""Helpers for the metrics tests: render a private registry, and find or demand Prometheus' binaries."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from prometheus_client import exposition, registry

from nsprobe.metrics import collector


def render(snapshot: collector.Snapshot) -> str:
    """The exposition text of one snapshot, alone in a private registry (no process or build metrics)."""
    reg = registry.CollectorRegistry()
    snapshots = collector.SnapshotCollector()
    snapshots.update(snapshot)
    reg.register(snapshots)
    return exposition.generate_latest(reg).decode("utf-8")


def binary(name: str) -> str:
    """promtool or prometheus from Debian's `prometheus` package; CI (.ci/run) installs it, so there a
    missing binary fails instead of skipping."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: apt-get install prometheus (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def promtool(
    *args: str, stdin: str | None = None, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("promtool"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )
