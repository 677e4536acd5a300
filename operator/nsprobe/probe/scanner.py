"""Scans one host: discovers containers, reads their kernel facts through probe.host, and assembles reports.

Called by `nsprobe scan`, the agent and the benchmark. A ``Scanner`` keeps what it learnt between scans,
keyed by pid *and* start time, so a steady-state rescan re-reads only what changes on its own (memory,
/tmp usage) and re-verifies each container's init; everything else is re-read on a full scan, every
``full_every`` scans or when a container's init changed.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import os
import time
import typing

from nsprobe.probe import assemble, findings, host, model
from nsprobe.probe.parsers import (
    cgroup_values,
    errors,
    idmap,
    kubepods,
    meminfo,
    memory_stat,
    mountinfo,
    proc_cgroup,
    stat,
    status,
    sysvipc,
)

_T = typing.TypeVar("_T")
_KERNEL_THREADS_PARENT = 2  # kthreadd: kernel threads live in the initial namespaces
_UNREAD = -1  # start time / ppid not read yet (a process outside kubepods, see Scanner._read_proc)
_ErrorSink = list[model.ScanError]


@dataclasses.dataclass(frozen=True)
class _Proc:
    pid: int
    start_time: int
    ppid: int
    group: str | None  # container key, or None when the process belongs to no container
    kube: kubepods.KubepodsIdentity | None
    cgroup_entries: tuple[proc_cgroup.CgroupEntry, ...]


@dataclasses.dataclass(frozen=True)
class _NodeStatic:
    kernel_release: str | model.Unknown
    cgroup_layout: model.CgroupLayout
    userns_supported: bool | model.Unknown
    max_user_namespaces: int | model.Unknown
    host_ref_pid: int | None
    host_namespaces: dict[model.NamespaceType, int]
    host_root: tuple[int, int]
    host_cap_bnd: int | None
    host_mounts: tuple[mountinfo.Mount, ...]


@dataclasses.dataclass(frozen=True)
class _Static:
    """Facts that change only when the container's init changes (or on a full scan)."""

    ref: model.ContainerRef
    pid: int
    start_time: int
    namespaces: dict[model.NamespaceType, int] | model.Unknown
    identity: model.IdentityReport | model.Unknown
    root: model.RootReport | model.Unknown
    tmp_mount: mountinfo.Mount | model.Unknown
    cgroup: model.CgroupReport | model.Unknown
    ipc: model.IpcReport | model.Unknown
    cgroup_dirs: tuple[int, dict[str, str]] | model.Unknown  # version and directory per controller


# auto: kubepods containers when the host has any, else namespace sets (as lsns groups them).
GroupBy = typing.Literal["auto", "kubepods", "nsset"]


class RootsUnreadableError(Exception):
    """The proc or cgroup root can't be used at all: `nsprobe scan` exits non-zero with this message."""


