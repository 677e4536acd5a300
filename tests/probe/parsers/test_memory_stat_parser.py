"""memory.stat: v1 (total_* preferred, rss already includes THP) and v2 mapped onto one MemoryStat."""

from __future__ import annotations

import pytest

from nsprobe.probe.parsers import errors, memory_stat
from tests.probe.parsers import fixture_files


def _v1(name: str) -> memory_stat.MemoryStat:
    return memory_stat.parse_memory_stat_v1(fixture_files.read("memory_stat", name))


def _raw(name: str) -> dict[str, int]:
    return memory_stat.parse_stat_lines(fixture_files.read("memory_stat", name), what=name)


def test_v1_container_leaf_with_tmpfs_and_shared_anon() -> None:
    stat = _v1("v1_container_shmem_heavy.txt")
    assert stat == memory_stat.MemoryStat(
        anon=7200768,
        file=157380608,
        active_file=86016,
        inactive_file=8192,
        shmem=157286400,
        mapped_file=104861696,
    )
    assert stat.shmem >= 150 * 1024 * 1024  # 100 MiB MAP_SHARED anon + 50 MiB tmpfs
    assert stat.file >= stat.shmem  # file includes shmem


def test_v1_pod_parent_uses_total_counters_not_the_zero_local_ones() -> None:
    raw = _raw("v1_pod_parent.txt")
    assert raw["rss"] == raw["cache"] == 0
    stat = _v1("v1_pod_parent.txt")
    assert (stat.anon, stat.file, stat.shmem) == (raw["total_rss"], raw["total_cache"], raw["total_shmem"])
    assert stat.anon > 0 and stat.file > 0


def test_v1_anon_is_rss_which_already_includes_transparent_hugepages() -> None:
    raw = _raw("v1_thp_anon_and_page_cache.txt")
    assert raw["total_rss_huge"] == 128 * 1024 * 1024
    assert raw["total_rss"] > raw["total_rss_huge"]
    stat = _v1("v1_thp_anon_and_page_cache.txt")
    assert stat.anon == raw["total_rss"]  # not rss + rss_huge
    assert stat.inactive_file == raw["total_inactive_file"]
    assert stat.mapped_file == raw["total_mapped_file"]


def test_v1_falls_back_to_local_keys_and_reports_missing_shmem() -> None:
    text = "cache 4096\nrss 8192\nmapped_file 0\ninactive_file 4096\nactive_file 0\n"  # 3.10-style key set
    stat = memory_stat.parse_memory_stat_v1(text)
    assert (stat.anon, stat.file, stat.shmem, stat.absent) == (8192, 4096, 0, ("shmem",))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "v2_kernel_5_x_shmem_container.txt",
            memory_stat.MemoryStat(
                anon=3108864, file=2297856, active_file=0, inactive_file=0, shmem=2297856, mapped_file=2297856
            ),
        ),
        (
            "v2_kernel_5_2_oom_dump.txt",
            memory_stat.MemoryStat(anon=0, file=0, active_file=0, inactive_file=0, shmem=0, mapped_file=0),
        ),
    ],
)
def test_v2_public_captures(name: str, expected: memory_stat.MemoryStat) -> None:
    assert memory_stat.parse_memory_stat_v2(fixture_files.read("memory_stat", name)) == expected


def test_v2_takes_file_mapped_not_mapped_file() -> None:
    text = "anon 1\nfile 2\nshmem 3\nfile_mapped 4\nactive_file 5\ninactive_file 6\nmapped_file 99\n"
    assert memory_stat.parse_memory_stat_v2(text).mapped_file == 4


def test_v1_text_is_not_accepted_as_v2_and_vice_versa() -> None:
    with pytest.raises(errors.ParseError, match="anon"):
        memory_stat.parse_memory_stat_v2(fixture_files.read("memory_stat", "v1_pod_parent.txt"))
    with pytest.raises(errors.ParseError, match="rss"):
        memory_stat.parse_memory_stat_v1(fixture_files.read("memory_stat", "v2_kernel_5_2_oom_dump.txt"))


@pytest.mark.parametrize(
    "text",
    ["anon 1 2\n", "anon x\n", "anon -1\n", "anon 1\nanon 2\n", "anon\n", "\n"],
)
def test_malformed_lines_raise_parse_error(text: str) -> None:
    with pytest.raises(errors.ParseError):
        memory_stat.parse_memory_stat_v2(text)
