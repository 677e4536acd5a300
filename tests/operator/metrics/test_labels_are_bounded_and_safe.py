"""Labels stay bounded and valid: at most 40 series per container, only the agreed label names, and
hostile names (control characters, quotes, newlines, RTL overrides, long UTF-8) still give exposition
that promtool accepts and that parses back to the same values."""

from __future__ import annotations

import collections
import dataclasses

from prometheus_client import parser

from nsprobe.metrics import collector
from nsprobe.probe import findings, model
from tests.operator.metrics import fixtures, prom

MAX_SERIES_PER_CONTAINER = 40
ALLOWED_LABELS = {
    "namespace",
    "pod",
    "container",
    "node",
    "kind",
    "type",
    "backing",
    "fstype",
    "code",
    "severity",
    "collector",
}


def _worst_case() -> collector.Snapshot:
    """Every section known, a limit and a quota, and every finding code of the catalogue at once."""
    base = fixtures.fixture_containers()[0]
    every = tuple(
        model.Finding(code=info.code, severity=info.severity, container=base.ref.key, message="m", remedy="r")
        for info in findings.CATALOGUE.values()
    )
    report = dataclasses.replace(base, findings=every)
    return collector.Snapshot(node="n", result=fixtures.scan_result((report,)), names={})


def _series_by_container(text: str) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            if "container" in sample.labels:
                counts[sample.labels["pod"] + "/" + sample.labels["container"]] += 1
    return counts


def test_worst_case_container_stays_within_the_series_budget() -> None:
    counts = _series_by_container(prom.render(_worst_case()))
    assert len(counts) == 1
    assert max(counts.values()) <= MAX_SERIES_PER_CONTAINER, counts


def test_fixture_containers_stay_within_the_series_budget() -> None:
    counts = _series_by_container(prom.render(fixtures.snapshot()))
    assert len(counts) == len(fixtures.fixture_containers())
    assert max(counts.values()) <= MAX_SERIES_PER_CONTAINER, counts


def test_only_agreed_label_names_are_used() -> None:
    text = prom.render(_worst_case()) + prom.render(fixtures.snapshot())
    names = {
        name
        for family in parser.text_string_to_metric_families(text)
        for s in family.samples
        for name in s.labels
    }
    assert names <= ALLOWED_LABELS, names - ALLOWED_LABELS


HOSTILE = {
    "ansi": "\x1b[31mred\x1b[0m\x07",
    "newline": "pod\nnsprobe_fake_metric 1\n# EOF",
    "quotes": 'say "hi"',
    "backslash": "C:\\temp\\n\\",
    "rtl": "admin\u202etxt.exe",
    "long_utf8": "名前" * 300 + "🙂" * 50,
    "lone_surrogate": "bad\udcffbyte",
}


def _hostile_snapshot() -> tuple[collector.Snapshot, dict[str, collector.ContainerName]]:
    containers = fixtures.fixture_containers()[:3]
    values = list(HOSTILE.values())
    names = {
        report.ref.key: collector.ContainerName(
            values[i % len(values)], values[(i + 1) % len(values)], values[(i + 2) % len(values)]
        )
        for i, report in enumerate(containers)
    }
    return collector.Snapshot(
        node=HOSTILE["quotes"], result=fixtures.scan_result(containers), names=names
    ), names


def test_hostile_names_give_valid_exposition() -> None:
    snapshot, _ = _hostile_snapshot()
    checked = prom.promtool("check", "metrics", stdin=prom.render(snapshot))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_hostile_names_parse_back_unchanged() -> None:
    snapshot, names = _hostile_snapshot()
    text = prom.render(snapshot)
    assert "\nnsprobe_fake_metric" not in text
    seen = set()
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            if "pod" in sample.labels:
                seen.add((sample.labels["namespace"], sample.labels["pod"], sample.labels["container"]))
                assert sample.labels["node"] == HOSTILE["quotes"]
    expected = {
        (collector.label_value(n.namespace), collector.label_value(n.pod), collector.label_value(n.container))
        for n in names.values()
    }
    assert seen == expected
    # Only the lone surrogate, which no encoder can write, is replaced; everything else is kept exactly.
    assert collector.label_value(HOSTILE["lone_surrogate"]) == "bad?byte"
    assert collector.label_value(HOSTILE["rtl"]) == HOSTILE["rtl"]


def test_fstype_from_a_fuse_mount_is_reduced_to_a_bounded_word() -> None:
    assert collector.fstype_label("tmpfs") == "tmpfs"
    assert collector.fstype_label("fuse.sshfs") == "fuse.sshfs"
    assert collector.fstype_label("fuse.\x1b[31mevil") == "other"
    assert collector.fstype_label("x" * 33) == "other"


def test_containers_without_a_kubernetes_name_are_named_from_the_probe() -> None:
    report = fixtures.fixture_containers()[4]
    name = collector.name_from_probe(report.ref)
    assert name == collector.ContainerName("", report.ref.pod_uid or "", fixtures.UNNAMED[:12])
    nsset = fixtures.fixture_containers()[5]
    assert collector.name_from_probe(nsset.ref) == collector.ContainerName("", "", "nsset-5f2c9a7e1b3d")


def test_fast_text_path_escapes_hostile_names_like_client_python() -> None:
    snapshot, _ = _hostile_snapshot()
    assert collector.text(snapshot).decode("utf-8") == prom.render(snapshot)
    worst = _worst_case()
    assert collector.text(worst).decode("utf-8") == prom.render(worst)
