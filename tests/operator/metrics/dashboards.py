"""Reading the shipped Grafana dashboards for tests: their panels, their queries, and Grafana's variable
substitution (the subset the dashboards use: $var and ${var} in PromQL)."""

from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import typing

ROOT = pathlib.Path(__file__).resolve().parents[3]
DIR = ROOT / "charts" / "nsprobe" / "files" / "dashboards"
PATHS = sorted(DIR.glob("*.json"))
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclasses.dataclass(frozen=True)
class Query:
    dashboard: str
    panel: str
    panel_type: str
    ref: str
    expr: str
    instant: bool


def load(path: pathlib.Path) -> dict[str, typing.Any]:
    data: dict[str, typing.Any] = json.loads(path.read_text())
    return data


def panels(dashboard: dict[str, typing.Any]) -> list[dict[str, typing.Any]]:
    found: list[dict[str, typing.Any]] = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # panels inside a collapsed row
    return [p for p in found if p["type"] != "row"]


def queries() -> list[Query]:
    out = []
    for path in PATHS:
        board = load(path)
        for panel in panels(board):
            for target in panel["targets"]:
                out.append(
                    Query(
                        board["uid"],
                        panel["title"],
                        panel["type"],
                        target["refId"],
                        target["expr"],
                        target["instant"],
                    )
                )
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    """Replace $var / ${var} as Grafana does for a regex (=~) context; an unknown variable is an error."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"dashboard uses ${name}, which the test does not substitute")
        return values[name]

    return _VAR.sub(one, expr)
