"""The three Grafana dashboards are well formed: unique uids, the datasource/node/namespace/pod
variables, every panel on the datasource variable, and every query valid PromQL for promtool."""

from __future__ import annotations

import json
import pathlib

import pytest

from tests.operator.metrics import dashboards, prom

EXPECTED = {"nsprobe-node-overview", "nsprobe-pod-detail", "nsprobe-security"}


def test_three_dashboards_with_unique_uids() -> None:
    uids = [dashboards.load(path)["uid"] for path in dashboards.PATHS]
    assert sorted(uids) == sorted(EXPECTED)


@pytest.mark.parametrize("path", dashboards.PATHS, ids=[p.stem for p in dashboards.PATHS])
def test_dashboard_has_variables_and_panels_use_the_datasource_variable(path: pathlib.Path) -> None:
    board = dashboards.load(path)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert list(variables) == ["datasource", "node", "namespace", "pod"]
    assert (
        variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    )
    for name in ("node", "namespace", "pod"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == "${datasource}"
    assert board["schemaVersion"] >= 36 and "nsprobe" in board["tags"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboards.panels(board):
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        assert panel.get("description"), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])


def test_every_query_is_valid_promql() -> None:
    values = {"node": "node-a", "namespace": ".*", "pod": "web"}
    for query in dashboards.queries():
        expr = dashboards.substitute(query.expr, values)
        # promtool has no "check expression"; a recording rule is the smallest document it parses.
        # A JSON string is a valid YAML double-quoted scalar.
        rules = "groups:\n- name: q\n  rules:\n  - record: q\n    expr: " + json.dumps(expr) + "\n"
        checked = prom.promtool("check", "rules", "/dev/stdin", stdin=rules)
        assert checked.returncode == 0, f"{query.dashboard} / {query.panel}: {checked.stdout}{checked.stderr}"
