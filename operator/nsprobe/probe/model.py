"""Typed, frozen report of one scan; built by probe.assemble, read by every surface (CLI, agent, metrics)."""

from __future__ import annotations

import dataclasses
import typing

TmpBacking = typing.Literal[
    "tmpfs", "container-rootfs", "emptydir-disk", "emptydir-memory", "hostpath", "other", "node-rootfs"
]
# "node-rootfs" is only ever the node's own /tmp (NodeProbe): the node's root filesystem, on disk.
NamespaceType = typing.Literal["mnt", "pid", "net", "ipc", "uts", "user", "cgroup", "time"]
NAMESPACE_TYPES: tuple[NamespaceType, ...] = ("mnt", "pid", "net", "ipc", "uts", "user", "cgroup", "time")
NamespaceSharing = typing.Literal["host", "pod", "private"]
UsernsMode = typing.Literal["host", "private-root-mapped-to-host-root", "private"]
# "host": the process kept the host's root directory; "pivot_root": its root is the root of its own
# mount namespace; "chroot": its root is a directory inside a namespace that still holds the host's
# filesystem tree, so the classic chroot escape reaches the host.
RootKind = typing.Literal["host", "pivot_root", "chroot"]
Severity = typing.Literal["critical", "high", "medium", "low", "info"]
CgroupLayout = typing.Literal["v1", "v2", "hybrid", "none"]


@dataclasses.dataclass(frozen=True)
class Unknown:
    """A fact the probe could not establish, with the reason (e.g. 'permission denied: .../uid_map')."""

    reason: str


@dataclasses.dataclass(frozen=True)
class ContainerRef:
    """Who a group of processes is: a Kubernetes container found from its cgroup path, or a namespace set."""

    key: str  # stable identity within one node: the container id, or "nsset:<hash>" without Kubernetes
    pod_uid: str | None
    container_id: str | None
    runtime: str | None  # containerd | crio | docker | None when unknown or not Kubernetes
    qos_class: str | None  # guaranteed | burstable | besteffort
    cgroup_path: str  # the container's cgroup path as /proc/<pid>/cgroup names it
    display_name: str  # short human name: the container id's first 12 characters, or the init's comm


@dataclasses.dataclass(frozen=True)
class TmpReport:
    backing: TmpBacking
    fstype: str
    source: str
    mount_point: str  # the mount point that holds /tmp, as the container sees it
    size_bytes: int | Unknown
    used_bytes: int | Unknown
    counts_against_memory_limit: bool


@dataclasses.dataclass(frozen=True)
class MemoryReport:
    """cgroup memory, in bytes. 'file' includes shmem (tmpfs and SysV shm), as in both v1 and v2."""

    cgroup_version: int
    anon: int
    file: int
    active_file: int
    inactive_file: int
    shmem: int
    mapped_file: int
    usage: int
    working_set: int  # usage - inactive_file, clamped at 0: the kubelet/cAdvisor figure `kubectl top` shows
    limit: int | None  # None: unlimited
    explanation: str


@dataclasses.dataclass(frozen=True)
class NamespaceReport:
    type: NamespaceType
    inode: int
    sharing: NamespaceSharing
    shared_with: tuple[str, ...]  # keys of other containers in the same namespace, sorted


@dataclasses.dataclass(frozen=True)
class IdMapEntry:
    inside: int
    outside: int
    count: int


@dataclasses.dataclass(frozen=True)
class IdentityReport:
    uid: int  # effective uid, as the container sees it
    gid: int
    root_host_uid: int | None  # host uid that container uid 0 maps to; None if uid 0 is unmapped
    userns_mode: UsernsMode
    uid_map: tuple[IdMapEntry, ...]
    gid_map: tuple[IdMapEntry, ...]
    capabilities: tuple[str, ...]  # effective, decoded names (CAP_SYS_ADMIN, ...)
    cap_eff_hex: str
    privileged: (
        bool  # effective set holds every capability this kernel knows (or all but the ones the host lacks)
    )


@dataclasses.dataclass(frozen=True)
class RootReport:
    kind: RootKind
    explanation: str


@dataclasses.dataclass(frozen=True)
class CgroupReport:
    version: int
    cpu_quota_cores: float | None  # None: no quota
    cpu_period_us: int | None
    memory_limit_bytes: int | None  # None: unlimited
    pids_limit: int | None  # None: unlimited


@dataclasses.dataclass(frozen=True)
class IpcReport:
    shm_segments: int
    shm_bytes: int
    msg_queues: int
    semaphore_sets: int


@dataclasses.dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    container: str  # ContainerRef.key
    message: str
    remedy: str


@dataclasses.dataclass(frozen=True)
class ContainerReport:
    ref: ContainerRef
    pid: int  # the representative process (the container's init)
    start_time_ticks: int  # from /proc/<pid>/stat, so a reused pid is never mistaken for this one
    process_count: int
    tmp: TmpReport | Unknown
    memory: MemoryReport | Unknown
    namespaces: tuple[NamespaceReport, ...] | Unknown
    identity: IdentityReport | Unknown
    root: RootReport | Unknown
    cgroup: CgroupReport | Unknown
    ipc: IpcReport | Unknown
    findings: tuple[Finding, ...]


@dataclasses.dataclass(frozen=True)
class MemInfoReport:
    """The `free -w` question, in bytes, from /proc/meminfo."""

    mem_total: int
    mem_free: int
    mem_available: int
    buffers: int
    cached: int
    shmem: int


@dataclasses.dataclass(frozen=True)
class NodeReport:
    kernel_release: str | Unknown
    cgroup_layout: CgroupLayout
    userns_supported: bool | Unknown
    max_user_namespaces: int | Unknown
    meminfo: MemInfoReport | Unknown
    tmp: TmpReport | Unknown
    host_namespaces: dict[NamespaceType, int]  # the host reference's namespace inodes
    host_reference_pid: int | None


@dataclasses.dataclass(frozen=True)
class ScanError:
    reason: str  # a bounded word: vanished, permission, parse, io
    detail: str


@dataclasses.dataclass(frozen=True)
class ScanResult:
    node: NodeReport
    containers: tuple[ContainerReport, ...]
    errors: tuple[ScanError, ...]
    kubernetes: bool  # True when containers came from kubepods cgroups, False when grouped by namespace set
    duration_seconds: float
    scanned_at: float  # unix time
