"""Parser of /proc/meminfo (the node's `free` figures) in bytes; called by probe.host for the node report.

Format: ``Key:<spaces>value kB`` per line (fs/proc/meminfo.c); a few keys have no unit (HugePages_*
counts). Keys contain parentheses (``Active(anon)``). Values in kB are KiB; they are returned x 1024.

Version differences: ``MemAvailable`` exists since 3.14 (and in backports such as RHEL 7's 3.10); before
that it is absent and returned as None. ``Shmem`` exists since 2.6.32. Inside a container /proc/meminfo is
the host's unless LXCFS is mounted over it. Unknown keys are ignored.
"""

from __future__ import annotations

import dataclasses

from nsprobe.probe.parsers import _common, errors


@dataclasses.dataclass(frozen=True)
class MemInfo:
    """Bytes."""

    mem_total: int
    mem_free: int
    mem_available: int | None  # None before 3.14
    buffers: int
    cached: int
    shmem: int | None  # None before 2.6.32


def parse_meminfo_values(text: str) -> dict[str, int]:
    """All keys of /proc/meminfo; kB values converted to bytes, unit-less values as they are."""
    values: dict[str, int] = {}
    for number, line in enumerate(_common.lines(text), start=1):
        key, colon, rest = line.partition(":")
        parts = _common.fields(rest)
        if colon == "" or key == "" or len(parts) not in (1, 2) or (len(parts) == 2 and parts[1] != "kB"):
            raise errors.ParseError(
                f"/proc/meminfo line {number}: expected 'Key: value [kB]', got {_common.short(line)}"
            )
        if key in values:
            raise errors.ParseError(f"/proc/meminfo line {number}: duplicate key {_common.short(key)}")
        value = _common.to_uint(parts[0], what=f"/proc/meminfo {key}")
        values[key] = value * 1024 if len(parts) == 2 else value
    return values


def parse_meminfo(text: str) -> MemInfo:
    """Parse /proc/meminfo."""
    values = parse_meminfo_values(text)
    missing = [key for key in ("MemTotal", "MemFree", "Buffers", "Cached") if key not in values]
    if missing:
        raise errors.ParseError(f"/proc/meminfo: missing {', '.join(missing)}")
    return MemInfo(
        mem_total=values["MemTotal"],
        mem_free=values["MemFree"],
        mem_available=values.get("MemAvailable"),
        buffers=values["Buffers"],
        cached=values["Cached"],
        shmem=values.get("Shmem"),
    )
