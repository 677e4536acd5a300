"""Writes the NsProbeConfig summary (nodes covered, agents ready, findings by code) (the summary loop)."""

from __future__ import annotations

import datetime
import time
import typing

from nsprobe import kube
from nsprobe.manifests import probes as probe_manifests
from nsprobe.models import status as status_mod
from nsprobe.reconcile import agent as agent_reconcile
from nsprobe.reconcile import probes as probe_reconcile
from nsprobe.reconcile import state as state_mod


def nodes_covered(state: state_mod.OperatorState, *, now: float) -> tuple[int, int]:
    """(covered, total): NodeProbes whose agent heartbeat is fresh (within 3 heartbeats), and all of them."""
    covered = total = 0
    for page in state.client.list_pages(kube.Kube.custom_path(probe_manifests.NODE_PROBE_PLURAL)):
        for probe in page.get("items") or ():
            total += 1
            status = probe.get("status") or {}
            beat = status.get("heartbeatAt")
            if not isinstance(beat, str):
                continue
            try:
                when = datetime.datetime.strptime(beat, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
            except ValueError:
                continue
            if now - when.timestamp() <= 3 * float(status.get("heartbeatSeconds") or 300):
                covered += 1
    return covered, total


def build_status(
    *,
    covered: int,
    nodes: int,
    ready: int,
    desired: int,
    findings: dict[str, int],
    pod_probes: int,
    now: float,
    previous: typing.Mapping[str, typing.Any] | None,
) -> dict[str, typing.Any]:
    ok = desired > 0 and ready == desired
    reason = "AgentsReady" if ok else ("NoAgents" if desired == 0 else "AgentsNotReady")
    cond = status_mod.condition(
        type_="Ready", ok=ok, reason=reason, message=f"{ready} of {desired} agents ready", now=now
    )
    for old in (previous or {}).get("conditions") or ():
        if (old.get("type"), old.get("status"), old.get("reason")) == ("Ready", cond["status"], reason):
            cond["lastTransitionTime"] = old.get("lastTransitionTime", cond["lastTransitionTime"])
    return {
        "nodesCovered": covered,
        "nodes": nodes,
        "agentsReady": ready,
        "agentsDesired": desired,
        "podProbes": pod_probes,
        "findingsByCode": findings,
        "conditions": [cond],
    }


def refresh(
    state: state_mod.OperatorState, config_body: typing.Mapping[str, typing.Any]
) -> dict[str, typing.Any]:
    """Sweep orphans, keep the DaemonSet, and write the summary if it changed. Returns the summary."""
    agent_reconcile.ensure_daemonset(state, config_body)
    deleted, kept, findings = probe_reconcile.sweep(state)
    now = time.time()
    covered, nodes = nodes_covered(state, now=now)
    ready, desired = agent_reconcile.agents_status(state)
    previous = config_body.get("status") or {}
    status = build_status(
        covered=covered,
        nodes=nodes,
        ready=ready,
        desired=desired,
        findings=findings,
        pod_probes=kept,
        now=now,
        previous=previous,
    )
    current = {k: previous.get(k) for k in status}
    if current != status:
        name = str((config_body.get("metadata") or {}).get("name"))
        patch = dict(status)
        # A merge patch keeps map keys it does not mention: codes that went away must be set to null.
        gone = set(previous.get("findingsByCode") or {}) - set(findings)
        patch["findingsByCode"] = {**findings, **dict.fromkeys(gone)}
        state.client.merge_status(kube.Kube.custom_path("nsprobeconfigs", name=name), patch)
    status["orphansDeleted"] = deleted
    return status


def refresh_current(state: state_mod.OperatorState) -> dict[str, typing.Any] | None:
    """refresh() for the operator's config as the API holds it now; None when there is no config."""
    try:
        body = state.client.get(kube.Kube.custom_path("nsprobeconfigs", name=state.config_name))
    except kube.NotFoundError:
        return None
    if (body.get("metadata") or {}).get("deletionTimestamp"):
        return None
    return refresh(state, body)
