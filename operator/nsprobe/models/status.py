"""Builds PodProbe and NodeProbe status dicts from probe reports; called by the agent, read by the plugin.

The status is the probe's report (probe.serialize, camelCase) per container, plus a ``summary`` whose
scalars feed the CRD printer columns, the findings with Kubernetes container names, and conditions.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import typing

from nsprobe.probe import model, serialize

Status = dict[str, typing.Any]
_SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
# The HOST-NS column lists the namespaces whose sharing is a risk. Every ordinary container shares the
# host's user (reported as ROOT-IN-HOST-USERNS), cgroup and time namespaces, so they would only be noise.
_RISKY_HOST_NAMESPACES = ("mnt", "pid", "net", "ipc", "uts")
# Memory numbers churn on every scan; status carries them only when they move by more than this.
HYSTERESIS_FRACTION = 0.05
HYSTERESIS_FLOOR_BYTES = 4 * 1024 * 1024


def rfc3339(unix_time: float) -> str:
    return datetime.datetime.fromtimestamp(unix_time, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def container_status(
    report: model.ContainerReport,
    *,
    name: str,
    container_id: str,
    names_by_key: collections.abc.Mapping[str, str],
) -> Status:
    """One entry of status.containers. ``names_by_key`` turns probe keys into 'ns/pod/container' names."""
    body = serialize.to_dict(report)
    ref = body.pop("ref")
    body.pop("findings")
    body.pop("startTimeTicks")
    namespaces = body.get("namespaces")
    if isinstance(namespaces, list):
        for entry in namespaces:
            entry["sharedWith"] = sorted(
                {names_by_key.get(k, f"unknown/{k[:12]}") for k in entry["sharedWith"]}
            )
            entry.pop("inode", None)
    return {
        "name": name,
        "containerID": container_id,
        "runtime": ref.get("runtime"),
        "qosClass": ref.get("qosClass"),
        **body,
    }


def findings_status(
    reports: collections.abc.Iterable[tuple[str, model.ContainerReport]],
) -> list[Status]:
    return [
        {
            "code": f.code,
            "severity": f.severity,
            "container": name,
            "message": f.message,
            "remedy": f.remedy,
        }
        for name, report in reports
        for f in report.findings
    ]


def summary(containers: collections.abc.Sequence[model.ContainerReport]) -> Status:
    """Pod-level scalars for printer columns: sums of memory, the /tmp backings, host namespaces."""
    backings: list[str] = []
    host_ns: set[str] = set()
    working_set = cache = shmem = 0
    root_in_host_userns = False
    all_findings = [f for c in containers for f in c.findings]
    for report in containers:
        if isinstance(report.tmp, model.TmpReport) and report.tmp.backing not in backings:
            backings.append(report.tmp.backing)
        if isinstance(report.memory, model.MemoryReport):
            working_set += report.memory.working_set
            cache += report.memory.active_file + report.memory.inactive_file
            shmem += report.memory.shmem
        if isinstance(report.namespaces, tuple):
            host_ns.update(ns.type for ns in report.namespaces if ns.sharing == "host")
        if isinstance(report.identity, model.IdentityReport):
            root_in_host_userns |= report.identity.userns_mode == "host" and report.identity.uid == 0
    worst = min((_SEVERITY_ORDER.index(f.severity) for f in all_findings), default=None)
    return {
        "tmp": ",".join(backings) or "unknown",
        "workingSetBytes": working_set,
        "cacheBytes": cache,
        "shmemBytes": shmem,
        "hostNamespaces": ",".join(t for t in _RISKY_HOST_NAMESPACES if t in host_ns) or "-",
        "rootInHostUserns": root_in_host_userns,
        "findings": len(all_findings),
        "worstSeverity": _SEVERITY_ORDER[worst] if worst is not None else "none",
    }


def condition(*, type_: str, ok: bool, reason: str, message: str, now: float) -> Status:
    return {
        "type": type_,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": rfc3339(now),
    }


def node_status(result: model.ScanResult, *, agent_version: str) -> Status:
    node = serialize.to_dict(result.node)
    node.pop("hostNamespaces", None)
    node.pop("hostReferencePid", None)
    return {
        **node,
        "agentVersion": agent_version,
        "lastScan": {
            "time": rfc3339(result.scanned_at),
            "durationSeconds": round(result.duration_seconds, 4),
            "errors": len(result.errors),
            "containers": len(result.containers),
        },
    }


def memory_moved(old: int | None, new: int) -> bool:
    """Hysteresis: is a change of a memory figure worth a status write?"""
    if old is None:
        return True
    return abs(new - old) > max(HYSTERESIS_FLOOR_BYTES, HYSTERESIS_FRACTION * max(old, 1))


# --- PodProbe / NodeProbe documents as the agent writes them ------------------------------------------

REPORTED = "Reported"
# Reasons of the Reported condition. Scanned: every container has kernel facts. The others explain why a
# pod has no (or only a partial) report: nothing is ever invented for a container the agent can't see.
REASON_SCANNED = "Scanned"
REASON_POD_PENDING = "PodPending"
REASON_POD_NOT_RUNNING = "PodNotRunning"
REASON_CONTAINER_NOT_FOUND = "ContainerNotFound"
REASON_POD_NOT_ON_THIS_NODE = "PodNotOnThisNode"
REASON_EXCLUDED_NAMESPACE = "ExcludedNamespace"
REASON_SCAN_FAILED = "ScanFailed"
REASON_STATUS_TOO_LARGE = "StatusTooLarge"
# Keys whose values change on their own between scans without the answer changing: they are refreshed
# whenever something else is written, and never cause a write by themselves.
_VOLATILE_KEYS = frozenset(
    {"observedAt", "lastTransitionTime", "explanation", "processCount", "durationSeconds", "heartbeatAt"}
)
# Byte counts that churn on every scan; a write happens only when one moves past memory_moved().
_HYSTERESIS_KEYS = frozenset(
    {
        "workingSetBytes",
        "cacheBytes",
        "shmemBytes",
        "anon",
        "file",
        "activeFile",
        "inactiveFile",
        "shmem",
        "mappedFile",
        "usage",
        "workingSet",
        "usedBytes",
        "memFree",
        "memAvailable",
        "buffers",
        "cached",
    }
)


@dataclasses.dataclass(frozen=True)
class PodView:
    """What the agent needs of a Pod: identity, phase and the kubelet's container IDs by name."""

    namespace: str
    name: str
    uid: str
    phase: str
    node_name: str
    # (container id without the runtime:// prefix, Kubernetes container name, full containerID), by name
    containers: tuple[tuple[str, str, str], ...]
    deleting: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def pod_view(pod: typing.Mapping[str, typing.Any]) -> PodView:
    """A PodView from a Pod as the API returns it (plain JSON)."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    containers: list[tuple[str, str, str]] = []
    for group in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for entry in status.get(group) or ():
            full = entry.get("containerID") or ""
            if "://" in full:
                containers.append((full.split("://", 1)[1], str(entry.get("name", "")), full))
    return PodView(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        phase=str(status.get("phase") or "Pending"),
        node_name=str((pod.get("spec") or {}).get("nodeName") or ""),
        containers=tuple(sorted(containers, key=lambda c: (c[1], c[0]))),  # by container name
        deleting=bool(meta.get("deletionTimestamp")),
    )


def names_by_key(
    reports: collections.abc.Iterable[model.ContainerReport],
    pods_by_uid: collections.abc.Mapping[str, PodView],
) -> dict[str, str]:
    """Probe keys -> 'namespace/pod/container' for every container the scan saw, so sharedWith reads well.
    A container of a known pod that the kubelet doesn't list (the sandbox) gets its id's first 12 digits."""
    out: dict[str, str] = {}
    for report in reports:
        pod = pods_by_uid.get(report.ref.pod_uid or "")
        if pod is None:
            continue
        name = next((n for cid, n, _ in pod.containers if cid == report.ref.container_id), None)
        out[report.ref.key] = f"{pod.namespace}/{pod.name}/{name or report.ref.key[:12]}"
    return out


def _carry_transition(new: Status, previous: Status | None) -> Status:
    """Keep a condition's lastTransitionTime while its status and reason stay the same."""
    for old in (previous or {}).get("conditions") or ():
        if (old.get("type"), old.get("status"), old.get("reason")) == (
            new["type"],
            new["status"],
            new["reason"],
        ) and old.get("lastTransitionTime"):
            return {**new, "lastTransitionTime": old["lastTransitionTime"]}
    return new


