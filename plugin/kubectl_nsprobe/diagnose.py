"""Pure judgements on cluster objects: report staleness and why a pod has no report; used by commands.py."""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import typing

Obj = dict[str, typing.Any]

STALE_INTERVALS = 3  # a report older than this many scan intervals is stale


@dataclasses.dataclass(frozen=True)
class Freshness:
    """How old the evidence of a live agent is, and whether that is more than STALE_INTERVALS intervals."""

    age_seconds: float | None  # None when there is no usable time
    interval_seconds: float | None  # None when the object does not say its interval
    stale: bool
    basis: str  # what the age measures, for the reader: "agent heartbeat" or "report"

    @property
    def limit_seconds(self) -> float | None:
        return None if self.interval_seconds is None else STALE_INTERVALS * self.interval_seconds


def parse_time(value: object) -> datetime.datetime | None:
    """An RFC 3339 timestamp as the API server writes it, or None when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value)


def freshness(*, observed: object, interval: object, now: datetime.datetime, basis: str) -> Freshness:
    when = parse_time(observed)
    seconds = _number(interval)
    age = None if when is None else (now - when).total_seconds()
    stale = age is not None and seconds is not None and age > STALE_INTERVALS * seconds
    return Freshness(age_seconds=age, interval_seconds=seconds, stale=stale, basis=basis)


def node_probe_freshness(node_probe: Obj, *, now: datetime.datetime) -> Freshness:
    """Is the node's agent alive? It beats (status.heartbeatAt) every heartbeatSeconds even when nothing
    changed; an agent without heartbeat fields is judged by its last scan and scanIntervalSeconds."""
    status = node_probe.get("status") or {}
    if status.get("heartbeatAt"):
        return freshness(
            observed=status["heartbeatAt"],
            interval=status.get("heartbeatSeconds"),
            now=now,
            basis="agent heartbeat",
        )
    last_scan = status.get("lastScan") if isinstance(status.get("lastScan"), dict) else {}
    return freshness(
        observed=(last_scan or {}).get("time"),
        interval=status.get("scanIntervalSeconds"),
        now=now,
        basis="last scan",
    )


def pod_probe_freshness(probe: Obj, *, now: datetime.datetime, node_probe: Obj | None = None) -> Freshness:
    """Is a pod's report current? The agent rewrites it only when the answer changes, so an old observedAt
    on a quiet pod is normal: the report is current while the agent on its node is alive. Without that
    node's NodeProbe, fall back to observedAt against STALE_INTERVALS scan intervals."""
    if node_probe is not None and (node_probe.get("status") or {}).get("heartbeatAt"):
        return node_probe_freshness(node_probe, now=now)
    status = probe.get("status") or {}
    return freshness(
        observed=status.get("observedAt"), interval=status.get("scanIntervalSeconds"), now=now, basis="report"
    )


def has_report(probe: Obj | None) -> bool:
    """True when a PodProbe carries at least one container's kernel facts."""
    if not probe:
        return False
    containers = (probe.get("status") or {}).get("containers")
    return isinstance(containers, list) and bool(containers)


def namespace_exclusion(namespace: str, config: Obj | None) -> str | None:
    """Why NsProbeConfig excludes `namespace` (spec.namespaces.include/exclude, glob patterns), or None."""
    if not config:
        return None
    spec = config.get("spec") or {}
    rules = spec.get("namespaces") or {}
    if not isinstance(rules, dict):
        return None
    name = (config.get("metadata") or {}).get("name", "default")
    exclude = [p for p in rules.get("exclude") or [] if isinstance(p, str)]
    include = [p for p in rules.get("include") or [] if isinstance(p, str)]
    for pattern in exclude:
        if fnmatch.fnmatchcase(namespace, pattern):
            return (
                f'namespace {namespace} is excluded by NsProbeConfig "{name}" '
                f"(spec.namespaces.exclude: {pattern})"
            )
    if include and not any(fnmatch.fnmatchcase(namespace, p) for p in include):
        return (
            f'namespace {namespace} is not in NsProbeConfig "{name}" spec.namespaces.include '
            f"({', '.join(include)})"
        )
    return None


