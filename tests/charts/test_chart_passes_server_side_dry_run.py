"""Server-side dry-run of every rendered scenario against the real test-bed apiserver.

The apiserver validates each object against its real schema (built-in kinds, the chart's CRDs, CEL in the
ValidatingAdmissionPolicy) with unknown fields as errors. monitoring.coreos.com has no CRDs on the bed: a
minimal fixture (tests/charts/fixtures/monitoring-coreos-crds.yaml) stands in for ServiceMonitor and
PrometheusRule.
"""

from __future__ import annotations

import collections.abc
import pathlib
import subprocess

import pytest
import yaml

from nsprobe.testing import controlplane
from tests.charts import chartkit

pytestmark = pytest.mark.controlplane


@pytest.fixture(scope="module")
def crds(control_plane: controlplane.ControlPlane) -> collections.abc.Iterator[None]:
    chartkit.apply_crds(control_plane, chartkit.CRD_DIR)
    monitoring = chartkit.apply_crds(control_plane, chartkit.MONITORING_CRDS)
    try:
        yield
    finally:
        control_plane.kubectl(
            ["delete", "--ignore-not-found", *(f"crd/{name}" for name in monitoring)], check=False
        )


@pytest.mark.parametrize("scenario", [None, *chartkit.SCENARIOS], ids=lambda s: s or "defaults")
def test_rendered_chart_passes_a_strict_server_side_dry_run(
    crds: None,
    control_plane: controlplane.ControlPlane,
    helm_bin: pathlib.Path,
    test_namespace: str,
    scenario: str | None,
) -> None:
    rendered = chartkit.render_text(helm_bin, scenario=scenario, namespace=test_namespace).stdout
    count = sum(1 for doc in yaml.safe_load_all(rendered) if doc)
    result = subprocess.run(
        [
            str(control_plane.bin_dir / "kubectl"),
            f"--kubeconfig={control_plane.kubeconfig}",
            "apply",
            "--dry-run=server",
            "--validate=strict",
            "--server-side",
            "--field-manager=nsprobe-chart-test",
            "-f",
            "-",
        ],
        input=rendered,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    applied = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
    assert len(applied) == count, result.stdout
    assert "Warning" not in result.stderr, result.stderr


def test_dry_run_rejects_what_the_schema_would_not(
    crds: None, control_plane: controlplane.ControlPlane, helm_bin: pathlib.Path, test_namespace: str
) -> None:
    # The check has teeth: a PrometheusRule field the real CRD lacks is refused under --validate=strict.
    bad = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "bad", "namespace": test_namespace},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "1", "severity": "x"}]}]},
    }
    result = subprocess.run(
        [
            str(control_plane.bin_dir / "kubectl"),
            f"--kubeconfig={control_plane.kubeconfig}",
            "apply",
            "--dry-run=server",
            "--validate=strict",
            "-f",
            "-",
        ],
        input=yaml.safe_dump(bad),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "unknown field" in result.stderr
