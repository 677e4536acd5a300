"""Pure report assembly: turns parsed kernel facts into report sections. Called by probe.scanner."""

from __future__ import annotations

import collections.abc

from nsprobe.probe import model
from nsprobe.probe.parsers import capabilities, cgroup_values, idmap, memory_stat, mountinfo

_EMPTY_DIR_MARK = "kubernetes.io~empty-dir"
_POD_VOLUME_MARK = "/volumes/"
_MEMORY_FSTYPES = frozenset({"tmpfs", "ramfs"})
MiB = 1024 * 1024


def classify_tmp(
    mount: mountinfo.Mount,
    *,
    size_bytes: int | model.Unknown,
    used_bytes: int | model.Unknown,
) -> model.TmpReport:
    """Say what backs /tmp, given the mount that holds it (found by longest prefix)."""
    backing: model.TmpBacking
    in_memory = mount.fstype in _MEMORY_FSTYPES
    if _EMPTY_DIR_MARK in mount.root:
        backing = "emptydir-memory" if in_memory else "emptydir-disk"
    elif in_memory:
        backing = "tmpfs"
    elif mount.mount_point == "/":
        # The seed's case: /tmp is no mount of its own and lives on the (overlay) root, on node disk.
        backing = "container-rootfs"
    elif _POD_VOLUME_MARK in mount.root and "/pods/" in mount.root:
        backing = "other"  # a pod volume of another plugin (PVC, CSI): not the node's own disk tree
    elif mount.root != "/":
        backing = "hostpath"  # a bind of a directory of the node's own filesystem
    else:
        backing = "other"
    return model.TmpReport(
        backing=backing,
        fstype=mount.fstype,
        source=mount.source,
        mount_point=mount.mount_point,
        size_bytes=size_bytes,
        used_bytes=used_bytes,
        counts_against_memory_limit=in_memory,
    )


def build_memory(
    stat: memory_stat.MemoryStat,
    *,
    cgroup_version: int,
    usage: int,
    limit: int | None,
) -> model.MemoryReport:
    # The kubelet (through cAdvisor) reports working set = usage - inactive_file, floored at zero.
    working_set = max(usage - stat.inactive_file, 0)
    return model.MemoryReport(
        cgroup_version=cgroup_version,
        anon=stat.anon,
        file=stat.file,
        active_file=stat.active_file,
        inactive_file=stat.inactive_file,
        shmem=stat.shmem,
        mapped_file=stat.mapped_file,
        usage=usage,
        working_set=working_set,
        limit=limit,
        explanation=explain_memory(stat=stat, usage=usage, working_set=working_set),
    )


def explain_memory(*, stat: memory_stat.MemoryStat, usage: int, working_set: int) -> str:
    """One plain sentence on why `kubectl top` (working set) differs from the process's own memory."""
    if working_set == 0:
        return f"working set is 0 B (usage {fmt_bytes(usage)} is all inactive page cache)"
    # shmem sits on the swap-backed LRU, not the file LRU, so it is never subtracted as inactive_file.
    active_cache = min(stat.active_file, working_set)
    shmem = min(stat.shmem, working_set)
    cache_share = round(100 * active_cache / working_set)
    shmem_share = round(100 * shmem / working_set)
    return (
        f"working set {fmt_bytes(working_set)} = usage {fmt_bytes(usage)} - inactive page cache "
        f"{fmt_bytes(stat.inactive_file)}; of it, anon {fmt_bytes(stat.anon)}, "
        f"{cache_share}% active page cache ({fmt_bytes(active_cache)}) and "
        f"{shmem_share}% tmpfs/shm ({fmt_bytes(shmem)})"
    )


def classify_namespaces(
    *,
    key: str,
    pod_uid: str | None,
    inodes: collections.abc.Mapping[model.NamespaceType, int],
    host_inodes: collections.abc.Mapping[model.NamespaceType, int],
    members: collections.abc.Mapping[
        tuple[model.NamespaceType, int], collections.abc.Sequence[tuple[str, str | None]]
    ],
) -> tuple[model.NamespaceReport, ...]:
    """host / pod / private for each namespace type; ``members`` maps (type, inode) to (key, pod_uid)."""
    reports = []
    for ns_type in model.NAMESPACE_TYPES:
        inode = inodes.get(ns_type)
        if inode is None:
            continue
        sharing: model.NamespaceSharing
        if host_inodes.get(ns_type) == inode:
            # Everything on the node shares the host's namespaces: listing them all says nothing and
            # would grow with the square of the container count.
            reports.append(model.NamespaceReport(type=ns_type, inode=inode, sharing="host", shared_with=()))
            continue
        others = [(k, uid) for k, uid in members.get((ns_type, inode), ()) if k != key]
        same_pod = pod_uid is not None and any(uid == pod_uid for _, uid in others)
        sharing = "pod" if same_pod else "private"
        reports.append(
            model.NamespaceReport(
                type=ns_type,
                inode=inode,
                sharing=sharing,
                shared_with=tuple(sorted(k for k, _ in others)),
            )
        )
    return tuple(reports)


def build_identity(
    *,
    uids: tuple[int, int, int, int],
    gids: tuple[int, int, int, int],
    cap_eff: int,
    host_cap_bnd: int | None,
    uid_map: tuple[model.IdMapEntry, ...],
    gid_map: tuple[model.IdMapEntry, ...],
    in_host_userns: bool,
) -> model.IdentityReport:
    root_host_uid = idmap.map_to_host(uid_map, 0)
    mode: model.UsernsMode
    if in_host_userns:
        mode = "host"
    elif root_host_uid == 0:
        mode = "private-root-mapped-to-host-root"
    else:
        mode = "private"
    # Capabilities held inside a private user namespace are not capabilities over the host.
    privileged = in_host_userns and capabilities.is_privileged(cap_eff, host_cap_bnd)
    return model.IdentityReport(
        uid=uids[1],
        gid=gids[1],
        root_host_uid=root_host_uid,
        userns_mode=mode,
        uid_map=uid_map,
        gid_map=gid_map,
        capabilities=capabilities.decode_capabilities(cap_eff),
        cap_eff_hex=f"{cap_eff:016x}",
        privileged=privileged,
    )


def classify_root(
    ancestry: collections.abc.Sequence[tuple[int, int]], *, host_root: tuple[int, int]
) -> model.RootReport:
    """pivot_root vs chroot from the chain of '..' above the process's root (see Host.root_ancestry)."""
    if not ancestry:
        raise ValueError("empty root ancestry")
    if ancestry[0] == host_root:
        return model.RootReport(kind="host", explanation="the process uses the host's root directory")
    if host_root in ancestry[1:]:
        return model.RootReport(
            kind="chroot",
            explanation=(
                "root is a chroot inside a mount namespace that still holds the host's root: "
                'chroot("x"); chdir("../../..") walks out to the host filesystem'
            ),
        )
    return model.RootReport(
        kind="pivot_root",
        explanation="root is the root of its own mount namespace (pivot_root); '..' cannot reach the host",
    )


def build_cgroup(
    *,
    version: int,
    cpu: cgroup_values.CpuQuota | None,
    memory_limit: int | None,
    pids_limit: int | None,
) -> model.CgroupReport:
    return model.CgroupReport(
        version=version,
        cpu_quota_cores=cpu.cores if cpu is not None else None,
        cpu_period_us=cpu.period_us if cpu is not None else None,
        memory_limit_bytes=memory_limit,
        pids_limit=pids_limit,
    )


def fmt_bytes(value: int) -> str:
    """Human bytes in binary units, as kubectl and free -h print them."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
