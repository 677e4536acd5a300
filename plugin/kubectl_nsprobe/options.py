"""Validated options shared by every command; built by cli.py, read by commands.py and kube.py."""

from __future__ import annotations

import collections.abc
import dataclasses
import re
import typing

from kubectl_nsprobe import errors

OUTPUTS = ("table", "wide", "json", "yaml", "yml")
COLORS = ("auto", "always", "never")
Output = typing.Literal["table", "wide", "json", "yaml"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


@dataclasses.dataclass(frozen=True)
class Connection:
    """How to reach the API server, as kubectl's own flags say it."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None  # -n; None means "the context's namespace, else default"
    request_timeout: float | None = None  # seconds; None means no timeout (kubectl's "0")
    impersonate: str | None = None
    impersonate_groups: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Options:
    """Everything a command needs besides its own arguments."""

    connection: Connection = Connection()
    all_namespaces: bool = False
    output: Output = "table"
    no_headers: bool = False
    color: bool = False


def parse_request_timeout(value: str) -> float | None:
    """kubectl's --request-timeout: "0" is no timeout; a bare integer is seconds; else a Go duration."""
    text = value.strip()
    if text in ("", "0"):
        return None
    if text.isdigit():
        return float(text)
    position, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(text) or position == 0:
        raise errors.UsageError(
            f"invalid --request-timeout {text!r}: use a number of seconds or a duration such as 5s, 1m30s"
        )
    return total or None


def normalize_output(value: str | None) -> Output:
    name = (value or "table").lower()
    if name == "yml":
        return "yaml"
    if name not in ("table", "wide", "json", "yaml"):
        raise errors.UsageError(f"unknown output format {value!r}: use one of table, wide, json, yaml")
    return typing.cast(Output, name)


def use_color(choice: str | None, *, is_tty: bool, environ: collections.abc.Mapping[str, str]) -> bool:
    """--color: always/never win; auto colours a terminal unless NO_COLOR (no-color.org) or TERM=dumb."""
    mode = (choice or "auto").lower()
    if mode == "always":
        return True
    if mode == "never":
        return False
    if environ.get("NO_COLOR", ""):
        return False
    return is_tty and environ.get("TERM", "") != "dumb"