def _reported_condition(probe: Obj | None) -> Obj | None:
    for condition in ((probe or {}).get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Reported":
            return condition
    return None


def _waiting_reasons(pod: Obj) -> list[str]:
    reasons = []
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        waiting = (status.get("state") or {}).get("waiting") or {}
        if waiting.get("reason"):
            reasons.append(f"{status.get('name', '?')}: {waiting['reason']}")
    return reasons


def why_no_report(
    *,
    pod: Obj,
    probe: Obj | None,
    node_probe: Obj | None,
    node_probe_known: bool,
    config: Obj | None,
    now: datetime.datetime,
) -> str:
    """One paragraph on why the pod has no report. `node_probe_known` is False when it could not be read."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    namespace = metadata.get("namespace", "")
    phase = status.get("phase") or "Unknown"
    node = spec.get("nodeName")
    if metadata.get("deletionTimestamp"):
        return "the pod is being deleted; nsprobe does not report on terminating pods."
    if phase in ("Succeeded", "Failed"):
        return f"the pod has finished (phase {phase}): it has no running containers to scan."
    if not node:
        scheduled: Obj = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {}
        )
        detail = f" ({scheduled['message']})" if scheduled.get("message") else ""
        return f"the pod is Pending and not scheduled to a node yet{detail}; nsprobe reports once it runs."
    if phase == "Pending":
        waiting = _waiting_reasons(pod)
        detail = f" (waiting: {', '.join(waiting)})" if waiting else ""
        return (
            f"the pod is Pending on node {node}: its containers have not started{detail}, so there are no "
            "processes to scan yet."
        )
    excluded = namespace_exclusion(namespace, config)
    if excluded:
        return f"{excluded}, so no agent scans it."
    check = f"check with\n  kubectl get pods -A -o wide --field-selector spec.nodeName={node}"
    if node_probe_known and node_probe is None:
        return (
            f"no nsprobe agent reports from node {node}: there is no NodeProbe {node} (the nsprobe "
            f"operator creates one per node; is it running?). To see what runs on the node, {check}"
        )
    if node_probe is not None and not (node_probe.get("status") or {}):
        return (
            f"no nsprobe agent has reported from node {node} (NodeProbe {node} has no status). The agent "
            f"DaemonSet may not run there (taints, nodeSelector) or may be failing; {check}"
        )
    if node_probe is not None:
        fresh = node_probe_freshness(node_probe, now=now)
        if fresh.stale and fresh.age_seconds is not None:
            return (
                f"the nsprobe agent on node {node} last reported {human_duration(fresh.age_seconds)} ago, "
                f"more than {STALE_INTERVALS} scan intervals: it is down or cannot reach the API server."
            )
    condition = _reported_condition(probe)
    if condition and condition.get("status") != "True":
        reason = condition.get("reason") or "NotReported"
        message = condition.get("message")
        detail = f"{reason}: {message}" if message else str(reason)
        return f"the agent on node {node} could not report this pod: {detail}."
    if probe is None:
        return (
            "there is no PodProbe for this pod yet: the nsprobe operator creates one per pod. Check that "
            "the operator is running (kubectl get pods -A -l app.kubernetes.io/name=nsprobe)."
        )
    interval = _number((probe.get("status") or {}).get("scanIntervalSeconds"))
    when = f" (every {human_duration(interval)})" if interval else ""
    return f"the agent on node {node} has not scanned this pod yet; it should report at its next scan{when}."


def human_duration(seconds: float) -> str:
    """kubectl's AGE format (apimachinery duration.HumanDuration)."""
    total = int(seconds)
    if total < -1:
        return "<invalid>"
    if total < 0:
        return "0s"
    if total < 120:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = total // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d{rest}h" if rest else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y{rest}d" if rest else f"{hours // 24 // 365}y"
    return f"{hours // 24 // 365}y"
