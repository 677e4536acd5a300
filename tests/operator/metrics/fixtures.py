"""Deterministic scan snapshots built from the probe's model dataclasses; used by the metrics tests and
the metrics benchmark.

Values follow docs/example-podprobe-status.json (a real kernel scenario's status). Findings are listed
by code, as the catalogue's rules say they should be, rather than computed by ``findings.evaluate``: these
tests are about the metrics layer, and its golden files must not move when a rule is fixed.
"""

from __future__ import annotations

from nsprobe.metrics import collector
from nsprobe.probe import findings, model

MiB = 1024 * 1024
NODE = "node-a"
_HOST_INODES = {t: 4026531830 + i for i, t in enumerate(model.NAMESPACE_TYPES)}


def _namespaces(*, host: set[str], key: str, offset: int) -> tuple[model.NamespaceReport, ...]:
    return tuple(
        model.NamespaceReport(
            type=t,
            inode=_HOST_INODES[t] if t in host else 4026532000 + offset * 10 + i,
            sharing="host" if t in host else "private",
            shared_with=(),
        )
        for i, t in enumerate(model.NAMESPACE_TYPES)
    )


def _identity(
    *, root_host_uid: int | None, mode: model.UsernsMode, privileged: bool, uid: int = 0
) -> model.IdentityReport:
    entry = model.IdMapEntry(0, root_host_uid or 0, 4294967295 if mode == "host" else 65536)
    return model.IdentityReport(
        uid=uid,
        gid=uid,
        root_host_uid=root_host_uid,
        userns_mode=mode,
        uid_map=(entry,),
        gid_map=(entry,),
        capabilities=("CAP_CHOWN", "CAP_SYS_ADMIN") if privileged else ("CAP_CHOWN",),
        cap_eff_hex="000001fffeffffff" if privileged else "0000000000000001",
        privileged=privileged,
    )


def _memory(*, anon: int, file: int, shmem: int, inactive: int, limit: int | None) -> model.MemoryReport:
    usage = anon + file
    return model.MemoryReport(
        cgroup_version=1,
        anon=anon,
        file=file,
        active_file=file - inactive - shmem,
        inactive_file=inactive,
        shmem=shmem,
        mapped_file=4096,
        usage=usage,
        working_set=max(usage - inactive, 0),
        limit=limit,
        explanation="fixture",
    )


def _cgroup(*, limit: int | None, quota: float | None) -> model.CgroupReport:
    return model.CgroupReport(
        version=1,
        cpu_quota_cores=quota,
        cpu_period_us=100000 if quota is not None else None,
        memory_limit_bytes=limit,
        pids_limit=None,
    )


def _tmp(
    backing: model.TmpBacking, fstype: str, *, size: int | model.Unknown, used: int | model.Unknown
) -> model.TmpReport:
    return model.TmpReport(
        backing=backing,
        fstype=fstype,
        source="nsprobe-tmp" if fstype == "tmpfs" else "overlay",
        mount_point="/tmp" if fstype == "tmpfs" else "/",
        size_bytes=size,
        used_bytes=used,
        counts_against_memory_limit=fstype == "tmpfs",
    )


def container(
    *,
    key: str,
    pod_uid: str | None,
    tmp: model.TmpReport | model.Unknown,
    memory: model.MemoryReport | model.Unknown,
    namespaces: tuple[model.NamespaceReport, ...] | model.Unknown,
    identity: model.IdentityReport | model.Unknown,
    root: model.RootReport | model.Unknown,
    cgroup: model.CgroupReport | model.Unknown,
    ipc: model.IpcReport | model.Unknown,
    codes: tuple[str, ...] = (),
) -> model.ContainerReport:
    kube = pod_uid is not None
    report = model.ContainerReport(
        ref=model.ContainerRef(
            key=key,
            pod_uid=pod_uid,
            container_id=key if kube else None,
            runtime="containerd" if kube else None,
            qos_class="burstable" if kube else None,
            cgroup_path=f"/kubepods/burstable/pod{pod_uid}/{key}" if kube else "/",
            display_name=key[:12],
        ),
        pid=17563,
        start_time_ticks=123456,
        process_count=1,
        tmp=tmp,
        memory=memory,
        namespaces=namespaces,
        identity=identity,
        root=root,
        cgroup=cgroup,
        ipc=ipc,
        findings=tuple(
            model.Finding(
                code, findings.CATALOGUE[code].severity, key, findings.CATALOGUE[code].title, "fixture"
            )
            for code in codes
        ),
    )
    return report