def pod_probe_status(
    *,
    pod: PodView,
    reports: collections.abc.Sequence[model.ContainerReport],
    names: collections.abc.Mapping[str, str],
    scanned_at: float,
    scan_interval_seconds: int,
    excluded: bool = False,
    previous: Status | None = None,
) -> Status:
    """The PodProbe status for one pod from the node's scan. ``reports`` are every report of the scan whose
    pod uid is this pod's; ``previous`` is the status on the server (to keep condition transition times)."""
    body: Status = {
        "nodeName": pod.node_name,
        "podUID": pod.uid,
        "observedAt": rfc3339(scanned_at),
        "scanIntervalSeconds": scan_interval_seconds,
    }

    def finish(ok: bool, reason: str, message: str) -> Status:
        cond = condition(type_=REPORTED, ok=ok, reason=reason, message=message, now=scanned_at)
        body["conditions"] = [_carry_transition(cond, previous)]
        return body

    if excluded:
        return finish(
            False, REASON_EXCLUDED_NAMESPACE, f"namespace {pod.namespace} is excluded by NsProbeConfig"
        )
    if not pod.containers:
        if pod.phase == "Pending":
            return finish(False, REASON_POD_PENDING, "the kubelet reports no started container yet")
        return finish(
            False, REASON_POD_NOT_RUNNING, f"pod phase is {pod.phase} and no container ID is reported"
        )
    by_id = {r.ref.container_id: r for r in reports if r.ref.container_id}
    found: list[tuple[str, str, model.ContainerReport]] = []
    missing: list[tuple[str, str]] = []
    for cid, name, full in pod.containers:
        report = by_id.get(cid)
        if report is None:
            missing.append((name, full))
        else:
            found.append((name, full, report))
    if found:
        body["summary"] = summary([r for _, _, r in found])
        body["containers"] = [
            container_status(r, name=name, container_id=full, names_by_key=names) for name, full, r in found
        ]
        body["findings"] = findings_status((name, r) for name, _, r in found)
    if not missing:
        return finish(
            True, REASON_SCANNED, f"kernel facts for {len(found)} of {len(pod.containers)} containers"
        )
    if not reports and not found:
        # No cgroup of this pod uid at all: the pod's containers don't run here (yet, or any more).
        return finish(
            False,
            REASON_POD_NOT_ON_THIS_NODE,
            f"no kubepods cgroup of pod uid {pod.uid} on node {pod.node_name}",
        )
    which = ", ".join(f"{name} ({full[:80]})" for name, full in missing)
    return finish(
        False,
        REASON_CONTAINER_NOT_FOUND,
        f"kernel facts for {len(found)} of {len(pod.containers)} containers; not found on node "
        f"{pod.node_name}: {which}",
    )


