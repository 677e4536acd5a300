"""Parser of /proc/<pid>/cgroup (which cgroup a process is in); called by probe.host for discovery.

Format (cgroups(7)), one line per hierarchy::

    hierarchy-ID:controller-list:cgroup-path

- cgroup v1 hierarchies have an id >= 1 and a comma-separated controller list, e.g. ``4:memory:/kubepods/..``
  or ``9:cpuacct,cpu:/..``; named hierarchies without controllers show ``name=<n>`` there
  (``1:name=systemd:/..``).
- cgroup v2 is the single line ``0::/path`` with an empty controller list. On a pure v2 host it is the
  only line; on hybrid hosts it comes last, after the v1 lines (this VM); pure v1 hosts (e.g. kernel 3.10
  or a kernel without a mounted cgroup2) have no ``0::`` line at all.
- The path may itself contain ':' (containerd in cgroupfs mode with systemd-style names writes
  ``kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>`` as one directory), so a line is split at
  most twice.
- Paths are relative to the reader's cgroup namespace root (4.6+): a process outside that root shows
  ``/../..`` style paths, and inside a container with its own cgroup namespace the path is often ``/``.
- On v2, a process whose cgroup has been removed (a zombie) shows the path with `` (deleted)`` appended;
  that suffix is stripped and reported as ``deleted=True``.
"""

from __future__ import annotations

import dataclasses

from nsprobe.probe.parsers import _common, errors

_DELETED = " (deleted)"


@dataclasses.dataclass(frozen=True)
class CgroupEntry:
    """One line of /proc/<pid>/cgroup."""

    hierarchy_id: int
    controllers: tuple[str, ...]  # () for the v2 line; ("name=systemd",) for a named v1 hierarchy
    path: str
    deleted: bool = False  # v2 only: the cgroup was removed (" (deleted)" suffix)

    @property
    def is_v2(self) -> bool:
        return self.hierarchy_id == 0 and self.controllers == ()


def parse_proc_cgroup(text: str) -> tuple[CgroupEntry, ...]:
    """Parse /proc/<pid>/cgroup; an empty text gives ()."""
    entries = []
    for number, line in enumerate(_common.lines(text), start=1):
        where = f"/proc/<pid>/cgroup line {number}"
        parts = line.split(":", 2)
        if len(parts) != 3:
            raise errors.ParseError(f"{where}: expected 'id:controllers:path', got {_common.short(line)}")
        hierarchy_id = _common.to_uint(parts[0], what=f"{where}: hierarchy id")
        controllers = tuple(parts[1].split(",")) if parts[1] else ()
        if any(controller == "" for controller in controllers):
            raise errors.ParseError(f"{where}: empty controller name in {_common.short(parts[1])}")
        path = parts[2]
        if not path.startswith("/"):
            raise errors.ParseError(f"{where}: expected an absolute cgroup path, got {_common.short(path)}")
        deleted = False
        if hierarchy_id == 0 and path.endswith(_DELETED):
            path = path[: -len(_DELETED)]
            deleted = True
        entries.append(
            CgroupEntry(hierarchy_id=hierarchy_id, controllers=controllers, path=path, deleted=deleted)
        )
    return tuple(entries)
