"""Parser of namespace link targets (readlink /proc/<pid>/ns/<type>); called by probe.host.

The target of each /proc/<pid>/ns/* symlink is ``<type>:[<inode>]``, e.g. ``net:[4026531840]``
(ns_get_name in fs/nsfs.c). Two processes share a namespace exactly when type and inode are equal.
Types: cgroup (4.6+), ipc, mnt, net, pid, time (5.6+), user, uts. The ``pid_for_children`` and
``time_for_children`` links show ``pid:[..]`` and ``time:[..]``; a ``pid_for_children`` link of a
process whose children's namespace does not exist yet cannot be read at all. Initial namespaces have
fixed inodes on 3.8+ kernels (net:[4026531840] here), but nsprobe compares with a host reference process.
"""

from __future__ import annotations

import re

from nsprobe.probe.parsers import _common, errors

_LINK = re.compile(r"([a-z_]{1,32}):\[([0-9]{1,20})\]", re.ASCII)


def parse_ns_link(target: str) -> tuple[str, int]:
    """('net', 4026531840) for 'net:[4026531840]'."""
    value = target[:-1] if target.endswith("\n") else target
    match = _LINK.fullmatch(value)
    if match is None:
        raise errors.ParseError(f"namespace link: expected 'type:[inode]', got {_common.short(target)}")
    return match.group(1), int(match.group(2))
