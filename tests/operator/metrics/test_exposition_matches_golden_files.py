"""Golden exposition: fixture snapshots render byte-for-byte to tests/operator/metrics/golden/*.prom, and
promtool accepts each file. NSPROBE_UPDATE_GOLDEN=1 rewrites them (review the diff before committing)."""

from __future__ import annotations

import os
import pathlib

import pytest

from nsprobe.metrics import collector
from nsprobe.probe import model
from tests.operator.metrics import fixtures, prom

GOLDEN = pathlib.Path(__file__).parent / "golden"


def _all_unknown() -> collector.Snapshot:
    denied = model.Unknown("permission: permission denied")
    report = fixtures.container(
        key=fixtures.WEB,
        pod_uid="b59b1c1c-2954-4e5e-94fb-9637fa7693ff",
        tmp=denied,
        memory=denied,
        namespaces=denied,
        identity=denied,
        root=denied,
        cgroup=denied,
        ipc=denied,
    )
    result = fixtures.scan_result((report,), meminfo=denied)
    return collector.Snapshot(node=fixtures.NODE, result=result, names=fixtures.NAMES)


def _empty_node() -> collector.Snapshot:
    return collector.Snapshot(node=fixtures.NODE, result=fixtures.scan_result(()), names={})


CASES = {
    "fixture_node": fixtures.snapshot,
    "every_section_unknown": _all_unknown,
    "node_without_containers": _empty_node,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rendered_exposition_equals_golden_file(name: str) -> None:
    text = prom.render(CASES[name]())
    path = GOLDEN / f"{name}.prom"
    if os.environ.get("NSPROBE_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} differs; NSPROBE_UPDATE_GOLDEN=1 rewrites it"


@pytest.mark.parametrize("name", sorted(CASES))
def test_promtool_accepts_golden_file(name: str) -> None:
    checked = prom.promtool("check", "metrics", stdin=(GOLDEN / f"{name}.prom").read_text())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == ""  # no lint warnings either


def test_all_unknown_sections_export_failures_not_zeros() -> None:
    text = prom.render(_all_unknown())
    assert "nsprobe_container_" not in text.replace("# HELP nsprobe_container_", "").replace(
        "# TYPE nsprobe_container_", ""
    )
    for name in collector.COLLECTORS:
        assert f'nsprobe_collector_success{{collector="{name}",node="node-a"}} 0.0' in text


@pytest.mark.parametrize("name", sorted(CASES))
def test_fast_text_path_writes_the_same_bytes_as_client_python(name: str) -> None:
    snapshot = CASES[name]()
    assert collector.text(snapshot).decode("utf-8") == prom.render(snapshot)
