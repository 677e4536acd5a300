"""Deleting a namespace finishes: its objects, custom objects and a bound pod are removed, then it is gone."""

from __future__ import annotations

import secrets

import kubernetes.client
import kubernetes.client.exceptions
import pytest

from nsprobe.testing import controlplane, nodes

pytestmark = pytest.mark.controlplane


def _namespace_gone(core: kubernetes.client.CoreV1Api, name: str) -> bool:
    try:
        core.read_namespace(name)
    except kubernetes.client.exceptions.ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


def test_namespace_with_objects_and_a_bound_pod_is_deleted(
    kube_api: kubernetes.client.ApiClient, node: nodes.NodeHeartbeat
) -> None:
    core = kubernetes.client.CoreV1Api(kube_api)
    name = f"nsprobe-doomed-{secrets.token_hex(4)}"
    core.create_namespace(kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name)))
    controlplane.wait_for(
        lambda: bool(core.read_namespaced_service_account("default", name)), timeout=30, what="default SA"
    )
    core.create_namespaced_config_map(
        name,
        kubernetes.client.V1ConfigMap(metadata=kubernetes.client.V1ObjectMeta(name="c"), data={"a": "b"}),
    )
    nodes.create_bound_pod(kube_api, namespace=name, node_name=node.name, name="bound")
    nodes.mark_pod_running(kube_api, namespace=name, name="bound")

    core.delete_namespace(name)

    # A bound, running pod is only removed once its node confirms; the heartbeat does that like a kubelet.
    controlplane.wait_for(lambda: _namespace_gone(core, name), timeout=90, what=f"namespace {name} deletion")
    assert _namespace_gone(core, name)
