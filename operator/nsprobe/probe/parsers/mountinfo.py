"""Parser of /proc/<pid>/mountinfo and the mount-table queries on it; called by probe.host and the scanner.

Format (proc(5), Documentation/filesystems/proc.rst "3.5 /proc/<pid>/mountinfo"), one mount per line::

    36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
    (1)(2) (3)   (4)   (5)      (6)     (7)   (8)  (9)    (10)        (11)

1 mount id, 2 parent id, 3 major:minor of st_dev, 4 root of the mount inside its filesystem, 5 mount
point relative to the reader's root, 6 per-mount options, 7 zero or more optional fields (``shared:N``,
``master:N``, ``propagate_from:N``, ``unbindable``), 8 the separator ``-``, 9 filesystem type
(``type.subtype`` for FUSE), 10 source, 11 per-superblock options.

Fields are separated by exactly one space. The kernel escapes space, tab, newline and backslash in
paths, source and options as a backslash and three octal digits (``\\040``, ``\\011``, ``\\012``,
``\\134``), so a plain split on " " is exact. An empty source (``mount -t tmpfs "" /mnt``) shows as an
empty field, i.e. two spaces in a row; it is kept as "".

Differences that matter:
- Optional fields appeared with shared subtrees (2.6.26). Their number varies (0 on this VM's host, 1-2
  inside containers); parsers must find the separator rather than count fields.
- The file lists only mounts reachable from the reader's root. A process under a plain ``chroot`` with no
  mount namespace of its own gets an EMPTY file (checked on kernel 6.18); an empty text parses to ().
- Mount ids are unique within a namespace but are not sorted by age; file order is mount order, so among
  mounts stacked on the same mount point the last line is on top.
- The source field is "none" for many pseudo filesystems on older kernels and whatever the mounter passed
  on newer ones (e.g. "tmpfs", "shm", "overlay").
- cgroup v1 hierarchies are fstype "cgroup" with the controllers in the superblock options (``rw,memory``,
  ``rw,cpu,cpuacct``, ``rw,name=systemd``); cgroup v2 is fstype "cgroup2" with no controller names.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Sequence

from nsprobe.probe.parsers import _common, errors

CgroupLayout = typing.Literal["v1", "v2", "hybrid", "none"]

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})", re.ASCII)
_DEVICE = re.compile(r"([0-9]{1,10}):([0-9]{1,10})", re.ASCII)

# cgroup v1 controllers as they appear in superblock options (kernel/cgroup/*.c subsys names).
V1_CONTROLLERS = frozenset(
    {
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "io",
        "pids",
        "net_cls",
        "net_prio",
        "perf_event",
        "hugetlb",
        "rdma",
        "misc",
        "debug",
    }
)


@dataclasses.dataclass(frozen=True)
class Mount:
    """One line of mountinfo, with paths and source octal-decoded."""

    mount_id: int
    parent_id: int
    major: int
    minor: int
    root: str
    mount_point: str
    options: tuple[str, ...]
    fstype: str
    source: str
    super_options: tuple[str, ...]
    optional_fields: tuple[str, ...] = ()  # shared:N, master:N, ... (kept for callers that care)


def decode_octal(value: str) -> str:
    """Undo the kernel's mangling: each backslash + three octal digits (<= \\377) becomes that character.

    A backslash not followed by three octal digits is kept as it is (the kernel never writes one).
    """
    if "\\" not in value:
        return value

    def _replace(match: re.Match[str]) -> str:
        code = int(match.group(1), 8)
        if code > 0o377:
            return match.group(0)
        return chr(code)

    return _OCTAL_ESCAPE.sub(_replace, value)


def _options(value: str) -> tuple[str, ...]:
    if value == "":
        return ()
    return tuple(decode_octal(option) for option in value.split(","))


def _parse_line(line: str, number: int) -> Mount:
    where = f"mountinfo line {number}"
    parts = line.split(" ")
    try:
        separator = parts.index("-", 6)
    except ValueError:
        raise errors.ParseError(
            f"{where}: no ' - ' separator after the six fixed fields in {_common.short(line)}"
        ) from None
    tail = parts[separator + 1 :]
    if len(tail) < 3:
        raise errors.ParseError(
            f"{where}: expected fstype, source and options after ' - ', got {_common.short(line)}"
        )
    device = _DEVICE.fullmatch(parts[2])
    if device is None:
        raise errors.ParseError(f"{where}: expected major:minor, got {_common.short(parts[2])}")
    root = decode_octal(parts[3])
    mount_point = decode_octal(parts[4])
    if root == "" or mount_point == "":
        raise errors.ParseError(f"{where}: empty root or mount point in {_common.short(line)}")
    if tail[0] == "":
        raise errors.ParseError(f"{where}: empty filesystem type in {_common.short(line)}")
    return Mount(
        mount_id=_common.to_uint(parts[0], what=f"{where}: mount id"),
        parent_id=_common.to_uint(parts[1], what=f"{where}: parent id"),
        major=int(device.group(1)),
        minor=int(device.group(2)),
        root=root,
        mount_point=mount_point,
        options=_options(parts[5]),
        fstype=decode_octal(tail[0]),
        source=decode_octal(tail[1]),
        # Escaped spaces never split the options; if a kernel bug left a raw space, keep the rest whole.
        super_options=_options(" ".join(tail[2:])),
        optional_fields=tuple(parts[6:separator]),
    )


def parse_mountinfo(text: str) -> tuple[Mount, ...]:
    """Parse a whole mountinfo file. An empty text (a chroot'ed process) gives ()."""
    mounts = []
    for number, line in enumerate(_common.lines(text), start=1):
        if line == "":
            raise errors.ParseError(f"mountinfo line {number}: empty line")
        mounts.append(_parse_line(line, number))
    return tuple(mounts)


def _normalize(path: str) -> str:
    if not path.startswith("/"):
        raise errors.ParseError(f"find_mount_for: expected an absolute path, got {_common.short(path)}")
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return "/" + "/".join(parts)


def _is_under(path: str, mount_point: str) -> bool:
    """True when mount_point is path or a whole-component prefix of it (/tmpx is not under /tmp)."""
    if mount_point == "/" or path == mount_point:
        return True
    return path.startswith(mount_point.rstrip("/") + "/")


def _prefixes(path: str) -> list[str]:
    """/, /a, /a/b for /a/b."""
    result = ["/"]
    current = ""
    for part in path.split("/"):
        if part:
            current += "/" + part
            result.append(current)
    return result


def _walk(mounts: Sequence[Mount], path: str) -> Mount | None:
    """Follow the mount tree as path lookup does; None when the table has no usable root mount."""
    ids = {mount.mount_id for mount in mounts}
    roots = [
        m for m in mounts if m.mount_point == "/" and (m.parent_id not in ids or m.parent_id == m.mount_id)
    ]
    if not roots:
        return None
    children: dict[tuple[int, str], Mount] = {}
    for mount in mounts:
        if mount.parent_id != mount.mount_id:
            children[(mount.parent_id, mount.mount_point)] = mount  # the last in file order wins
    current = roots[-1]
    seen = {current.mount_id}
    for prefix in _prefixes(path):
        if not _is_under(prefix, current.mount_point):
            continue
        # Climb the stack of mounts on this exact point (each is the child of the one beneath it).
        while (child := children.get((current.mount_id, prefix))) is not None and child.mount_id not in seen:
            seen.add(child.mount_id)
            current = child
    return current


def find_mount_for(mounts: Sequence[Mount], path: str) -> Mount | None:
    """The mount that holds path (e.g. '/tmp'), or None when no mount covers it.

    Rule: the longest whole-component prefix match; among mounts on the same mount point the last in file
    order (it is on top). When the table has a root mount, the answer is refined by walking the mount
    tree by parent ids as the kernel's path lookup does, so a mount hidden under a later mount on one of
    its parent directories (mount /tmp/a, then mount over /tmp) is never returned. Tables without a root
    (e.g. from a process chroot'ed inside its mount namespace) use the plain prefix rule.
    """
    target = _normalize(path)
    walked = _walk(mounts, target)
    if walked is not None:
        return walked
    best: Mount | None = None
    for mount in mounts:
        if _is_under(target, mount.mount_point) and (
            best is None or len(mount.mount_point.rstrip("/")) >= len(best.mount_point.rstrip("/"))
        ):
            best = mount
    return best


def cgroup_layout(mounts: Sequence[Mount]) -> CgroupLayout:
    """Which cgroup versions are mounted: v1 (controllers on v1 only), v2, hybrid (both) or none.

    A v1 hierarchy counts only when it carries a controller; a name-only hierarchy such as name=systemd
    next to cgroup2 is still a v2 host for resource accounting.
    """
    has_v1 = any(
        mount.fstype == "cgroup" and any(option in V1_CONTROLLERS for option in mount.super_options)
        for mount in mounts
    )
    has_v2 = any(mount.fstype == "cgroup2" for mount in mounts)
    if has_v1 and has_v2:
        return "hybrid"
    if has_v1:
        return "v1"
    if has_v2:
        return "v2"
    return "none"
