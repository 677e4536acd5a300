"""Parser of /proc/<pid>/status (identity, capabilities, pid namespaces); called by probe.host.

Format: one ``Key:<TAB>value`` per line (fs/proc/array.c). Multi-value fields are tab-separated
(``Uid:\\t0\\t0\\t0\\t0`` = real, effective, saved, filesystem). Capability sets are 16 hex digits.

The Name value is the task's comm (at most 15 bytes); the kernel escapes newline and backslash in it, so
it never spans lines, but it may contain spaces, ':' and parentheses. It is returned as printed.

Fields by kernel version (absent fields are returned as None, never an error):
- ``CapAmb`` appeared in 4.3, ``NSpid`` in 4.1, ``NoNewPrivs`` in 4.10, ``Seccomp`` in 3.8 (and is
  missing when CONFIG_SECCOMP is off). ``Seccomp_filters`` (5.9) and ``Kthread`` (6.x) are not used.
- ``NSpid`` lists the pid in every pid namespace from the reader's own down to the task's, so its length
  depends on who reads: from the host a process in one nested pid namespace shows two numbers.
- Seccomp: 0 disabled, 1 strict, 2 filter.
"""

from __future__ import annotations

import dataclasses

from nsprobe.probe.parsers import _common, errors

_REQUIRED = ("Name", "Pid", "PPid", "Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd")


@dataclasses.dataclass(frozen=True)
class ProcStatus:
    """The fields of /proc/<pid>/status that nsprobe uses."""

    name: str
    pid: int
    ppid: int
    uids: tuple[int, int, int, int]  # real, effective, saved, filesystem
    gids: tuple[int, int, int, int]
    cap_inh: int
    cap_prm: int
    cap_eff: int
    cap_bnd: int
    cap_amb: int | None  # None before 4.3
    nspid: tuple[int, ...] | None  # None before 4.1
    no_new_privs: bool | None  # None before 4.10
    seccomp: int | None  # None before 3.8 or without CONFIG_SECCOMP


def _four_ids(value: str, *, what: str) -> tuple[int, int, int, int]:
    parts = _common.fields(value)
    if len(parts) != 4:
        raise errors.ParseError(f"{what}: expected 4 ids, got {_common.short(value)}")
    return (
        _common.to_uint(parts[0], what=what),
        _common.to_uint(parts[1], what=what),
        _common.to_uint(parts[2], what=what),
        _common.to_uint(parts[3], what=what),
    )


def parse_status(text: str) -> ProcStatus:
    """Parse /proc/<pid>/status."""
    values: dict[str, str] = {}
    for number, line in enumerate(_common.lines(text), start=1):
        key, colon, value = line.partition(":")
        if colon == "" or key == "":
            raise errors.ParseError(
                f"/proc/<pid>/status line {number}: expected 'Key: value', got {_common.short(line)}"
            )
        if key in values:
            raise errors.ParseError(f"/proc/<pid>/status line {number}: duplicate key {_common.short(key)}")
        # Name keeps its exact text after the one tab; other values are trimmed.
        values[key] = value[1:] if key == "Name" and value.startswith("\t") else value.strip(" \t")
    missing = [key for key in _REQUIRED if key not in values]
    if missing:
        raise errors.ParseError(f"/proc/<pid>/status: missing {', '.join(missing)}")

    def cap(key: str) -> int:
        return _common.to_hex(values[key], what=f"/proc/<pid>/status {key}")

    nspid: tuple[int, ...] | None = None
    if "NSpid" in values:
        parts = _common.fields(values["NSpid"])
        if not parts:
            raise errors.ParseError("/proc/<pid>/status NSpid: empty")
        nspid = tuple(_common.to_uint(part, what="/proc/<pid>/status NSpid") for part in parts)
    no_new_privs: bool | None = None
    if "NoNewPrivs" in values:
        flag = values["NoNewPrivs"]
        if flag not in ("0", "1"):
            raise errors.ParseError(
                f"/proc/<pid>/status NoNewPrivs: expected 0 or 1, got {_common.short(flag)}"
            )
        no_new_privs = flag == "1"
    seccomp: int | None = None
    if "Seccomp" in values:
        seccomp = _common.to_uint(values["Seccomp"], what="/proc/<pid>/status Seccomp")
    return ProcStatus(
        name=values["Name"],
        pid=_common.to_uint(values["Pid"], what="/proc/<pid>/status Pid"),
        ppid=_common.to_uint(values["PPid"], what="/proc/<pid>/status PPid"),
        uids=_four_ids(values["Uid"], what="/proc/<pid>/status Uid"),
        gids=_four_ids(values["Gid"], what="/proc/<pid>/status Gid"),
        cap_inh=cap("CapInh"),
        cap_prm=cap("CapPrm"),
        cap_eff=cap("CapEff"),
        cap_bnd=cap("CapBnd"),
        cap_amb=cap("CapAmb") if "CapAmb" in values else None,
        nspid=nspid,
        no_new_privs=no_new_privs,
        seccomp=seccomp,
    )
