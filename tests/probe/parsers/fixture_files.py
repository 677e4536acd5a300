"""Loads captured kernel text from tests/probe/fixtures for the parser tests and the fuzz tests."""

from __future__ import annotations

import pathlib

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"


def read(area: str, name: str) -> str:
    """The text of a fixture, decoded as the probe decodes kernel files (UTF-8, surrogateescape)."""
    path = FIXTURES / area / name
    if not (FIXTURES / area / f"{name}.source").is_file():
        raise AssertionError(f"{path} has no .source sidecar")
    return path.read_text(encoding="utf-8", errors="surrogateescape")


def names(area: str, suffix: str = ".txt") -> list[str]:
    """All fixture file names of an area."""
    return sorted(path.name for path in (FIXTURES / area).iterdir() if path.name.endswith(suffix))
