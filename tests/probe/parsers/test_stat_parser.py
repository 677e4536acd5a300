"""/proc/<pid>/stat: comm with spaces and parentheses, state, ppid and start time."""

from __future__ import annotations

import pytest

from nsprobe.probe.parsers import errors, stat
from tests.probe.parsers import fixture_files


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("comm_with_parens_and_spaces.txt", stat.ProcStat(8698, "a) b (c)", "S", 8597, 34255)),
        ("debian_bash_2018.txt", stat.ProcStat(188, "bash", "S", 0, 87615)),
        ("kthreadd.txt", None),
        ("cat_self.txt", None),
    ],
)
def test_parse_captured_stat(name: str, expected: stat.ProcStat | None) -> None:
    text = fixture_files.read("stat", name)
    parsed = stat.parse_stat(text)
    if expected is not None:
        assert parsed == expected
    # starttime is field 22 counted from 1 with comm as a single field.
    after_comm = text[text.rindex(")") + 2 :].split()
    assert parsed.start_time_ticks == int(after_comm[22 - 3])
    assert parsed.pid == int(text.split(" ", 1)[0])


def test_kthreadd_has_parent_zero() -> None:
    parsed = stat.parse_stat(fixture_files.read("stat", "kthreadd.txt"))
    assert (parsed.pid, parsed.comm, parsed.ppid) == (2, "kthreadd", 0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "188 bash S 0",
        "188 (bash) S 0 188",  # too few fields
        "x (bash) S 0 188 188 34818 256 4194560 1190 10638 9 93 4 2 165 41 20 0 1 0 87615 1",
        "188 (bash) Q 0 188 188 34818 256 4194560 1190 10638 9 93 4 2 165 41 20 0 1 0 87615 1",
        "188 (bash)S 0 188 188 34818 256 4194560 1190 10638 9 93 4 2 165 41 20 0 1 0 87615 1",
        "188 (bash) S 0 188 188 34818 256 4194560 1190 10638 9 93 4 2 165 41 20 0 1 0 -5 1",
    ],
)
def test_malformed_stat_raises_parse_error(text: str) -> None:
    with pytest.raises(errors.ParseError):
        stat.parse_stat(text)
