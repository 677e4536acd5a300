"""Property tests: every parser, fed mutated real kernel text, returns a value or raises ParseError only.

The number of examples per test comes from NSPROBE_FUZZ_EXAMPLES (default 2000, a fast local run); CI sets
it so that the sum over all tests here is at least 100k.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import hypothesis
import hypothesis.strategies as st

from nsprobe.probe.parsers import (
    capabilities,
    cgroup_values,
    errors,
    idmap,
    kubepods,
    meminfo,
    memory_stat,
    mountinfo,
    nsfs,
    proc_cgroup,
    stat,
    status,
    sysvipc,
)
from tests.probe.parsers import fixture_files

EXAMPLES = int(os.environ.get("NSPROBE_FUZZ_EXAMPLES", "2000"))

SETTINGS = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        hypothesis.HealthCheck.too_slow,
        hypothesis.HealthCheck.data_too_large,
        hypothesis.HealthCheck.filter_too_much,
    ],
)


def _seeds(*areas: str) -> list[str]:
    texts = [fixture_files.read(area, name) for area in areas for name in fixture_files.names(area)]
    assert texts, areas
    return texts


# Characters that matter to one parser or another, plus Unicode look-alikes that str.split()/int() treat
# specially (NEL, line separator, non-ASCII digits, full-width colon).
SPECIAL = [" ", "\t", "\n", "\r", ":", "-", "(", ")", "[", "]", "\\", ",", "=", "/", "0", "9", "\x00", "\x0b",
           "\x1c", "\x85", "\u2028", "\u0663", "\uff1a", "\udcff", "kB", "max", " - ", "0::"]  # fmt: skip


def _garbage(draw: st.DrawFn) -> str:
    raw = draw(st.binary(max_size=64))
    return raw.decode("latin-1") if draw(st.booleans()) else raw.decode("utf-8", errors="surrogateescape")


@st.composite
def mutated(draw: st.DrawFn, seeds: list[str]) -> str:
    """A real fixture text with a few random edits; sometimes pure garbage or arbitrary text."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return _garbage(draw)
    if kind == 1:
        return draw(st.text(max_size=200))
    text = draw(st.sampled_from(seeds))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.integers(0, 8))
        at = draw(st.integers(0, len(text)))
        if op == 0:  # truncate
            text = text[:at]
        elif op == 1:  # delete a slice
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif op == 2:  # insert a special character or token
            text = text[:at] + draw(st.sampled_from(SPECIAL)) + text[at:]
        elif op == 3:  # replace one character
            text = text[:at] + draw(st.sampled_from(SPECIAL)) + text[at + 1 :]
        elif op == 4:  # binary garbage decoded as the host would
            text = text[:at] + _garbage(draw) + text[at:]
        elif op == 5:  # a huge line or number
            text = (
                text[:at]
                + draw(st.sampled_from(["9", "a", " ", "/", "\\040"])) * draw(st.integers(1, 50_000))
                + text[at:]
            )
        elif op == 6:  # octal-looking escapes, valid or not
            digits = draw(st.text(alphabet="0123456789", min_size=0, max_size=4))
            text = text[:at] + "\\" + digits + text[at:]
        elif op == 7:  # duplicate or drop a line
            lines = text.split("\n")
            index = draw(st.integers(0, len(lines) - 1))
            if draw(st.booleans()):
                lines.insert(index, lines[index])
            else:
                del lines[index]
            text = "\n".join(lines)
        else:  # arbitrary text
            text = text[:at] + draw(st.text(max_size=20)) + text[at:]
    return text


def _check(parse: Callable[[str], object], text: str) -> object | None:
    try:
        return parse(text)
    except errors.ParseError as error:
        assert str(error), "a ParseError must carry a message"
        return None


@SETTINGS
@hypothesis.given(
    mutated(_seeds("mountinfo")), st.sampled_from(["/", "/tmp", "/tmp/with space/x", "/mnt/inner", "/x"])
)
def test_fuzz_mountinfo_and_lookups(text: str, path: str) -> None:
    mounts = _check(mountinfo.parse_mountinfo, text)
    if isinstance(mounts, tuple):
        assert mountinfo.cgroup_layout(mounts) in ("v1", "v2", "hybrid", "none")
        found = mountinfo.find_mount_for(mounts, path)
        assert found is None or found in mounts


@SETTINGS
@hypothesis.given(mutated(_seeds("mountinfo")))
def test_fuzz_decode_octal_and_find_mount_for_paths(text: str) -> None:
    assert isinstance(mountinfo.decode_octal(text), str)
    mounts = mountinfo.parse_mountinfo(fixture_files.read("mountinfo", "unshare_stacked_tmpfs.txt"))
    _check(lambda path: mountinfo.find_mount_for(mounts, path), text)


