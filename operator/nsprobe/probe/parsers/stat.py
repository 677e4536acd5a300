"""Parser of /proc/<pid>/stat (state, parent, start time); called by probe.host to pin a pid's identity.

Format (proc(5)): ``pid (comm) state ppid pgrp session ... starttime ...``, space-separated, 52 fields on
current kernels (fewer on old ones: 44 in 2.6.32, growing since). comm is up to 15 bytes and may
itself contain spaces and parentheses (``8698 (a) b (c)) S ...`` is real output), so the text is split
at the first " (" and the LAST ")". starttime is field 22: clock ticks after boot (USER_HZ, 100 on
every mainstream architecture), constant for the life of a process, which makes (pid, starttime) a
stable identity across pid reuse. Fields up to 22 exist on every 2.6+ kernel.
"""

from __future__ import annotations

import dataclasses

from nsprobe.probe.parsers import _common, errors

# State letters (fs/proc/array.c task_state_array; W/X/x/K/P vary by version).
_STATES = frozenset("RSDTtZXxKWPI")


@dataclasses.dataclass(frozen=True)
class ProcStat:
    pid: int
    comm: str
    state: str
    ppid: int
    start_time_ticks: int


def parse_stat(text: str) -> ProcStat:
    """Parse /proc/<pid>/stat."""
    body = text[:-1] if text.endswith("\n") else text
    open_at = body.find(" (")
    close_at = body.rfind(")")
    if open_at <= 0 or close_at < open_at + 1:
        raise errors.ParseError(f"/proc/<pid>/stat: expected 'pid (comm) ...', got {_common.short(text)}")
    pid = _common.to_uint(body[:open_at], what="/proc/<pid>/stat pid")
    comm = body[open_at + 2 : close_at]
    rest = body[close_at + 1 :]
    if not rest.startswith(" "):
        raise errors.ParseError(f"/proc/<pid>/stat: expected a space after comm, got {_common.short(rest)}")
    fields = rest[1:].split(" ")
    # fields[0] is field 3 (state), so field n is fields[n - 3].
    if len(fields) < 20:
        raise errors.ParseError(f"/proc/<pid>/stat: expected at least 22 fields, got {len(fields) + 2}")
    state = fields[0]
    if state not in _STATES:
        raise errors.ParseError(f"/proc/<pid>/stat: unknown state {_common.short(state)}")
    return ProcStat(
        pid=pid,
        comm=comm,
        state=state,
        ppid=_common.to_uint(fields[1], what="/proc/<pid>/stat ppid"),
        start_time_ticks=_common.to_uint(fields[19], what="/proc/<pid>/stat starttime"),
    )
