"""Keeps the agent DaemonSet as the NsProbeConfig asks; run by config handlers and the summary loop."""

from __future__ import annotations

import hashlib
import json
import typing

from nsprobe import kube
from nsprobe.manifests import agent as agent_manifest
from nsprobe.manifests import labels
from nsprobe.models import spec as spec_mod
from nsprobe.reconcile import state as state_mod

SPEC_HASH_ANNOTATION = "nsprobe.io/spec-hash"


def daemonset_path(namespace: str, name: str | None = None) -> str:
    path = f"/apis/apps/v1/namespaces/{namespace}/daemonsets"
    return f"{path}/{name}" if name else path


def desired(
    config_body: typing.Mapping[str, typing.Any], *, namespace: str, service_account: str = labels.AGENT_NAME
) -> kube.Json:
    """The DaemonSet for this config (raises spec.SpecError), stamped with a hash of itself."""
    config = spec_mod.parse_spec(config_body.get("spec"))
    meta = config_body.get("metadata") or {}
    owner = {
        "apiVersion": spec_mod.API_VERSION,
        "kind": "NsProbeConfig",
        "name": meta["name"],
        "uid": meta["uid"],
    }
    manifest = agent_manifest.build_daemonset(
        config, namespace=namespace, owner=owner, service_account=service_account
    )
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    manifest["metadata"]["annotations"] = {SPEC_HASH_ANNOTATION: digest}
    return manifest


def ensure_daemonset(state: state_mod.OperatorState, config_body: typing.Mapping[str, typing.Any]) -> str:
    """Apply the DaemonSet when it is missing or was built from another spec; returns what happened.

    One GET when nothing changed: the operator can run this on every summary tick to undo a deletion.
    """
    manifest = desired(config_body, namespace=state.namespace, service_account=state.agent_service_account)
    state.config = spec_mod.parse_spec(config_body.get("spec"))
    path = daemonset_path(state.namespace, labels.AGENT_NAME)
    try:
        live = state.client.get(path)
        live_hash = (live.get("metadata", {}).get("annotations") or {}).get(SPEC_HASH_ANNOTATION)
        if live_hash == manifest["metadata"]["annotations"][SPEC_HASH_ANNOTATION]:
            return "unchanged"
    except kube.NotFoundError:
        pass
    state.client.apply(path, manifest)
    return "applied"


def agents_status(state: state_mod.OperatorState) -> tuple[int, int]:
    """(ready, desired) agents from the DaemonSet's status; (0, 0) when it does not exist."""
    try:
        live = state.client.get(daemonset_path(state.namespace, labels.AGENT_NAME))
    except kube.NotFoundError:
        return 0, 0
    status = live.get("status") or {}
    return int(status.get("numberReady") or 0), int(status.get("desiredNumberScheduled") or 0)