class Scanner:
    def __init__(
        self,
        probe_host: host.Host,
        *,
        full_every: int = 10,
        read_ipc: bool = True,
        group_by: GroupBy = "auto",
    ) -> None:
        self.host = probe_host
        self.group_by = group_by
        self.full_every = max(full_every, 1)
        self.read_ipc = read_ipc
        self._scans = 0
        self._ipc_by_inode: dict[int, model.IpcReport | model.Unknown] = {}
        self._procs: dict[int, _Proc] = {}
        self._static: dict[str, _Static] = {}
        self._nssets: dict[tuple[int, int], tuple[int, ...] | None] = {}
        self._parsed_cgroups: dict[
            str, tuple[tuple[proc_cgroup.CgroupEntry, ...], kubepods.KubepodsIdentity | None]
        ] = {}
        self._node_static: _NodeStatic | None = None
        self._last_members: dict[tuple[model.NamespaceType, int], list[tuple[str, str | None]]] = {}
        self._namespace_reports: dict[str, tuple[model.NamespaceReport, ...]] = {}

    # --- public --------------------------------------------------------------------------------------
    def scan(self, *, only_pid: int | None = None) -> model.ScanResult:
        started = time.monotonic()
        scanned_at = time.time()
        try:
            self.host.check_roots()
        except host.HostError as exc:
            raise RootsUnreadableError(str(exc)) from exc
        full = self._scans % self.full_every == 0
        self._scans += 1
        errs: _ErrorSink = []
        self._ipc_by_inode = {}  # containers of one pod share an IPC namespace: read it once per scan
        if full or self._node_static is None:
            self._node_static = self._read_node_static(errs)
        node_static = self._node_static
        self._refresh_procs(full=full, errs=errs)
        groups = self._group(only_pid=only_pid, node=node_static, errs=errs)
        kubernetes = self.group_by != "nsset" and any(p.kube is not None for p in self._procs.values())
        statics: dict[str, tuple[_Proc, int, _Static]] = {}
        for key, members in groups.items():
            rep = min(members, key=lambda p: (p.start_time, p.pid))
            cached = self._static.get(key)
            if (
                not full
                and cached is not None
                and cached.pid == rep.pid
                and cached.start_time == rep.start_time
                and self._still_same_process(rep, errs)
            ):
                statics[key] = (rep, len(members), cached)
                continue
            fresh = self._read_static(key, rep, node=node_static, errs=errs)
            if fresh is None:
                continue
            statics[key] = (rep, len(members), fresh)
        self._static = {key: entry[2] for key, entry in statics.items()}
        reports = self._assemble(statics, node=node_static, errs=errs)
        node = self._node_report(node_static, errs)
        return model.ScanResult(
            node=node,
            containers=tuple(sorted(reports, key=lambda r: r.ref.key)),
            errors=tuple(errs),
            kubernetes=kubernetes,
            duration_seconds=time.monotonic() - started,
            scanned_at=scanned_at,
        )

    # --- node ----------------------------------------------------------------------------------------
    def _read_node_static(self, errs: _ErrorSink) -> _NodeStatic:
        h = self.host
        release = _read_or_unknown(lambda: h.read_proc_global("sys/kernel/osrelease").strip(), errs)
        max_userns = _read_or_unknown(
            lambda: cgroup_values.parse_int_value(h.read_proc_global("sys/user/max_user_namespaces")), errs
        )
        userns_supported: bool | model.Unknown = (
            max_userns > 0 if isinstance(max_userns, int) else model.Unknown(max_userns.reason)
        )
        ref_pid, host_ns = self._host_reference(errs)
        host_root = h.own_root_identity()
        host_mounts: tuple[mountinfo.Mount, ...] = ()
        host_cap_bnd: int | None = None
        if ref_pid is not None:
            st = os.stat(h.proc_path(ref_pid, "root") + "/")
            host_root = (st.st_dev, st.st_ino)
            mounts = _read_or_unknown(
                lambda: mountinfo.parse_mountinfo(h.read_proc(ref_pid, "mountinfo")), errs
            )
            host_mounts = mounts if not isinstance(mounts, model.Unknown) else ()
        # The host's bounding set says what "every capability" means on this node; pid 1 first.
        for pid in (1, ref_pid):
            if pid is None:
                continue
            try:
                host_cap_bnd = status.parse_status(h.read_proc(pid, "status")).cap_bnd
                break
            except (host.HostError, errors.ParseError):
                continue
        layout = mountinfo.cgroup_layout(host_mounts) if host_mounts else self._layout_from_root()
        return _NodeStatic(
            kernel_release=release,
            cgroup_layout=layout,
            userns_supported=userns_supported,
            max_user_namespaces=max_userns,
            host_ref_pid=ref_pid,
            host_namespaces=host_ns,
            host_root=host_root,
            host_cap_bnd=host_cap_bnd,
            host_mounts=host_mounts,
        )

    def _layout_from_root(self) -> model.CgroupLayout:
        if self.host.cgroup_is_unified():
            return "v2"
        has_v1 = self.host.exists(os.path.join(self.host.cgroup_root, "memory"))
        has_v2 = self.host.exists(os.path.join(self.host.cgroup_root, "unified", "cgroup.controllers"))
        if has_v1 and has_v2:
            return "hybrid"
        return "v1" if has_v1 else "none"

    def _host_reference(self, errs: _ErrorSink) -> tuple[int | None, dict[model.NamespaceType, int]]:
        """Namespaces of the host: pid 1's, or kthreadd's when pid 1 is protected (as on some VMs)."""
        for pid in (1, _KERNEL_THREADS_PARENT):
            try:
                inodes = self._namespaces(pid)
                os.stat(self.host.proc_path(pid, "root") + "/")
            except (host.HostError, OSError):
                continue
            return pid, inodes
        errs.append(model.ScanError("permission", "no host reference process (pid 1 or 2) is readable"))
        return None, {}

    def _node_report(self, node: _NodeStatic, errs: _ErrorSink) -> model.NodeReport:
        h = self.host
        mem = _read_or_unknown(lambda: meminfo.parse_meminfo(h.read_proc_global("meminfo")), errs)
        mem_report: model.MemInfoReport | model.Unknown
        if isinstance(mem, model.Unknown):
            mem_report = mem
        else:
            mem_report = model.MemInfoReport(
                mem_total=mem.mem_total,
                mem_free=mem.mem_free,
                mem_available=mem.mem_available if mem.mem_available is not None else mem.mem_free,
                buffers=mem.buffers,
                cached=mem.cached,
                shmem=mem.shmem or 0,
            )
        tmp: model.TmpReport | model.Unknown = model.Unknown("no readable host reference process")
        if node.host_ref_pid is not None and node.host_mounts:
            mount = mountinfo.find_mount_for(node.host_mounts, "/tmp")
            if mount is not None:
                tmp = self._tmp_report(node.host_ref_pid, mount, errs)
                if isinstance(tmp, model.TmpReport) and tmp.backing == "container-rootfs":
                    tmp = dataclasses.replace(tmp, backing="node-rootfs")
        return model.NodeReport(
            kernel_release=node.kernel_release,
            cgroup_layout=node.cgroup_layout,
            userns_supported=node.userns_supported,
            max_user_namespaces=node.max_user_namespaces,
            meminfo=mem_report,
            tmp=tmp,
            host_namespaces=dict(node.host_namespaces),
            host_reference_pid=node.host_ref_pid,
        )

    # --- processes -----------------------------------------------------------------------------------
    def _refresh_procs(self, *, full: bool, errs: _ErrorSink) -> None:
        try:
            pids = self.host.list_pids()
        except host.HostError as exc:
            raise RootsUnreadableError(str(exc)) from exc
        previous = {} if full else self._procs
        self._parsed_cgroups = {}
        procs: dict[int, _Proc] = {}
        for pid in pids:
            known = previous.get(pid)
            if known is not None:
                procs[pid] = known
                continue
            proc = self._read_proc(pid)
            if proc is not None:
                procs[pid] = proc
        if not full:
            self._follow_cgroup_membership(procs)
        self._procs = procs

    def _follow_cgroup_membership(self, procs: dict[int, _Proc]) -> None:
        """Steady scans take container membership from the kernel's cgroup.procs, not from the cache.

        A cached pid may have been reused by another container's process, a process may have joined a
        container's cgroup after it was first seen (runc exec forks, then moves), and a new container's
        init may have taken a pid cached as "no container". Reading each known container's cgroup.procs
        and listing the kubepods directories catches all three for one read per container instead of
        one per process.
        """
        by_group: dict[str, set[int]] = collections.defaultdict(set)
        for proc in procs.values():
            if proc.group is not None:
                by_group[proc.group].add(proc.pid)
        known_dirs = {key: dirs for key, static in self._static.items() if (dirs := _membership_dir(static))}
        to_reread: set[int] = set()
        for key, directory in known_dirs.items():
            members = self._cgroup_members(directory)
            if members is None:
                to_reread |= by_group.get(key, set())  # the container is gone: its pids are someone else's
                continue
            to_reread |= members.symmetric_difference(by_group.get(key, set()))
        for directory in self._new_container_dirs(set(known_dirs.values())):
            to_reread |= self._cgroup_members(directory) or set()
        for pid in to_reread:
            fresh = self._read_proc(pid)
            if fresh is None:
                procs.pop(pid, None)
            else:
                procs[pid] = fresh

    def _cgroup_members(self, directory: str) -> set[int] | None:
        try:
            return set(cgroup_values.parse_pid_list(self.host.read_cgroup(directory, "cgroup.procs")))
        except (host.HostError, errors.ParseError):
            return None

    def _kubepods_roots(self, known: set[str]) -> set[str]:
        """Where pods hang: kubepods* at the top of the membership hierarchy, and above known containers.

        Looked up on every steady scan (one directory listing), so that the first pod of an empty node
        is found without waiting for a full scan.
        """
        top = self.host.cgroup_dir(None if self.host.cgroup_is_unified() else "memory", "/")
        roots = {root for directory in known if (root := _kubepods_root(directory))}
        with contextlib.suppress(host.HostError):  # no such hierarchy: only the known roots
            names = self.host.subdirectories(top)
            roots |= {f"{top.rstrip('/')}/{name}" for name in names if name.startswith("kubepods")}
        return roots

    def _new_container_dirs(self, known: set[str]) -> list[str]:
        """Container cgroup directories under the kubepods roots that no known container occupies."""
        found: list[str] = []
        for root in self._kubepods_roots(known):
            try:
                for child in self.host.subdirectories(root):
                    child_dir = f"{root}/{child}"
                    # Guaranteed pods hang from the root itself; the others below a QoS directory.
                    pod_dirs = (
                        [child_dir]
                        if "pod" in child
                        else [f"{child_dir}/{name}" for name in self.host.subdirectories(child_dir)]
                    )
                    for pod_dir in pod_dirs:
                        for name in self.host.subdirectories(pod_dir):
                            container_dir = f"{pod_dir}/{name}"
                            if container_dir not in known:
                                found.append(container_dir)
            except host.HostError:
                continue  # a pod or QoS directory went away during the walk
        return found

    def _read_proc(self, pid: int) -> _Proc | None:
        try:
            text = self.host.read_proc(pid, "cgroup")
            if "kubepods" not in text:
                # Most processes of a node are no container's: no parse and no stat read (the scan's
                # hottest loop). Their start time is read later only if namespace-set grouping needs it.
                return _Proc(pid, _UNREAD, _UNREAD, None, None, ())
            parsed = self._parsed_cgroups.get(text)
            if parsed is None:
                # Every process of a container has the same cgroup file: parse each distinct text once.
                entries = proc_cgroup.parse_proc_cgroup(text)
                path = kubepods.pick_container_path(entries)
                parsed = (entries, kubepods.parse_kubepods_path(path) if path is not None else None)
                self._parsed_cgroups[text] = parsed
            st = stat.parse_stat(self.host.read_proc(pid, "stat"))
        except (host.HostError, errors.ParseError):
            # Vanished between listdir and read, or unreadable: it simply isn't part of this scan.
            return None
        entries, identity = parsed
        group = identity.container_id if identity is not None and identity.container_id else None
        return _Proc(pid, st.start_time_ticks, st.ppid, group, identity, entries)

    def _with_stat(self, proc: _Proc) -> _Proc | None:
        if proc.start_time != _UNREAD:
            return proc
        try:
            st = stat.parse_stat(self.host.read_proc(proc.pid, "stat"))
        except (host.HostError, errors.ParseError):
            return None
        full = dataclasses.replace(proc, start_time=st.start_time_ticks, ppid=st.ppid)
        self._procs[proc.pid] = full
        return full

    def _group(self, *, only_pid: int | None, node: _NodeStatic, errs: _ErrorSink) -> dict[str, list[_Proc]]:
        procs = self._procs
        if only_pid is not None:
            proc = procs.get(only_pid)
            if proc is None:
                return {}
            key = proc.group or f"pid-{only_pid}"
            return {key: [proc]}
        groups: dict[str, list[_Proc]] = collections.defaultdict(list)
        kube = any(p.group is not None for p in procs.values())
        if self.group_by == "kubepods" or (self.group_by == "auto" and kube):
            for proc in procs.values():
                if proc.group is not None:
                    groups[proc.group].append(proc)
            return dict(groups)
        # No kubepods cgroups: group by namespace set, as lsns does, and leave out the host's own set.
        host_set = tuple(node.host_namespaces.get(t, 0) for t in model.NAMESPACE_TYPES)
        nssets: dict[tuple[int, int], tuple[int, ...] | None] = {}
        for unread in list(procs.values()):
            proc = self._with_stat(unread)
            if proc is None:
                continue
            if proc.ppid == _KERNEL_THREADS_PARENT or proc.pid == _KERNEL_THREADS_PARENT:
                continue
            # Namespaces of a process change only through setns/unshare, which container runtimes do
            # before exec; keyed by pid and start time, a steady rescan reads none of them again.
            ident = (proc.pid, proc.start_time)
            nsset = self._nssets[ident] if ident in self._nssets else self._nsset(proc.pid)
            nssets[ident] = nsset
            if nsset is None or nsset == host_set:
                continue
            key = "nsset-" + hashlib.sha256(repr(nsset).encode()).hexdigest()[:12]
            groups[key].append(dataclasses.replace(proc, group=key))
        self._nssets = nssets
        return dict(groups)

    def _nsset(self, pid: int) -> tuple[int, ...] | None:
        try:
            inodes = self._namespaces(pid)
        except host.HostError:
            return None
        return tuple(inodes.get(ns_type, 0) for ns_type in model.NAMESPACE_TYPES)

    def _still_same_process(self, proc: _Proc, errs: _ErrorSink) -> bool:
        try:
            st = stat.parse_stat(self.host.read_proc(proc.pid, "stat"))
        except (host.HostError, errors.ParseError):
            return False
        # A zombie (or dead) init has left its namespaces and root: its cached facts no longer hold.
        return st.start_time_ticks == proc.start_time and st.state not in ("Z", "X")

    # --- containers ----------------------------------------------------------------------------------
    def _read_static(self, key: str, rep: _Proc, *, node: _NodeStatic, errs: _ErrorSink) -> _Static | None:
        h = self.host
        pid = rep.pid
        try:
            proc_status = status.parse_status(h.read_proc(pid, "status"))
        except host.VanishedError:
            errs.append(model.ScanError("vanished", f"pid {pid} exited during the scan"))
            return None
        except (host.HostError, errors.ParseError) as exc:
            errs.append(model.ScanError(_reason(exc), str(exc)))
            return None
        # Another process's ns links, root and uid_map pass ptrace's access check: CAP_SYS_PTRACE.
        namespaces = _read_or_unknown(lambda: self._namespaces(pid), errs, needs="CAP_SYS_PTRACE")
        identity = _read_or_unknown(
            lambda: self._identity(pid, proc_status, namespaces, node), errs, needs="CAP_SYS_PTRACE"
        )
        root = _read_or_unknown(
            lambda: assemble.classify_root(h.root_ancestry(pid), host_root=node.host_root),
            errs,
            needs="CAP_SYS_PTRACE",
        )
        tmp_mount = _read_or_unknown(lambda: self._tmp_mount(pid, node), errs, needs="CAP_SYS_PTRACE")
        cgroup_dirs = _read_or_unknown(lambda: self._cgroup_dirs(rep), errs)
        cgroup: model.CgroupReport | model.Unknown = (
            cgroup_dirs
            if isinstance(cgroup_dirs, model.Unknown)
            else _read_or_unknown(lambda: self._cgroup(*cgroup_dirs), errs)
        )
        ipc: model.IpcReport | model.Unknown = model.Unknown("disabled")
        if self.read_ipc:
            ipc_inode = namespaces.get("ipc") if isinstance(namespaces, dict) else None
            if ipc_inode is not None and ipc_inode in self._ipc_by_inode:
                ipc = self._ipc_by_inode[ipc_inode]
            else:
                ipc = _read_or_unknown(lambda: self._ipc(pid), errs, needs="CAP_SYS_ADMIN")
                if ipc_inode is not None:
                    self._ipc_by_inode[ipc_inode] = ipc
        if not self._still_same_process(rep, errs):
            # The pid died (and may have been reused) while we read: nothing read can be trusted.
            errs.append(model.ScanError("vanished", f"pid {pid} exited during the scan"))
            return None
        kube = rep.kube if rep.group == key else None
        ref = model.ContainerRef(
            key=key,
            pod_uid=kube.pod_uid if kube is not None else None,
            container_id=kube.container_id if kube is not None else None,
            runtime=kube.runtime if kube is not None else None,
            qos_class=kube.qos_class if kube is not None else None,
            cgroup_path=kubepods.pick_container_path(rep.cgroup_entries) or "",
            display_name=key[:12] if kube is not None else proc_status.name,
        )
        return _Static(
            ref=ref,
            pid=pid,
            start_time=rep.start_time,
            namespaces=namespaces,
            identity=identity,
            root=root,
            tmp_mount=tmp_mount,
            cgroup=cgroup,
            ipc=ipc,
            cgroup_dirs=cgroup_dirs,
        )

    def _namespaces(self, pid: int) -> dict[model.NamespaceType, int]:
        """Inode per namespace type; 'time' is simply absent before Linux 5.6."""
        inodes: dict[model.NamespaceType, int] = {}
        for ns_type in model.NAMESPACE_TYPES:
            try:
                inodes[ns_type] = self.host.namespace_inode(pid, ns_type)
            except host.VanishedError:
                if ns_type != "time":
                    raise
        return inodes

    def _identity(
        self,
        pid: int,
        proc_status: status.ProcStatus,
        namespaces: dict[model.NamespaceType, int] | model.Unknown,
        node: _NodeStatic,
    ) -> model.IdentityReport:
        if isinstance(namespaces, model.Unknown):
            raise host.UnavailableError(self.host.proc_path(pid, "ns/user"), namespaces.reason)
        uid_map = idmap.parse_id_map(self.host.read_proc(pid, "uid_map"))
        gid_map = idmap.parse_id_map(self.host.read_proc(pid, "gid_map"))
        return assemble.build_identity(
            uids=proc_status.uids,
            gids=proc_status.gids,
            cap_eff=proc_status.cap_eff,
            host_cap_bnd=node.host_cap_bnd,
            uid_map=uid_map,
            gid_map=gid_map,
            in_host_userns=namespaces.get("user") == node.host_namespaces.get("user"),
        )

    def _tmp_mount(self, pid: int, node: _NodeStatic) -> mountinfo.Mount:
        mounts = mountinfo.parse_mountinfo(_mounts_on_path_to_tmp(self.host.read_proc(pid, "mountinfo")))
        mount = mountinfo.find_mount_for(mounts, "/tmp") if mounts else None
        if mount is not None:
            return mount
        # A chroot without a mount namespace of its own has an empty mountinfo: no mount lies below its
        # root. Its /tmp is on whichever host mount carries the same device, found via /proc/<pid>/root.
        path = self.host.proc_path(pid, "root") + "/tmp"
        try:
            dev = os.stat(path).st_dev
        except OSError as exc:
            raise host.VanishedError(path, "no /tmp in the container's root") from exc
        for candidate in reversed(node.host_mounts):
            if (candidate.major, candidate.minor) == (os.major(dev), os.minor(dev)):
                return candidate
        raise host.UnavailableError(path, "no mount carries the device of /tmp")

    def _tmp_report(self, pid: int, mount: mountinfo.Mount, errs: _ErrorSink) -> model.TmpReport:
        size: int | model.Unknown
        used: int | model.Unknown
        try:
            size, used = self.host.statvfs_in_root(pid, "/tmp")
        except host.HostError as exc:
            errs.append(model.ScanError(exc.reason, str(exc)))
            size = used = model.Unknown(str(exc))
        return assemble.classify_tmp(mount, size_bytes=size, used_bytes=used)

    def _cgroup_dirs(self, rep: _Proc) -> tuple[int, dict[str, str]]:
        """cgroup version and the directory per controller ('memory', 'cpu', 'pids') for a process."""
        entries = rep.cgroup_entries
        if self.host.cgroup_is_unified():
            path = next((e.path for e in entries if e.hierarchy_id == 0), None)
            if path is None:
                raise host.UnavailableError(self.host.proc_path(rep.pid, "cgroup"), "no cgroup v2 entry")
            directory = self.host.cgroup_dir(None, path)
            return 2, {"memory": directory, "cpu": directory, "pids": directory}
        dirs: dict[str, str] = {}
        for entry in entries:
            for controller in entry.controllers:
                if controller in ("memory", "cpu", "pids"):
                    dirs[controller] = self.host.cgroup_dir(controller, entry.path)
        if "memory" not in dirs:
            raise host.UnavailableError(self.host.proc_path(rep.pid, "cgroup"), "no memory cgroup")
        return 1, dirs

    def _cgroup(self, version: int, dirs: dict[str, str]) -> model.CgroupReport:
        h = self.host
        cpu: cgroup_values.CpuQuota | None = None
        pids_limit: int | None = None
        if version == 2:
            memory_limit = cgroup_values.parse_memory_max_v2(h.read_cgroup(dirs["memory"], "memory.max"))
            cpu = _optional(lambda: cgroup_values.parse_cpu_max(h.read_cgroup(dirs["cpu"], "cpu.max")))
        else:
            memory_limit = cgroup_values.parse_memory_limit_v1(
                h.read_cgroup(dirs["memory"], "memory.limit_in_bytes")
            )
            if "cpu" in dirs:
                cpu = _optional(
                    lambda: cgroup_values.parse_cfs_quota(
                        h.read_cgroup(dirs["cpu"], "cpu.cfs_quota_us"),
                        h.read_cgroup(dirs["cpu"], "cpu.cfs_period_us"),
                    )
                )
        if "pids" in dirs:
            pids_limit = _optional(
                lambda: cgroup_values.parse_pids_max(h.read_cgroup(dirs["pids"], "pids.max"))
            )
        return assemble.build_cgroup(
            version=version, cpu=cpu, memory_limit=memory_limit, pids_limit=pids_limit
        )

    def _memory(self, static: _Static, limit: int | None) -> model.MemoryReport:
        if isinstance(static.cgroup_dirs, model.Unknown):
            raise host.UnavailableError("memory cgroup", static.cgroup_dirs.reason)
        version, dirs = static.cgroup_dirs
        h = self.host
        if version == 2:
            stat_ = memory_stat.parse_memory_stat_v2(h.read_cgroup(dirs["memory"], "memory.stat"))
            usage = cgroup_values.parse_int_value(h.read_cgroup(dirs["memory"], "memory.current"))
        else:
            stat_ = memory_stat.parse_memory_stat_v1(h.read_cgroup(dirs["memory"], "memory.stat"))
            usage = cgroup_values.parse_int_value(h.read_cgroup(dirs["memory"], "memory.usage_in_bytes"))
        return assemble.build_memory(stat_, cgroup_version=version, usage=usage, limit=limit)

    def _ipc(self, pid: int) -> model.IpcReport:
        shm_text, msg_text, sem_text = self.host.read_sysvipc(pid)
        segments = sysvipc.parse_sysvipc_shm(shm_text)
        return model.IpcReport(
            shm_segments=len(segments),
            shm_bytes=sum(s.size for s in segments),
            msg_queues=sysvipc.parse_sysvipc_count(msg_text),
            semaphore_sets=sysvipc.parse_sysvipc_count(sem_text),
        )

    def _assemble(
        self,
        statics: dict[str, tuple[_Proc, int, _Static]],
        *,
        node: _NodeStatic,
        errs: _ErrorSink,
    ) -> list[model.ContainerReport]:
        members: dict[tuple[model.NamespaceType, int], list[tuple[str, str | None]]] = (
            collections.defaultdict(list)
        )
        for key, (rep, _, static) in statics.items():
            if isinstance(static.namespaces, dict):
                pod_uid = rep.kube.pod_uid if rep.kube is not None else None
                for ns_type, inode in static.namespaces.items():
                    members[(ns_type, inode)].append((key, pod_uid))
        # Sharing changes only when containers come, go or change namespaces: reuse the last answers then.
        reuse_namespaces = members == self._last_members
        self._last_members = members
        previous_namespaces, self._namespace_reports = self._namespace_reports, {}
        reports = []
        for key, (rep, count, static) in statics.items():
            pod_uid = static.ref.pod_uid
            namespaces: tuple[model.NamespaceReport, ...] | model.Unknown
            if isinstance(static.namespaces, model.Unknown):
                namespaces = static.namespaces
            elif reuse_namespaces and key in previous_namespaces:
                namespaces = previous_namespaces[key]
            else:
                namespaces = assemble.classify_namespaces(
                    key=key,
                    pod_uid=pod_uid,
                    inodes=static.namespaces,
                    host_inodes=node.host_namespaces,
                    members=members,
                )
            if not isinstance(namespaces, model.Unknown):
                self._namespace_reports[key] = namespaces
            limit = (
                static.cgroup.memory_limit_bytes if isinstance(static.cgroup, model.CgroupReport) else None
            )
            memory = _read_or_unknown(functools.partial(self._memory, static, limit), errs)
            tmp: model.TmpReport | model.Unknown
            if isinstance(static.tmp_mount, model.Unknown):
                tmp = static.tmp_mount
            else:
                tmp = self._tmp_report(rep.pid, static.tmp_mount, errs)
            report = model.ContainerReport(
                ref=static.ref,
                pid=rep.pid,
                start_time_ticks=rep.start_time,
                process_count=count,
                tmp=tmp,
                memory=memory,
                namespaces=namespaces,
                identity=static.identity,
                root=static.root,
                cgroup=static.cgroup,
                ipc=static.ipc,
                findings=(),
            )
            reports.append(dataclasses.replace(report, findings=findings.evaluate(report)))
        return reports


