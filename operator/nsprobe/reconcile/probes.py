"""Creates a PodProbe per bound pod and a NodeProbe per node, re-creates deleted ones, removes orphans.

Called by the pod, node and probe event handlers and the summary loop. Garbage collection (owner
references) removes a probe when its Pod or Node goes; the sweep covers what GC can't see: pods in
namespaces the config now excludes, and probes whose pod was replaced by a new pod of the same name.
"""

from __future__ import annotations

import contextlib
import datetime
import time
import typing

from nsprobe import kube
from nsprobe.manifests import probes as probe_manifests
from nsprobe.models import spec as spec_mod
from nsprobe.reconcile import state as state_mod

Body = typing.Mapping[str, typing.Any]
_SWEEP_GRACE_SECONDS = 30.0


def pod_probe_path(namespace: str, name: str | None = None) -> str:
    return kube.Kube.custom_path(probe_manifests.POD_PROBE_PLURAL, namespace=namespace, name=name)


def node_probe_path(name: str | None = None) -> str:
    return kube.Kube.custom_path(probe_manifests.NODE_PROBE_PLURAL, name=name)


def wants_probe(pod: Body, config: spec_mod.ConfigSpec) -> bool:
    meta = pod.get("metadata") or {}
    return bool(
        (pod.get("spec") or {}).get("nodeName")
        and not meta.get("deletionTimestamp")
        and config.namespaces.allows(str(meta.get("namespace", "")))
    )


def on_pod_event(state: state_mod.OperatorState, *, event_type: str | None, pod: Body) -> str:
    """One pod event (kopf on.event). Cheap when nothing is to be done: a dict lookup, no API call."""
    meta = pod.get("metadata") or {}
    key = f"{meta.get('namespace')}/{meta.get('name')}"
    if event_type == "DELETED":
        with state.lock:
            state.pod_probes.pop(key, None)  # its PodProbe goes by garbage collection
        return "forgotten"
    if not wants_probe(pod, state.config):
        return "ignored"
    with state.lock:
        if state.pod_probes.get(key) == meta.get("uid"):
            return "exists"
    return ensure_pod_probe(state, pod)


def ensure_pod_probe(state: state_mod.OperatorState, pod: Body) -> str:
    manifest = probe_manifests.build_pod_probe(pod)
    meta = manifest["metadata"]
    key = f"{meta['namespace']}/{meta['name']}"
    uid = str(pod["metadata"]["uid"])
    try:
        state.client.create(pod_probe_path(meta["namespace"]), manifest)
        outcome = "created"
    except kube.ConflictError:
        existing = state.client.get(pod_probe_path(meta["namespace"], meta["name"]))
        if (existing.get("spec") or {}).get("podUID") == uid:
            outcome = "exists"
        else:
            # Left over from an older pod of the same name that GC has not removed yet: replace it.
            old_uid = (existing.get("metadata") or {}).get("uid")
            with contextlib.suppress(kube.NotFoundError, kube.ConflictError):
                state.client.delete(pod_probe_path(meta["namespace"], meta["name"]), uid=old_uid)
            state.client.create(pod_probe_path(meta["namespace"]), manifest)
            outcome = "replaced"
    except kube.NotFoundError:
        return "namespace-gone"  # the namespace is being deleted along with the pod
    except kube.ForbiddenError as exc:
        if "being terminated" in str(exc):
            return "namespace-terminating"
        raise
    with state.lock:
        state.pod_probes[key] = uid
    return outcome


def on_pod_probe_event(state: state_mod.OperatorState, *, event_type: str | None, probe: Body) -> str:
    """A PodProbe deleted by hand while its pod still runs here is created again."""
    meta = probe.get("metadata") or {}
    namespace, name = str(meta.get("namespace")), str(meta.get("name"))
    key = f"{namespace}/{name}"
    pod_uid = (probe.get("spec") or {}).get("podUID")
    if event_type != "DELETED":
        with state.lock:
            state.pod_probes.setdefault(key, str(pod_uid))
        return "noted"
    with state.lock:
        if state.pod_probes.get(key) == pod_uid:
            state.pod_probes.pop(key, None)
    try:
        pod = state.client.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
    except kube.NotFoundError:
        return "pod-gone"
    if (pod.get("metadata") or {}).get("uid") != pod_uid or not wants_probe(pod, state.config):
        return "not-wanted"
    return ensure_pod_probe(state, pod)


def on_node_event(state: state_mod.OperatorState, *, event_type: str | None, node: Body) -> str:
    meta = node.get("metadata") or {}
    name = str(meta.get("name"))
    if event_type == "DELETED":
        with state.lock:
            state.node_probes.discard(name)
        return "forgotten"
    with state.lock:
        if name in state.node_probes or meta.get("deletionTimestamp"):
            return "exists"
    try:
        state.client.create(node_probe_path(), probe_manifests.build_node_probe(node))
        outcome = "created"
    except kube.ConflictError:
        outcome = "exists"
    with state.lock:
        state.node_probes.add(name)
    return outcome


def resync_pods(state: state_mod.OperatorState) -> int:
    """Ensure a PodProbe for every wanted pod (after the namespace filter changed); page by page."""
    created = 0
    for page in state.client.list_pages("/api/v1/pods", limit=250):
        for pod in page.get("items") or ():
            if wants_probe(pod, state.config) and on_pod_event(state, event_type=None, pod=pod) != "exists":
                created += 1
    return created


def sweep(state: state_mod.OperatorState) -> tuple[int, int, dict[str, int]]:
    """Delete orphan PodProbes; returns (deleted, kept, findings by code over the PodProbes kept).

    Pods are listed as metadata only and PodProbes page by page: memory follows the page, not the cluster.
    """
    started = time.time()
    live: dict[str, str] = {}
    for page in state.client.list_pages("/api/v1/pods", metadata_only=True):
        for item in page.get("items") or ():
            meta = item.get("metadata") or {}
            if not meta.get("deletionTimestamp"):
                live[f"{meta.get('namespace')}/{meta.get('name')}"] = str(meta.get("uid"))
    deleted = kept = 0
    findings: dict[str, int] = {}
    for page in state.client.list_pages(kube.Kube.custom_path(probe_manifests.POD_PROBE_PLURAL), limit=250):
        for probe in page.get("items") or ():
            meta = probe.get("metadata") or {}
            namespace, name = str(meta.get("namespace")), str(meta.get("name"))
            pod_uid = (probe.get("spec") or {}).get("podUID")
            key = f"{namespace}/{name}"
            orphan = live.get(key) != pod_uid or not state.config.namespaces.allows(namespace)
            # A probe newer than the pod list may belong to a pod the list missed: judge it next time.
            if orphan and _created_at(meta) <= started - _SWEEP_GRACE_SECONDS:
                try:
                    state.client.delete(pod_probe_path(namespace, name), uid=meta.get("uid"))
                    deleted += 1
                except (kube.NotFoundError, kube.ConflictError):
                    pass
                with state.lock:
                    if state.pod_probes.get(key) == pod_uid:
                        state.pod_probes.pop(key, None)
                continue
            kept += 1
            for finding in (probe.get("status") or {}).get("findings") or ():
                code = str(finding.get("code"))
                findings[code] = findings.get(code, 0) + 1
    return deleted, kept, dict(sorted(findings.items()))


def _created_at(meta: Body) -> float:
    try:
        stamp = datetime.datetime.strptime(str(meta.get("creationTimestamp")), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return 0.0
    return stamp.replace(tzinfo=datetime.UTC).timestamp()
