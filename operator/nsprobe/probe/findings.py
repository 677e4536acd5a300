"""Finding codes: the stable catalogue (read by `kubectl nsprobe explain`) and pure evaluation of a report."""

from __future__ import annotations

import dataclasses

from nsprobe.probe import assemble, model

_HOST_NAMESPACE_CODES: dict[model.NamespaceType, str] = {
    "pid": "HOST_PID_NAMESPACE",
    "net": "HOST_NETWORK_NAMESPACE",
    "ipc": "HOST_IPC_NAMESPACE",
    "mnt": "HOST_MOUNT_NAMESPACE",
}
# A cache share above this (and above the floor) is worth telling a user who reads `kubectl top`.
_CACHE_SHARE_THRESHOLD = 0.3
_CACHE_FLOOR_BYTES = 32 * assemble.MiB


@dataclasses.dataclass(frozen=True)
class CodeInfo:
    code: str
    severity: model.Severity
    title: str
    explanation: str
    remedy: str


CATALOGUE: dict[str, CodeInfo] = {
    info.code: info
    for info in (
        CodeInfo(
            "ROOT_IN_HOST_USERNS",
            "critical",
            "Container root is the node's root",
            "The container's processes run as uid 0 in the node's own user namespace. That uid 0 is the "
            "same root that owns the node: any kernel bug, writable host mount or container escape hands "
            "an attacker full control of the node. Container runtimes limit it with capabilities, seccomp "
            "and LSMs, but the identity itself is host root.",
            "Run as a non-root user (securityContext.runAsNonRoot: true, runAsUser), or give the pod its "
            "own user namespace with spec.hostUsers: false (Kubernetes 1.33+, a kernel and runtime with "
            "idmapped mounts).",
        ),
        CodeInfo(
            "USERNS_ROOT_MAPS_TO_HOST_ROOT",
            "high",
            "Private user namespace whose root maps to host root",
            "The container has a user namespace of its own, but its uid_map sends uid 0 to uid 0 on the "
            "node (for example '0 0 4294967295' or '0 0 1'). The namespace looks isolated, yet files it "
            "creates on shared mounts are owned by host root and host-root-owned files are its own.",
            "Map container root to an unprivileged host range (e.g. '0 100000 65536'); with Kubernetes, "
            "use spec.hostUsers: false and let the kubelet pick the range.",
        ),
        CodeInfo(
            "HOST_PID_NAMESPACE",
            "high",
            "Shares the node's PID namespace",
            "The container sees every process on the node and, with enough privilege, can signal, trace "
            "or read them (/proc/<pid>/root, environ).",
            "Remove spec.hostPID: true unless the workload is a node agent that needs it.",
        ),
        CodeInfo(
            "HOST_NETWORK_NAMESPACE",
            "high",
            "Shares the node's network namespace",
            "The container uses the node's interfaces, ports and loopback services directly, bypassing "
            "NetworkPolicy and reaching services bound to 127.0.0.1 on the node.",
            "Remove spec.hostNetwork: true; expose ports through a Service instead.",
        ),
        CodeInfo(
            "HOST_IPC_NAMESPACE",
            "high",
            "Shares the node's IPC namespace",
            "SysV shared memory, semaphores and message queues of the node and of other hostIPC pods are "
            "visible and, with matching permissions, writable.",
            "Remove spec.hostIPC: true.",
        ),
        CodeInfo(
            "HOST_MOUNT_NAMESPACE",
            "critical",
            "Shares the node's mount namespace",
            "The container sees the node's mount table as its own: it is not a container filesystem at "
            "all. This happens to processes that entered the host with nsenter or to misconfigured "
            "runtimes.",
            "Find the process (nsprobe scan --pid) and stop running it in the host mount namespace.",
        ),
        CodeInfo(
            "CHROOT_ONLY_ROOT",
            "high",
            "Root set by chroot only (escapable)",
            "The process's root is a chroot inside a mount namespace that still contains the node's root "
            'filesystem. A process with CAP_SYS_CHROOT escapes with the classic chroot("x"); '
            'chdir("../../.."); chroot("."). Runtimes use pivot_root so that the old root is gone.',
            "Use a runtime configuration that pivot_roots (runc without --no-pivot, the default); drop "
            "CAP_SYS_CHROOT.",
        ),
        CodeInfo(
            "TMP_ON_NODE_DISK",
            "low",
            "/tmp is on the node's disk, not in memory",
            "Files written to /tmp go to the container's writable overlay layer (or a disk-backed emptyDir "
            "or hostPath) on the node's disk. They do not count against the memory limit, but their page "
            "cache shows up as 'cache' in free and in the pod's memory usage, and they consume node "
            "ephemeral storage.",
            "If /tmp should be RAM, mount an emptyDir with medium: Memory and a sizeLimit at /tmp; if disk "
            "is intended, set ephemeral-storage requests and limits.",
        ),
        CodeInfo(
            "TMPFS_COUNTS_AGAINST_MEMORY",
            "medium",
            "/tmp is tmpfs and its bytes count against the memory limit",
            "/tmp is memory-backed (tmpfs or an emptyDir with medium: Memory). Every byte written there is "
            "shmem charged to the container's memory cgroup, is part of the working set, and cannot be "
            "reclaimed while the file exists: a full /tmp can OOM-kill the container.",
            "Give the emptyDir a sizeLimit below the memory limit, clean /tmp, or move large files to a "
            "disk-backed volume.",
        ),
        CodeInfo(
            "PAGE_CACHE_INFLATES_WORKING_SET",
            "info",
            "Page cache makes kubectl top look larger than the process",
            "The working set that kubectl top shows is usage minus inactive page cache. Recently used file "
            "cache (active_file) still counts, so a service that reads or writes big files looks far "
            "larger than its anonymous memory. The kernel reclaims this cache under pressure.",
            "Nothing is wrong. Judge the process by anon memory; alert on working set only near the limit.",
        ),
        CodeInfo(
            "HOSTUSERS_FALSE_CANDIDATE",
            "low",
            "Could run with hostUsers: false",
            "The container runs in the node's user namespace but shares no host namespace and is not "
            "privileged, so it would most likely run unchanged in a user namespace of its own, where its "
            "root is not the node's root.",
            "Try spec.hostUsers: false on the pod (Kubernetes 1.33+ with a supporting runtime and kernel).",
        ),
        CodeInfo(
            "PRIVILEGED_CONTAINER",
            "high",
            "Holds every capability of the node",
            "The container's effective capability set is the node's full bounding set in the node's user "
            "namespace: it can load modules, mount filesystems and reconfigure the kernel.",
            "Drop privileged: true and grant only the capabilities the workload needs.",
        ),
    )
}


