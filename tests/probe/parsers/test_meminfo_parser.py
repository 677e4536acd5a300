"""/proc/meminfo: kB to bytes, unit-less keys, MemAvailable absent on old kernels."""

from __future__ import annotations

import pytest

from nsprobe.probe.parsers import errors, meminfo
from tests.probe.parsers import fixture_files


def test_this_vm_meminfo_in_bytes() -> None:
    text = fixture_files.read("meminfo", "host_6_18.txt")
    parsed = meminfo.parse_meminfo(text)
    total_kb = int(text.splitlines()[0].split()[1])
    assert parsed.mem_total == total_kb * 1024
    assert parsed.mem_available is not None and 0 < parsed.mem_available <= parsed.mem_total
    assert parsed.shmem is not None


def test_public_3_14_plus_meminfo() -> None:
    parsed = meminfo.parse_meminfo(fixture_files.read("meminfo", "kernel_3_14_plus_with_memavailable.txt"))
    assert parsed == meminfo.MemInfo(
        mem_total=16268680 * 1024,
        mem_free=349408 * 1024,
        mem_available=8366284 * 1024,
        buffers=534320 * 1024,
        cached=7107356 * 1024,
        shmem=14116 * 1024,
    )


def test_unitless_hugepage_counts_are_not_scaled() -> None:
    values = meminfo.parse_meminfo_values(
        fixture_files.read("meminfo", "kernel_3_14_plus_with_memavailable.txt")
    )
    assert values["HugePages_Total"] == 0
    assert values["Hugepagesize"] == 2048 * 1024


def test_meminfo_without_memavailable_gives_none() -> None:
    parsed = meminfo.parse_meminfo(fixture_files.read("meminfo", "no_memavailable_excerpt.txt"))
    assert parsed.mem_available is None
    assert (parsed.cached, parsed.buffers, parsed.shmem) == (120284 * 1024, 0, 350868 * 1024)


@pytest.mark.parametrize(
    "text",
    [
        "MemTotal: 1 kB\nMemFree: 1 kB\nBuffers: 1 kB\n",  # no Cached
        "MemTotal: 1 MB\nMemFree: 1 kB\nBuffers: 1 kB\nCached: 1 kB\n",
        "MemTotal 1 kB\n",
        "MemTotal: x kB\n",
        "MemTotal: 1 kB\nMemTotal: 2 kB\n",
        "",
    ],
)
def test_malformed_meminfo_raises_parse_error(text: str) -> None:
    with pytest.raises(errors.ParseError):
        meminfo.parse_meminfo(text)