PIVOT = model.RootReport("pivot_root", "fixture")
IPC = model.IpcReport(shm_segments=1, shm_bytes=4 * MiB, msg_queues=0, semaphore_sets=0)
WEB = "b8f54dcf133f4195975df955cc4ab682763cbb0bbf1e4854a359ba6beb301a3d"
API = "1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e"
PROXY = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0"
PARTIAL = "aaaabbbbccccddddeeeeffff00001111222233334444555566667777888899990"[:64]
UNNAMED = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"


def node_report(*, meminfo: model.MemInfoReport | model.Unknown | None = None) -> model.NodeReport:
    return model.NodeReport(
        kernel_release="6.18.0",
        cgroup_layout="hybrid",
        userns_supported=True,
        max_user_namespaces=63304,
        meminfo=meminfo
        if meminfo is not None
        else model.MemInfoReport(
            mem_total=24 * 1024 * MiB,
            mem_free=20 * 1024 * MiB,
            mem_available=22 * 1024 * MiB,
            buffers=64 * MiB,
            cached=1500 * MiB,
            shmem=80 * MiB,
        ),
        tmp=model.Unknown("not exported"),
        host_namespaces=dict(_HOST_INODES),
        host_reference_pid=2,
    )


def scan_result(
    containers: tuple[model.ContainerReport, ...], **node: model.MemInfoReport | model.Unknown
) -> model.ScanResult:
    return model.ScanResult(
        node=node_report(**node),
        containers=containers,
        errors=(),
        kubernetes=True,
        duration_seconds=0.042,
        scanned_at=1795900000.0,
    )


