"""The program's own metrics (scan duration and errors, reconciles, build info) and the HTTP server:
/metrics serves the registry, /healthz follows the health callback, other paths are 404."""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.request

import pytest
from prometheus_client import exposition, parser, registry

from nsprobe.metrics import activity, collector, server
from nsprobe.probe import model
from tests.operator.metrics import fixtures, prom


def _value(reg: registry.CollectorRegistry, name: str, **labels: str) -> float:
    value = reg.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_observe_scan_counts_duration_and_errors_by_bounded_reason() -> None:
    reg = server.build_registry(component="agent", node="n1", process=False)
    before_count = _value(reg, "nsprobe_scan_duration_seconds_count")
    before = {r: _value(reg, "nsprobe_scan_errors_total", reason=r) for r in activity.SCAN_ERROR_REASONS}
    errors = (
        model.ScanError("vanished", "pid 1 exited"),
        model.ScanError("vanished", "pid 2 exited"),
        model.ScanError("permission", "uid_map"),
        model.ScanError("surprising new word", "x"),
    )
    result = fixtures.scan_result(())
    activity.observe_scan(dataclasses.replace(result, errors=errors))
    activity.observe_scan_failure(0.5)
    assert _value(reg, "nsprobe_scan_duration_seconds_count") == before_count + 2
    after = {r: _value(reg, "nsprobe_scan_errors_total", reason=r) for r in activity.SCAN_ERROR_REASONS}
    delta = {r: after[r] - before[r] for r in after if after[r] != before[r]}
    assert delta == {"vanished": 2, "permission": 1, "other": 1, "scan_failed": 1}


def test_every_scan_error_reason_is_exported_from_the_start() -> None:
    text = exposition.generate_latest(
        server.build_registry(component="exporter", node="n1", process=False)
    ).decode()
    for reason in activity.SCAN_ERROR_REASONS:
        assert f'nsprobe_scan_errors_total{{reason="{reason}"}}' in text
    assert "_created" not in text


def test_operator_registry_has_reconcile_counters_and_no_scan_metrics() -> None:
    reg = server.build_registry(component="operator", process=False)
    before = _value(reg, "nsprobe_operator_reconcile_errors_total", resource="daemonset", reason="conflict")
    activity.observe_reconcile("daemonset")
    activity.observe_reconcile("daemonset", error="conflict")
    activity.observe_reconcile("spaceship", error="meteor")
    assert (
        _value(reg, "nsprobe_operator_reconcile_errors_total", resource="daemonset", reason="conflict")
        == before + 1
    )
    assert _value(reg, "nsprobe_operator_reconcile_errors_total", resource="other", reason="other") >= 1
    assert _value(reg, "nsprobe_operator_reconciles_total", resource="daemonset") >= 2
    text = exposition.generate_latest(reg).decode()
    assert "nsprobe_scan_" not in text
    assert 'component="operator"' in text and "node=" not in text


def test_build_info_names_version_component_and_node() -> None:
    reg = server.build_registry(component="agent", node="node-a", process=False)
    families = {
        f.name: f for f in parser.text_string_to_metric_families(exposition.generate_latest(reg).decode())
    }
    (sample,) = families["nsprobe_build_info"].samples
    assert sample.value == 1
    assert sample.labels["component"] == "agent" and sample.labels["node"] == "node-a"
    assert sample.labels["version"]
    with pytest.raises(ValueError):
        activity.BuildInfoCollector(component="something")


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_server_serves_metrics_healthz_and_404() -> None:
    snapshots = collector.SnapshotCollector()
    snapshots.update(fixtures.snapshot())
    reg = server.build_registry(component="agent", node=fixtures.NODE)
    healthy = [True]
    http = server.serve(reg, listen="127.0.0.1", port=0, snapshots=snapshots, healthy=lambda: healthy[0])
    try:
        base = f"http://127.0.0.1:{http.port}"
        status, body = _get(base + "/metrics")
        assert status == 200
        assert "nsprobe_container_root_in_host_userns" in body and "process_resident_memory_bytes" in body
        assert body.encode() == server.exposition(reg, snapshots) or "process_" in body  # process_* moves
        checked = prom.promtool("check", "metrics", stdin=body)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert _get(base + "/healthz") == (200, "ok\n")
        healthy[0] = False
        assert _get(base + "/healthz")[0] == 503
        assert _get(base + "/nope")[0] == 404
    finally:
        http.close()


def test_collector_yields_nothing_before_the_first_scan() -> None:
    assert list(collector.SnapshotCollector().collect()) == []
