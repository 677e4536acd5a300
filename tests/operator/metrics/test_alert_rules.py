"""The shipped alert rules: promtool accepts them, every alert has a firing and a not-firing unit test,
and `promtool test rules` passes on tests/operator/metrics/rules/*.yaml."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from tests.operator.metrics import prom

ROOT = pathlib.Path(__file__).resolve().parents[3]
RULES = ROOT / "charts" / "nsprobe" / "files" / "prometheus-rules.yaml"
TESTS = sorted((pathlib.Path(__file__).parent / "rules").glob("*.yaml"))
EXPECTED_ALERTS = {
    "NsprobeRootInHostUserns",
    "NsprobeUsernsRootMapsToHostRoot",
    "NsprobeHostNamespaceShared",
    "NsprobeTmpfsNearMemoryLimit",
    "NsprobeAgentDown",
    "NsprobeAgentAbsent",
    "NsprobeAgentMissingOnNode",
    "NsprobeScansFailing",
}


def _rules() -> list[dict[str, object]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promtool_check_rules_accepts_the_rules_file() -> None:
    checked = prom.promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    rules = _rules()
    assert {rule["alert"] for rule in rules} == EXPECTED_ALERTS
    for rule in rules:
        labels = rule["labels"]
        annotations = rule["annotations"]
        assert isinstance(labels, dict) and labels["severity"] in ("critical", "warning", "info"), rule[
            "alert"
        ]
        assert isinstance(annotations, dict) and {"summary", "description", "runbook"} <= set(annotations)
    severity = {rule["alert"]: rule["labels"]["severity"] for rule in rules}  # type: ignore[index]
    assert severity["NsprobeRootInHostUserns"] == "critical"


def test_allow_list_regex_appears_once_where_a_template_can_replace_it() -> None:
    text = RULES.read_text()
    assert text.count("kube-system") == 1
    assert 'namespace!~"kube-system"' in text


def test_every_alert_has_a_firing_and_a_not_firing_unit_test() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for path in TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert firing == EXPECTED_ALERTS, EXPECTED_ALERTS - firing
    assert quiet == EXPECTED_ALERTS, EXPECTED_ALERTS - quiet


@pytest.mark.parametrize("path", TESTS, ids=[p.name for p in TESTS])
def test_promtool_unit_tests_pass(path: pathlib.Path) -> None:
    result = prom.promtool("test", "rules", path.name, cwd=str(path.parent))
    assert result.returncode == 0, result.stdout + result.stderr