def evaluate(report: model.ContainerReport) -> tuple[model.Finding, ...]:
    """Every finding for one container. Unknown sections produce no finding (never a guess)."""
    codes: list[tuple[str, str]] = []
    identity = report.identity
    host_namespaces: set[model.NamespaceType] = set()
    if not isinstance(report.namespaces, model.Unknown):
        host_namespaces = {ns.type for ns in report.namespaces if ns.sharing == "host"}
    if isinstance(identity, model.IdentityReport):
        if identity.userns_mode == "host" and identity.uid == 0:
            codes.append(("ROOT_IN_HOST_USERNS", "container uid 0 is host uid 0 (user namespace: host)"))
        if identity.userns_mode == "private-root-mapped-to-host-root":
            codes.append(("USERNS_ROOT_MAPS_TO_HOST_ROOT", "uid_map sends container uid 0 to host uid 0"))
        if identity.privileged:
            codes.append(("PRIVILEGED_CONTAINER", f"effective capabilities {identity.cap_eff_hex}"))
    for ns_type, code in _HOST_NAMESPACE_CODES.items():
        if ns_type in host_namespaces:
            codes.append((code, f"{ns_type} namespace is the host's"))
    if isinstance(report.root, model.RootReport) and report.root.kind == "chroot":
        codes.append(("CHROOT_ONLY_ROOT", report.root.explanation))
    tmp = report.tmp
    if isinstance(tmp, model.TmpReport):
        if tmp.backing in ("container-rootfs", "emptydir-disk", "hostpath"):
            codes.append(("TMP_ON_NODE_DISK", f"/tmp is {tmp.backing} ({tmp.fstype} {tmp.source})"))
        elif tmp.counts_against_memory_limit:
            used = tmp.used_bytes if isinstance(tmp.used_bytes, int) else None
            detail = f"/tmp is {tmp.backing}" + (
                f", {assemble.fmt_bytes(used)} used" if used is not None else ""
            )
            codes.append(("TMPFS_COUNTS_AGAINST_MEMORY", detail))
    memory = report.memory
    if isinstance(memory, model.MemoryReport) and memory.working_set > 0:
        cache = min(memory.active_file, memory.working_set)
        if cache >= _CACHE_FLOOR_BYTES and cache / memory.working_set >= _CACHE_SHARE_THRESHOLD:
            codes.append(("PAGE_CACHE_INFLATES_WORKING_SET", memory.explanation))
    if (
        isinstance(identity, model.IdentityReport)
        and identity.userns_mode == "host"
        and not identity.privileged
        and not host_namespaces & {"pid", "net", "ipc", "mnt"}
        and report.ref.pod_uid is not None
    ):
        codes.append(("HOSTUSERS_FALSE_CANDIDATE", "no host namespace shared and not privileged"))
    return tuple(
        model.Finding(
            code=code,
            severity=CATALOGUE[code].severity,
            container=report.ref.key,
            message=f"{CATALOGUE[code].title}: {detail}",
            remedy=CATALOGUE[code].remedy,
        )
        for code, detail in codes
    )
