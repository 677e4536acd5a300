"""Builds PodProbe and NodeProbe status dicts from probe reports; called by the agent, read by the plugin.

The status is the probe's report (probe.serialize, camelCase) per container, plus a ``summary`` whose
scalars feed the CRD printer columns, the findings with Kubernetes container names, and conditions.
"""

from __future__ import annotations

import collections.abc
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
            entry["sharedWith"] = sorted({names_by_key.get(k, f"unknown/{k[:12]}") for k in entry["sharedWith"]})
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
