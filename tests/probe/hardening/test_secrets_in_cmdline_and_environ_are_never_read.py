"""Secrets in a container's argv and environment: never opened, never in any output (strace, audit hook)."""

from __future__ import annotations

import collections.abc
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid

import prometheus_client
import pytest
import yaml

from nsprobe.metrics import collector
from nsprobe.models import status
from nsprobe.probe import host, model, render, scanner, serialize
from nsprobe.testing import scenarios as sc

pytestmark = pytest.mark.kernel

_FORBIDDEN = re.compile(r"/proc/(?:self|thread-self|\d+)(?:/task/\d+)?/(?:cmdline|environ)\b")
_SECRET_FILES = ("cmdline", "environ")
_NSPROBE = os.path.join(os.path.dirname(sys.executable), "nsprobe")
_audit_sink: list[list[str]] = []  # the paths opened while a test listens; hooks can't be removed
_audit_lock = threading.Lock()


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _audit_sink and args and isinstance(args[0], str | bytes):
        path = os.fsdecode(args[0])
        with _audit_lock:
            for sink in _audit_sink:
                sink.append(path)


sys.addaudithook(_audit)


@pytest.fixture
def secret_pods(scenarios: sc.Scenarios) -> tuple[str, list[sc.Container]]:
    """Two pods whose processes hold a secret in argv ($0 of sh) and in the environment (also the child's).
    The programs are sh and sleep: comm, which nsset mode shows, is no secret."""
    secret = "s3cr3t-" + uuid.uuid4().hex
    script = "sleep infinity & wait"
    pods = [
        scenarios.start(
            command=["env", f"NSPROBE_TEST_TOKEN={secret}", "/bin/sh", "-c", script, f"--password={secret}"],
            unshare=("--mount", "--uts", "--ipc", "--pid", "--fork"),
            tmpfs_tmp="size=8m",
            expect_comm="sh",
        ),
        scenarios.start(
            command=["env", f"DB_URL=postgres://u:{secret}@db", "/bin/sh", "-c", script, secret],
            unshare=("--user", "--keep-caps", "--mount", "--pid", "--fork"),
            uid_map="0 0 1\n1 300000 65535\n",
            expect_comm="sh",
        ),
    ]
    for container in pods:  # the gate (sh) execs env, which execs sh: wait for the secret to arrive
        deadline = time.monotonic() + 15
        while not all(secret.encode() in _read(f"/proc/{container.pid}/{name}") for name in _SECRET_FILES):
            assert time.monotonic() < deadline, "the scenario never carried its secret"
            time.sleep(0.02)
    return secret, pods


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:  # the test may; nsprobe may not
        return handle.read()


def _forbidden(paths: collections.abc.Iterable[str]) -> list[str]:
    return sorted({p for p in paths if _FORBIDDEN.search(p)})


@pytest.mark.parametrize(
    "args",
    [
        ["-o", "json"],
        ["-o", "yaml"],
        ["-o", "wide"],
        ["-o", "table"],
        ["-o", "json", "--group-by", "nsset"],
        ["-o", "wide", "--group-by", "nsset"],
    ],
    ids=lambda a: "-".join(x.lstrip("-") for x in a),
)
def test_scan_cli_under_strace_opens_no_cmdline_or_environ_and_prints_no_secret(
    secret_pods: tuple[str, list[sc.Container]], tmp_path: os.PathLike[str], args: list[str]
) -> None:
    secret, pods = secret_pods
    strace = shutil.which("strace")
    assert strace is not None, "strace is needed (apt-get install strace)"
    trace = os.path.join(os.fspath(tmp_path), "trace")
    done = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=openat,open,openat2", "-o", trace, _NSPROBE, "scan", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    with open(trace) as handle:
        opened = re.findall(r'open(?:at2?)?\((?:[^,]+, )?"([^"]+)"', handle.read())
    assert _forbidden(opened) == []
    # The trace is live: it saw the scan read the secret holders' stat files.
    assert {f"/proc/{c.pid}/stat" for c in pods} <= set(opened)
    assert secret not in done.stdout
    assert secret not in done.stderr
    if "json" in args:
        data = json.loads(done.stdout)
        pids = {c["pid"] for c in data["containers"]}
    elif "yaml" in args:
        data = yaml.safe_load(done.stdout)
        pids = {c["pid"] for c in data["containers"]}
    else:
        pids = set()
    if pids:
        assert {c.pid for c in pods} <= pids  # the secret holders were reported, just not their secrets


def test_scan_status_and_metrics_in_process_open_no_cmdline_or_environ_and_carry_no_secret(
    secret_pods: tuple[str, list[sc.Container]],
) -> None:
    secret, pods = secret_pods
    opened: list[str] = []
    outputs: list[str] = []
    with _audit_lock:
        _audit_sink.append(opened)
    try:
        for group_by in ("kubepods", "nsset"):
            probe = scanner.Scanner(host.Host(), group_by=group_by, full_every=2)
            for _ in range(3):  # full, steady, full
                result = probe.scan()
            reports = [r for r in result.containers if r.pid in {c.pid for c in pods}]
            assert len(reports) == len(pods), [r.ref.key for r in result.containers]
            data = serialize.scan_to_dict(result)
            outputs += [repr(result), json.dumps(data), yaml.safe_dump(data)]
            outputs += [
                render.table(result),
                render.table(result, wide=True),
                render.describe_node(result.node),
            ]
            outputs.append(repr(_statuses(result, pods)))
            outputs.append(_exposition(result))
    finally:
        with _audit_lock:
            _audit_sink.remove(opened)
    assert _forbidden(opened) == []
    assert {f"/proc/{c.pid}/status" for c in pods} <= set(opened)  # the hook was live
    leaks = [text[max(text.find(secret) - 80, 0) :][:200] for text in outputs if secret in text]
    assert leaks == []


def _statuses(result: model.ScanResult, pods: list[sc.Container]) -> list[status.Status]:
    """PodProbe and NodeProbe status as the agent builds them, for pods named after the scenarios."""
    out: list[status.Status] = []
    views = {
        c.pod_uid: status.pod_view(
            {
                "metadata": {"namespace": "default", "name": f"pod-{i}", "uid": c.pod_uid},
                "spec": {"nodeName": "node-a"},
                "status": {
                    "phase": "Running",
                    "containerStatuses": [{"name": "app", "containerID": f"containerd://{c.container_id}"}],
                },
            }
        )
        for i, c in enumerate(pods)
    }
    names = status.names_by_key(result.containers, views)
    for pod in views.values():
        reports = [r for r in result.containers if r.ref.pod_uid == pod.uid]
        out.append(
            status.pod_probe_status(
                pod=pod, reports=reports, names=names, scanned_at=result.scanned_at, scan_interval_seconds=30
            )
        )
        for report in reports:
            out.append(
                status.container_status(
                    report, name="app", container_id=report.ref.container_id or "", names_by_key=names
                )
            )
    out.append(
        status.node_probe_status(result, agent_version="test", scan_interval_seconds=30, heartbeat_seconds=60)
    )
    return out


def _exposition(result: model.ScanResult) -> str:
    snapshots = collector.SnapshotCollector()
    snapshots.update(collector.Snapshot(node="node-a", result=result, names={}))
    registry = prometheus_client.CollectorRegistry()
    registry.register(snapshots)
    prometheus_client.ProcessCollector(registry=registry)  # the agent's own process_* reads /proc/self
    text = prometheus_client.generate_latest(registry).decode()
    assert "nsprobe_" in text
    return text
