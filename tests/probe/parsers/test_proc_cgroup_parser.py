"""/proc/<pid>/cgroup: hierarchy ids, controller lists, v2 line, paths containing ':'."""

from __future__ import annotations

import pytest

from nsprobe.probe.parsers import errors, proc_cgroup
from tests.probe.parsers import fixture_files


def _entries(name: str) -> tuple[proc_cgroup.CgroupEntry, ...]:
    return proc_cgroup.parse_proc_cgroup(fixture_files.read("proc_cgroup", name))


@pytest.mark.parametrize("name", fixture_files.names("proc_cgroup"))
def test_every_captured_file_parses_one_entry_per_line(name: str) -> None:
    text = fixture_files.read("proc_cgroup", name)
    assert len(proc_cgroup.parse_proc_cgroup(text)) == text.count("\n")


def test_hybrid_host_has_v1_lines_then_the_v2_line() -> None:
    entries = _entries("host_hybrid_v1.txt")
    assert entries[0] == proc_cgroup.CgroupEntry(9, ("name=systemd",), "/")
    memory = next(e for e in entries if "memory" in e.controllers)
    assert memory.hierarchy_id == 4
    assert memory.path == "/process_api/d152842df9c5310736e490b06eb2d819"
    assert entries[-1].is_v2 and entries[-1].path == "/"
    assert sum(e.is_v2 for e in entries) == 1


def test_centos7_pure_v1_has_multi_controller_lists_and_no_v2_line() -> None:
    entries = _entries("centos7_host_v1_no_unified.txt")
    assert entries[0].controllers == ("cpuacct", "cpu")
    assert entries[7].controllers == ("net_prio", "net_cls")
    assert not any(e.is_v2 for e in entries)


def test_path_with_colons_is_split_at_most_twice() -> None:
    (entry,) = _entries("containerd_name_systemd_only_line.txt")
    assert entry.controllers == ("name=systemd",)
    assert entry.path.endswith(
        ".slice:cri-containerd:0f99ad5f45163ed14ab8eaf92ed34bb4a631d007f8755a7d79be614bcb0df0ef"
    )
    assert entry.path.count(":") == 2


def test_deleted_suffix_on_the_v2_line_is_stripped_and_flagged() -> None:
    (entry,) = proc_cgroup.parse_proc_cgroup("0::/kubepods/pod1/abc (deleted)\n")
    assert (entry.path, entry.deleted) == ("/kubepods/pod1/abc", True)
    (v1,) = proc_cgroup.parse_proc_cgroup("4:memory:/a (deleted)\n")
    assert (v1.path, v1.deleted) == ("/a (deleted)", False)


def test_empty_text_gives_no_entries() -> None:
    assert proc_cgroup.parse_proc_cgroup("") == ()


@pytest.mark.parametrize(
    "text",
    ["4:memory\n", "x:memory:/\n", "4:memory:relative\n", "4:cpu,,cpuacct:/\n", "-1::/\n", "\n"],
)
def test_malformed_lines_raise_parse_error(text: str) -> None:
    with pytest.raises(errors.ParseError):
        proc_cgroup.parse_proc_cgroup(text)