@SETTINGS
@hypothesis.given(mutated(_seeds("proc_cgroup")))
def test_fuzz_proc_cgroup_and_discovery(text: str) -> None:
    entries = _check(proc_cgroup.parse_proc_cgroup, text)
    if isinstance(entries, tuple):
        picked = kubepods.pick_container_path(entries)
        assert picked is None or kubepods.parse_kubepods_path(picked) is not None


@SETTINGS
@hypothesis.given(mutated(_seeds("proc_cgroup")))
def test_fuzz_kubepods_path(text: str) -> None:
    for line in text.split("\n"):
        identity = _check(kubepods.parse_kubepods_path, line.split(":", 2)[-1])
        assert identity is None or isinstance(identity, kubepods.KubepodsIdentity)


@SETTINGS
@hypothesis.given(mutated(_seeds("status")))
def test_fuzz_status_and_capabilities(text: str) -> None:
    parsed = _check(status.parse_status, text)
    if isinstance(parsed, status.ProcStatus):
        names = capabilities.decode_capabilities(parsed.cap_eff)
        assert len(names) == bin(parsed.cap_eff).count("1")
        assert isinstance(capabilities.is_privileged(parsed.cap_eff, parsed.cap_bnd), bool)


@SETTINGS
@hypothesis.given(mutated(_seeds("stat")))
def test_fuzz_stat(text: str) -> None:
    parsed = _check(stat.parse_stat, text)
    assert parsed is None or isinstance(parsed, stat.ProcStat)


@SETTINGS
@hypothesis.given(mutated(_seeds("idmap")), st.integers(-(2**33), 2**33))
def test_fuzz_id_map(text: str, inside: int) -> None:
    entries = _check(idmap.parse_id_map, text)
    if isinstance(entries, tuple):
        outside = idmap.map_to_host(entries, inside)
        assert outside is None or 0 <= outside < 2**33


@SETTINGS
@hypothesis.given(mutated(_seeds("memory_stat")))
def test_fuzz_memory_stat_v1(text: str) -> None:
    parsed = _check(memory_stat.parse_memory_stat_v1, text)
    assert parsed is None or (isinstance(parsed, memory_stat.MemoryStat) and parsed.anon >= 0)


@SETTINGS
@hypothesis.given(mutated(_seeds("memory_stat")))
def test_fuzz_memory_stat_v2(text: str) -> None:
    parsed = _check(memory_stat.parse_memory_stat_v2, text)
    assert parsed is None or (isinstance(parsed, memory_stat.MemoryStat) and parsed.file >= 0)


@SETTINGS
@hypothesis.given(mutated(_seeds("cgroup_values")), mutated(_seeds("cgroup_values")))
def test_fuzz_cgroup_values(text: str, other: str) -> None:
    for parse in (
        cgroup_values.parse_int_value,
        cgroup_values.parse_memory_limit_v1,
        cgroup_values.parse_memory_max_v2,
        cgroup_values.parse_cpu_max,
        cgroup_values.parse_pids_max,
    ):
        _check(parse, text)
    quota = _check(lambda quota_text: cgroup_values.parse_cfs_quota(quota_text, other), text)
    if isinstance(quota, cgroup_values.CpuQuota):
        assert quota.cores is None or quota.cores > 0


@SETTINGS
@hypothesis.given(mutated(_seeds("meminfo")))
def test_fuzz_meminfo(text: str) -> None:
    parsed = _check(meminfo.parse_meminfo, text)
    assert parsed is None or (isinstance(parsed, meminfo.MemInfo) and parsed.mem_total >= 0)


@SETTINGS
@hypothesis.given(mutated(_seeds("sysvipc")))
def test_fuzz_sysvipc(text: str) -> None:
    segments = _check(sysvipc.parse_sysvipc_shm, text)
    count = _check(sysvipc.parse_sysvipc_count, text)
    if isinstance(segments, tuple):
        assert count == len(segments)


@SETTINGS
@hypothesis.given(mutated(["net:[4026531840]", "cgroup:[4026531835]", "pid:[4026532455]\n"]))
def test_fuzz_ns_link(text: str) -> None:
    parsed = _check(nsfs.parse_ns_link, text)
    assert parsed is None or (isinstance(parsed, tuple) and parsed[1] >= 0)


@SETTINGS
@hypothesis.given(st.integers(-(2**70), 2**70), st.one_of(st.none(), st.integers(-(2**64), 2**64)))
def test_fuzz_capability_masks(mask: int, host: int | None) -> None:
    names = _check(capabilities.decode_capabilities, mask)  # type: ignore[arg-type]
    assert names is None or (isinstance(names, tuple) and len(names) == bin(mask).count("1"))
    assert isinstance(capabilities.is_privileged(mask, host), bool)
