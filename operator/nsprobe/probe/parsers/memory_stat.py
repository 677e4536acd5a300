"""Parser of a memory cgroup's memory.stat (v1 and v2) into one shape; called by probe.host for pods.

Both versions print ``key value`` lines with values in bytes (page counts were converted by the kernel),
but the keys differ:

cgroup v1 (Documentation/admin-guide/cgroup-v1/memory.rst, 5.2): local counters (``cache``, ``rss``,
``rss_huge``, ``shmem``, ``mapped_file``, ``active_file``, ``inactive_file`` ...) for this cgroup's own
pages, then ``hierarchical_*`` limits, then ``total_<key>`` for the whole subtree. The kubelet's pod and
QoS cgroups hold no processes, so their local counters are 0 and only ``total_*`` is meaningful (real
capture in tests/probe/fixtures/memory_stat/v1_pod_parent.txt); ``total_*`` is therefore preferred and
the local key is the fallback. Mapping:

- anon = total_rss. The documentation says rss "includes transparent hugepages" and rss_huge is the THP
  part of it; the capture on kernel 6.18 confirms rss (208654336) > rss_huge (134217728). Adding
  rss_huge would count THP twice. (Only kernels before 3.x-era THP accounting reported them apart.)
- file = total_cache (page cache including shmem/tmpfs, like v2 ``file``).
- shmem = total_shmem. v1 only has this key since 4.x; on older kernels it is absent: reported as 0 with
  "shmem" listed in ``absent``.
- mapped_file = total_mapped_file; active_file / inactive_file = total_active_file / total_inactive_file.

cgroup v2 (Documentation/admin-guide/cgroup-v2.rst, memory.stat): always hierarchical, no prefix.
anon, file, shmem, active_file, inactive_file are used as they are; ``file_mapped`` becomes mapped_file.
``shmem`` appeared in v2 memory.stat in 4.18-ish kernels; when absent it is 0 and listed in ``absent``.
Keys are added in most releases (anon_thp, slab_*, workingset_*, zswap, ...) and unknown keys are ignored.
"""

from __future__ import annotations

import dataclasses
import re

from nsprobe.probe.parsers import _common, errors


@dataclasses.dataclass(frozen=True)
class MemoryStat:
    """Bytes. file includes shmem in both versions."""

    anon: int
    file: int
    active_file: int
    inactive_file: int
    shmem: int
    mapped_file: int
    absent: tuple[str, ...] = ()  # fields this kernel does not report (given as 0), e.g. ("shmem",)


_V1_KEYS = frozenset(
    f"{prefix}{key}"
    for prefix in ("", "total_")
    for key in ("rss", "cache", "active_file", "inactive_file", "shmem", "mapped_file")
)
_V2_KEYS = frozenset({"anon", "file", "active_file", "inactive_file", "shmem", "file_mapped"})
_KEY_LINE_PATTERNS: dict[frozenset[str], re.Pattern[str]] = {}


def _key_lines(keys: frozenset[str]) -> re.Pattern[str]:
    pattern = _KEY_LINE_PATTERNS.get(keys)
    if pattern is None:
        alternatives = "|".join(sorted(map(re.escape, keys)))
        pattern = re.compile(rf"^({alternatives})[ \t]+([^\n]*?)[ \t]*$", re.MULTILINE)
        _KEY_LINE_PATTERNS[keys] = pattern
    return pattern


def parse_stat_lines(text: str, *, what: str, keys: frozenset[str] | None = None) -> dict[str, int]:
    """The ``key value`` lines of a cgroup stat file as a dict; duplicate keys are an error.

    With ``keys``, only those lines are converted and checked: memory.stat has 40-60 lines and is read
    for every container on every scan, and the others are not used.
    """
    values: dict[str, int] = {}
    if keys is not None:
        # One regex pass over the file finds just the wanted lines; the rest is never split or converted.
        for key, value in _key_lines(keys).findall(text):
            if key in values:
                raise errors.ParseError(f"{what}: duplicate key {_common.short(key)}")
            values[key] = _common.to_uint(value, what=f"{what} {key}")
        return values
    for number, line in enumerate(_common.lines(text), start=1):
        parts = _common.fields(line)
        if len(parts) != 2:
            raise errors.ParseError(f"{what} line {number}: expected 'key value', got {_common.short(line)}")
        key, value = parts
        if key in values:
            raise errors.ParseError(f"{what} line {number}: duplicate key {_common.short(key)}")
        values[key] = _common.to_uint(value, what=f"{what} {key}")
    return values


def parse_memory_stat_v1(text: str) -> MemoryStat:
    """Parse a cgroup v1 memory.stat, preferring the hierarchical total_* counters."""
    values = parse_stat_lines(text, what="memory.stat (v1)", keys=_V1_KEYS)
    absent: list[str] = []

    def pick(key: str, *, required: bool = True) -> int:
        for name in (f"total_{key}", key):
            if name in values:
                return values[name]
        if required:
            raise errors.ParseError(f"memory.stat (v1): missing {key!r} (and total_{key})")
        absent.append(key)
        return 0

    return MemoryStat(
        anon=pick("rss"),
        file=pick("cache"),
        active_file=pick("active_file"),
        inactive_file=pick("inactive_file"),
        shmem=pick("shmem", required=False),
        mapped_file=pick("mapped_file"),
        absent=tuple(absent),
    )


def parse_memory_stat_v2(text: str) -> MemoryStat:
    """Parse a cgroup v2 memory.stat."""
    values = parse_stat_lines(text, what="memory.stat (v2)", keys=_V2_KEYS)
    absent: list[str] = []

    def pick(key: str, *, required: bool = True) -> int:
        if key in values:
            return values[key]
        if required:
            raise errors.ParseError(f"memory.stat (v2): missing {key!r}")
        absent.append(key)
        return 0

    return MemoryStat(
        anon=pick("anon"),
        file=pick("file"),
        active_file=pick("active_file"),
        inactive_file=pick("inactive_file"),
        shmem=pick("shmem", required=False),
        mapped_file=pick("file_mapped"),
        absent=tuple(absent),
    )
