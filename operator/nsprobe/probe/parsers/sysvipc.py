"""Parsers of /proc/sysvipc/shm, msg and sem (System V IPC objects of an IPC namespace); called by probe.host.

Each file is one header line naming the columns, then one line per object, columns separated by runs of
spaces (ipc/shm.c sysvipc_shm_proc_show, ipc/msg.c, ipc/sem.c). The files show the objects of the
READER's IPC namespace, so the caller must read them through a process inside the namespace it wants.

Columns differ across kernels and must be located by header name:
- shm: ``key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime``; ``rss swap`` were
  appended in 2.6.x-3.x; widths differ between 32- and 64-bit kernels (size is %21lu on 64-bit).
- msg: ``key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid stime rtime ctime``.
- sem: ``key semid perms nsems uid gid cuid cgid otime ctime``.
The key is printed signed (``%10d``), so keys >= 2**31 appear negative; IPC_PRIVATE is 0.
"""

from __future__ import annotations

import dataclasses

from nsprobe.probe.parsers import _common, errors


@dataclasses.dataclass(frozen=True)
class ShmSegment:
    key: int
    shmid: int
    size: int  # bytes
    cpid: int
    nattch: int
    uid: int


def _table(text: str, *, what: str, required: tuple[str, ...]) -> tuple[dict[str, int], list[list[str]]]:
    all_lines = _common.lines(text)
    if not all_lines:
        raise errors.ParseError(f"{what}: empty file, expected a header line")
    header = _common.fields(all_lines[0])
    if not header or header[0] != "key":
        raise errors.ParseError(
            f"{what}: expected a header starting with 'key', got {_common.short(all_lines[0])}"
        )
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        if name in columns:
            raise errors.ParseError(f"{what}: duplicate column {_common.short(name)} in the header")
        columns[name] = index
    missing = [name for name in required if name not in columns]
    if missing:
        raise errors.ParseError(f"{what}: header lacks column(s) {', '.join(missing)}")
    rows = []
    for number, line in enumerate(all_lines[1:], start=2):
        row = _common.fields(line)
        if len(row) != len(header):
            raise errors.ParseError(
                f"{what} line {number}: expected {len(header)} columns, "
                f"got {len(row)} in {_common.short(line)}"
            )
        rows.append(row)
    return columns, rows


def parse_sysvipc_shm(text: str) -> tuple[ShmSegment, ...]:
    """Parse /proc/sysvipc/shm."""
    what = "/proc/sysvipc/shm"
    columns, rows = _table(text, what=what, required=("key", "shmid", "size", "cpid", "nattch", "uid"))
    segments = []
    for row in rows:
        segments.append(
            ShmSegment(
                key=_common.to_int(row[columns["key"]], what=f"{what} key"),
                shmid=_common.to_uint(row[columns["shmid"]], what=f"{what} shmid"),
                size=_common.to_uint(row[columns["size"]], what=f"{what} size"),
                cpid=_common.to_uint(row[columns["cpid"]], what=f"{what} cpid"),
                nattch=_common.to_uint(row[columns["nattch"]], what=f"{what} nattch"),
                uid=_common.to_uint(row[columns["uid"]], what=f"{what} uid"),
            )
        )
    return tuple(segments)


def parse_sysvipc_count(text: str) -> int:
    """Number of objects in /proc/sysvipc/msg or /proc/sysvipc/sem (or shm)."""
    _, rows = _table(text, what="/proc/sysvipc", required=("key",))
    return len(rows)
