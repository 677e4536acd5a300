"""Parsers of single-value cgroup control files (limits, quotas); called by probe.host for pod limits.

Files and their "no limit" spellings:

- v1 ``memory.limit_in_bytes``: bytes; unlimited is PAGE_COUNTER_MAX in pages times the page size,
  i.e. 9223372036854771712 with 4 KiB pages (LONG_MAX rounded down to a page), and other values on
  other page sizes (64 KiB pages: 9223372036854710272). Any value >= 2**62 is taken as unlimited.
- v2 ``memory.max`` (and memory.high, memory.swap.max): bytes or the word ``max``.
- v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``: microseconds; quota ``-1`` means no quota. The default
  period is 100000.
- v2 ``cpu.max``: ``$MAX $PERIOD`` on one line, ``max 100000`` by default; a missing file (root
  cgroup) is the caller's business.
- ``pids.max`` (v1 and v2): a count or ``max``.
"""

from __future__ import annotations

import dataclasses

from nsprobe.probe.parsers import _common, errors

V1_UNLIMITED_THRESHOLD = 2**62


@dataclasses.dataclass(frozen=True)
class CpuQuota:
    quota_us: int | None  # None: no quota
    period_us: int

    @property
    def cores(self) -> float | None:
        """The quota as a number of CPUs (150000/100000 -> 1.5), None without a quota."""
        if self.quota_us is None:
            return None
        return self.quota_us / self.period_us


def parse_int_value(text: str) -> int:
    """A control file holding one (possibly negative) integer, e.g. memory.usage_in_bytes."""
    return _common.to_int(_common.single_value(text, what="cgroup value"), what="cgroup value")


def parse_memory_limit_v1(text: str) -> int | None:
    """memory.limit_in_bytes: bytes, or None for the unlimited sentinel (>= 2**62)."""
    value = _common.to_uint(
        _common.single_value(text, what="memory.limit_in_bytes"), what="memory.limit_in_bytes"
    )
    return None if value >= V1_UNLIMITED_THRESHOLD else value


def parse_memory_max_v2(text: str) -> int | None:
    """memory.max: bytes, or None for "max"."""
    value = _common.single_value(text, what="memory.max")
    if value == "max":
        return None
    return _common.to_uint(value, what="memory.max")


def _period(value: str, *, what: str) -> int:
    period = _common.to_uint(value, what=what)
    if period == 0:
        raise errors.ParseError(f"{what}: the period must not be 0")
    return period


def parse_cfs_quota(quota_text: str, period_text: str) -> CpuQuota:
    """cpu.cfs_quota_us and cpu.cfs_period_us (v1); quota -1 means no quota."""
    quota = _common.to_int(_common.single_value(quota_text, what="cpu.cfs_quota_us"), what="cpu.cfs_quota_us")
    period = _period(_common.single_value(period_text, what="cpu.cfs_period_us"), what="cpu.cfs_period_us")
    if quota == -1:
        return CpuQuota(quota_us=None, period_us=period)
    if quota <= 0:
        raise errors.ParseError(f"cpu.cfs_quota_us: expected -1 or a positive number, got {quota}")
    return CpuQuota(quota_us=quota, period_us=period)


def parse_cpu_max(text: str) -> CpuQuota:
    """cpu.max (v2): '$MAX $PERIOD', with 'max' for no quota."""
    parts = _common.fields(_common.single_value(text, what="cpu.max"))
    if len(parts) != 2:
        raise errors.ParseError(f"cpu.max: expected '$MAX $PERIOD', got {_common.short(text)}")
    period = _period(parts[1], what="cpu.max period")
    if parts[0] == "max":
        return CpuQuota(quota_us=None, period_us=period)
    quota = _common.to_uint(parts[0], what="cpu.max quota")
    if quota == 0:
        raise errors.ParseError("cpu.max: the quota must not be 0")
    return CpuQuota(quota_us=quota, period_us=period)


def parse_pids_max(text: str) -> int | None:
    """pids.max: a count, or None for "max"."""
    value = _common.single_value(text, what="pids.max")
    if value == "max":
        return None
    return _common.to_uint(value, what="pids.max")


def parse_pid_list(text: str) -> tuple[int, ...]:
    """cgroup.procs: one pid per line (thread-group ids of the cgroup's own members, not descendants)."""
    return tuple(_common.to_uint(line, what="cgroup.procs") for line in _common.lines(text) if line)
