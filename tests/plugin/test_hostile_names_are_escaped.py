"""Cluster names and messages cannot repaint the terminal: control and bidi characters are escaped."""

from __future__ import annotations

import pytest

from kubectl_nsprobe import diagnose, errors, escape, render
from tests.plugin import objects

HOSTILE = "evil\x1b[2J\x1b]0;owned\x07\r\nfake-line\tx\x7f\x9b31m\u202eexe.txt\u2066\u2069\x00"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[31m", "\\x1b[31m"),
        ("a\nb\rc\td", "a\\nb\\rc\\td"),
        ("\x00\x07\x08\x7f", "\\x00\\x07\\x08\\x7f"),
        ("\x85\x9b", "\\x85\\x9b"),
        ("\u202a\u202b\u202c\u202d\u202e", "\\u202a\\u202b\\u202c\\u202d\\u202e"),
        ("\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"),
        ("\u200e\u200f\u061c\u2028\u2029", "\\u200e\\u200f\\u061c\\u2028\\u2029"),
        ("ordinary-name-ü-日本", "ordinary-name-ü-日本"),
    ],
)
def test_each_control_character_is_shown_as_an_escape(raw: str, shown: str) -> None:
    assert escape.text(raw) == shown
    assert escape.is_safe(escape.text(raw))


def test_escaping_is_idempotent() -> None:
    once = escape.text(HOSTILE)
    assert escape.text(once) == once


def _hostile_probe() -> objects.Obj:
    probe = objects.pod_probe(HOSTILE, HOSTILE)
    status = probe["status"]
    status["nodeName"] = HOSTILE
    container = status["containers"][0]
    container["name"] = HOSTILE
    container["tmp"]["source"] = HOSTILE
    container["namespaces"][0]["sharedWith"] = [HOSTILE]
    container["identity"]["capabilities"] = [HOSTILE]
    container["memory"]["explanation"] = HOSTILE
    container["root"] = {"kind": HOSTILE, "explanation": HOSTILE}
    container["ipc"] = {"unknown": HOSTILE}
    status["findings"][0].update(code=HOSTILE, message=HOSTILE, remedy=HOSTILE, container=HOSTILE)
    status["conditions"][0]["message"] = HOSTILE
    status["summary"]["tmp"] = HOSTILE
    status["summary"]["hostNamespaces"] = HOSTILE
    return probe


def _assert_no_raw_control(text: str) -> None:
    # Newlines between lines are ours; every other unsafe character must have been escaped.
    for line in text.split("\n"):
        assert escape.is_safe(line), repr(line)
    assert "fake-line" not in text.replace("\\nfake-line", "")


def test_pod_report_escapes_every_cluster_string() -> None:
    text = render.pod_report(_hostile_probe(), now=objects.NOW, pod=objects.pod(HOSTILE, HOSTILE))
    _assert_no_raw_control(text)
    assert "evil\\x1b[2J\\x1b]0;owned\\x07\\r\\nfake-line" in text
    assert "\\u202eexe.txt" in text


def test_pods_table_escapes_and_stays_one_line_per_pod() -> None:
    rows = [
        render.PodRow(probe=_hostile_probe(), pod=None),
        render.PodRow(probe=None, pod=objects.pod(HOSTILE, HOSTILE)),
    ]
    for wide in (False, True):
        text = render.pods_table(rows, now=objects.NOW, wide=wide, all_namespaces=True)
        _assert_no_raw_control(text)
        assert len(text.splitlines()) == 3


def test_node_report_escapes_every_cluster_string() -> None:
    probe = objects.node_probe(HOSTILE)
    probe["status"].update(kernelRelease=HOSTILE, agentVersion=HOSTILE, cgroupLayout=HOSTILE)
    probe["status"]["tmp"]["source"] = HOSTILE
    probe["status"]["conditions"] = [
        {"type": HOSTILE, "status": "True", "reason": HOSTILE, "message": HOSTILE}
    ]
    _assert_no_raw_control(render.node_report(probe, now=objects.NOW))


def test_why_no_report_escapes_pod_fields_through_the_command() -> None:
    pod = objects.pod("app", node=None)
    pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "False", "message": HOSTILE}]
    cluster = objects.FakeCluster(pods=[pod])
    result = objects.invoke(cluster, ["pod", "app"])
    assert result.exit_code == errors.EXIT_FAILURE
    _assert_no_raw_control(result.stderr)
    assert "not scheduled" in result.stderr


def test_errors_with_hostile_names_are_escaped() -> None:
    result = objects.invoke(objects.FakeCluster(), ["pod", HOSTILE])
    assert result.exit_code == errors.EXIT_FAILURE
    _assert_no_raw_control(result.stderr)
    assert "Error from server (NotFound): pod" in result.stderr


def test_stale_warning_escapes_the_name() -> None:
    fresh = diagnose.Freshness(age_seconds=999, interval_seconds=30, stale=True, basis="report")
    assert escape.is_safe(render.stale_warning("pod", HOSTILE, fresh))