def _membership_dir(static: _Static) -> str | None:
    """The cgroup directory whose cgroup.procs lists a container's processes (memory on v1)."""
    if isinstance(static.cgroup_dirs, model.Unknown):
        return None
    return static.cgroup_dirs[1].get("memory")


def _kubepods_root(directory: str) -> str | None:
    """The highest ancestor named kubepods* ('/kubepods', '/kubepods.slice'), where pods hang."""
    parts = directory.split("/")
    for index, part in enumerate(parts):
        if part.startswith("kubepods"):
            return "/".join(parts[: index + 1])
    return None


def _mounts_on_path_to_tmp(text: str) -> str:
    """Only the mountinfo lines whose mount point is / or /tmp: the only ones that can hold /tmp.

    A kubelet-made container has dozens of mounts (secrets, configmaps, /dev, /proc ...); parsing them all
    for every container would dominate a full scan.
    """
    keep = []
    for line in text.splitlines(keepends=True):
        parts = line.split(" ", 5)
        if len(parts) < 5 or parts[4] in ("/", "/tmp"):
            keep.append(line)  # malformed lines are kept so that the parser reports them
    return "".join(keep)


def _reason(exc: Exception) -> str:
    if isinstance(exc, host.HostError):
        return exc.reason
    if isinstance(exc, errors.ParseError):
        return "parse"
    return "io"


def _read_or_unknown(
    read: typing.Callable[[], _T], errs: _ErrorSink, *, needs: str | None = None
) -> _T | model.Unknown:
    """Run one read; a permission problem, vanished file or bad text becomes Unknown(reason).

    ``needs`` names the capability that serves this read, so that a refused read under a reduced
    security profile says "unavailable (needs CAP_X)" instead of looking like a fault.
    """
    try:
        return read()
    except (host.HostError, errors.ParseError, ValueError) as exc:
        reason = _reason(exc)
        errs.append(model.ScanError(reason, str(exc)))
        if needs is not None and isinstance(exc, host.PermissionDeniedError | host.UnavailableError):
            return model.Unknown(f"unavailable (needs {needs}): {exc}")
        return model.Unknown(f"{reason}: {exc}")


def _optional(read: typing.Callable[[], _T]) -> _T | None:
    """A limit file that is missing means the controller doesn't limit this: no limit."""
    try:
        return read()
    except host.VanishedError:
        return None