def fixture_containers() -> tuple[model.ContainerReport, ...]:
    """Five containers covering every section's shapes: host root on tmpfs, private userns on overlay,
    a host-namespace sharer, one with unknown sections, one the agent has no name for, and a
    namespace-set group found without Kubernetes."""
    return (
        container(
            key=WEB,
            pod_uid="b59b1c1c-2954-4e5e-94fb-9637fa7693ff",
            tmp=_tmp("tmpfs", "tmpfs", size=64 * MiB, used=4 * MiB),
            memory=_memory(anon=26 * MiB, file=5 * MiB, shmem=4 * MiB, inactive=0, limit=256 * MiB),
            namespaces=_namespaces(host={"user", "time"}, key=WEB, offset=1),
            identity=_identity(root_host_uid=0, mode="host", privileged=False),
            root=PIVOT,
            cgroup=_cgroup(limit=256 * MiB, quota=0.5),
            ipc=IPC,
            codes=("ROOT_IN_HOST_USERNS", "TMPFS_COUNTS_AGAINST_MEMORY", "HOSTUSERS_FALSE_CANDIDATE"),
        ),
        container(
            key=API,
            pod_uid="3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f",
            tmp=_tmp("container-rootfs", "overlay", size=40 * 1024 * MiB, used=12 * 1024 * MiB),
            memory=_memory(anon=700 * MiB, file=700 * MiB, shmem=0, inactive=200 * MiB, limit=None),
            namespaces=_namespaces(host={"time"}, key=API, offset=2),
            identity=_identity(root_host_uid=100000, mode="private", privileged=False),
            root=PIVOT,
            cgroup=_cgroup(limit=None, quota=None),
            ipc=model.IpcReport(0, 0, 0, 0),
            codes=("TMP_ON_NODE_DISK", "PAGE_CACHE_INFLATES_WORKING_SET"),
        ),
        container(
            key=PROXY,
            pod_uid="5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
            tmp=_tmp("container-rootfs", "overlay", size=40 * 1024 * MiB, used=12 * 1024 * MiB),
            memory=_memory(anon=30 * MiB, file=2 * MiB, shmem=0, inactive=MiB, limit=None),
            namespaces=_namespaces(
                host={"net", "pid", "ipc", "uts", "user", "cgroup", "time"}, key=PROXY, offset=3
            ),
            identity=_identity(root_host_uid=0, mode="host", privileged=True),
            root=model.RootReport("chroot", "fixture"),
            cgroup=_cgroup(limit=None, quota=2.0),
            ipc=IPC,
            codes=(
                "ROOT_IN_HOST_USERNS",
                "PRIVILEGED_CONTAINER",
                "HOST_PID_NAMESPACE",
                "HOST_NETWORK_NAMESPACE",
                "HOST_IPC_NAMESPACE",
                "CHROOT_ONLY_ROOT",
                "TMP_ON_NODE_DISK",
            ),
        ),
        container(
            key=PARTIAL,
            pod_uid="7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
            tmp=_tmp(
                "tmpfs",
                "fuse.\x1b[31mevil",
                size=model.Unknown("permission: statvfs"),
                used=model.Unknown("permission: statvfs"),
            ),
            memory=model.Unknown("vanished: no such file or process: memory.stat"),
            namespaces=model.Unknown("permission: permission denied: /proc/17563/ns/net"),
            identity=model.Unknown("permission: permission denied: /proc/17563/uid_map"),
            root=model.Unknown("permission: permission denied: /proc/17563/root"),
            cgroup=_cgroup(limit=128 * MiB, quota=None),
            ipc=model.Unknown("disabled"),
        ),
        container(
            key=UNNAMED,
            pod_uid="9c0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f",
            tmp=_tmp("emptydir-memory", "tmpfs", size=32 * MiB, used=0),
            memory=_memory(anon=8 * MiB, file=0, shmem=0, inactive=0, limit=None),
            namespaces=_namespaces(host={"user", "time"}, key=UNNAMED, offset=5),
            identity=_identity(root_host_uid=1000, mode="host", privileged=False, uid=1000),
            root=PIVOT,
            cgroup=_cgroup(limit=None, quota=None),
            ipc=IPC,
            codes=("TMPFS_COUNTS_AGAINST_MEMORY", "HOSTUSERS_FALSE_CANDIDATE"),
        ),
        container(
            key="nsset-5f2c9a7e1b3d",
            pod_uid=None,
            tmp=_tmp("tmpfs", "tmpfs", size=16 * MiB, used=MiB),
            memory=model.Unknown("unavailable: not in a memory cgroup of its own"),
            namespaces=_namespaces(host={"time", "cgroup"}, key="nsset", offset=6),
            identity=_identity(root_host_uid=0, mode="private-root-mapped-to-host-root", privileged=False),
            root=PIVOT,
            cgroup=model.Unknown("unavailable: not in a kubepods cgroup"),
            ipc=IPC,
            codes=("USERNS_ROOT_MAPS_TO_HOST_ROOT", "TMPFS_COUNTS_AGAINST_MEMORY"),
        ),
    )


NAMES = {
    WEB: collector.ContainerName("shop", "web-7d9f8b6c5-x2x9q", "app"),
    API: collector.ContainerName("shop", "api-5c4b3a2-9k8j7", "api"),
    PROXY: collector.ContainerName("kube-system", "kube-proxy-8xk2p", "kube-proxy"),
    PARTIAL: collector.ContainerName("batch", "report-28901234-abcde", "report"),
}


def snapshot() -> collector.Snapshot:
    return collector.Snapshot(node=NODE, result=scan_result(fixture_containers()), names=NAMES)