def node_probe_status(
    result: model.ScanResult,
    *,
    agent_version: str,
    scan_interval_seconds: int,
    heartbeat_seconds: int,
    previous: Status | None = None,
) -> Status:
    """NodeProbe status: node_status(), the intervals that tell readers when it is stale, a condition."""
    body = node_status(result, agent_version=agent_version)
    body["scanIntervalSeconds"] = scan_interval_seconds
    body["heartbeatSeconds"] = heartbeat_seconds
    body["heartbeatAt"] = rfc3339(result.scanned_at)
    # Read errors come and go with process churn; their count (lastScan.errors) is volatile, so the message
    # that must stay stable between writes doesn't quote it.
    message = f"{len(result.containers)} containers scanned"
    cond = condition(type_=REPORTED, ok=True, reason=REASON_SCANNED, message=message, now=result.scanned_at)
    body["conditions"] = [_carry_transition(cond, previous)]
    return body


def significant_change(old: typing.Any, new: typing.Any, *, path: tuple[str, ...] = ()) -> bool:
    """Whether ``new`` differs from ``old`` (the status on the server) enough to be worth a write.

    Volatile keys never count; memory byte counts count only past memory_moved(); a finding's message
    (which quotes byte counts) counts only with its code, severity or container.
    """
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old.keys() | new.keys():
            if key in _VOLATILE_KEYS or (key == "message" and path[-1:] == ("findings",)):
                continue
            if path[-1:] == ("lastScan",) and key in ("time", "errors"):
                continue
            if key not in old or key not in new:
                return True
            if significant_change(old[key], new[key], path=(*path, key)):
                return True
        return False
    if isinstance(old, list) and isinstance(new, list):
        return len(old) != len(new) or any(
            significant_change(a, b, path=path) for a, b in zip(old, new, strict=True)
        )
    if (
        path
        and path[-1] in _HYSTERESIS_KEYS
        and isinstance(new, int)
        and isinstance(old, int)
        and not isinstance(new, bool)
    ):
        return memory_moved(old, new)
    return bool(old != new)
