"""The node helper keeps a Node Ready past the grace period, and bound pods can be given Running status."""

from __future__ import annotations

import re
import time

import kubernetes.client
import kubernetes.client.exceptions
import pytest

from nsprobe.testing import controlplane, nodes

pytestmark = pytest.mark.controlplane

CONTAINER_ID = re.compile(r"^containerd://[0-9a-f]{64}$")


def _ready_status(core: kubernetes.client.CoreV1Api, name: str) -> str | None:
    found = core.read_node(name)
    conditions = (found.status.conditions or []) if found.status else []
    return next((c.status for c in conditions if c.type == "Ready"), None)


def test_heartbeat_keeps_node_ready_while_a_silent_node_goes_unknown(
    control_plane: controlplane.ControlPlane, kube_api: kubernetes.client.ApiClient, node: nodes.NodeHeartbeat
) -> None:
    core = kubernetes.client.CoreV1Api(kube_api)
    # Control: the same registration without a heartbeat thread must lose Ready, or this test proves nothing.
    silent = nodes.NodeHeartbeat(kube_api)
    silent.register()
    try:
        assert _ready_status(core, silent.name) == "True"
        started = time.monotonic()

        controlplane.wait_for(
            lambda: _ready_status(core, silent.name) == "Unknown", timeout=90, what="silent node NotReady"
        )

        assert time.monotonic() - started >= 10  # the grace period, not an instant rejection
        assert _ready_status(core, node.name) == "True"
        assert node.last_error is None
        lease = kubernetes.client.CoordinationV1Api(kube_api).read_namespaced_lease(
            node.name, nodes.LEASE_NAMESPACE
        )
        assert lease.spec is not None and lease.spec.holder_identity == node.name
        found = core.read_node(node.name)
        assert found.spec is not None and not found.spec.taints
    finally:
        silent.stop()


def test_bound_pod_status_patched_to_running_with_container_id(
    kube_api: kubernetes.client.ApiClient, test_namespace: str, node: nodes.NodeHeartbeat
) -> None:
    pod = nodes.create_bound_pod(
        kube_api, namespace=test_namespace, node_name=node.name, name="workload", containers=("main", "side")
    )
    given = nodes.random_container_id()

    patched = nodes.mark_pod_running(
        kube_api,
        namespace=test_namespace,
        name="workload",
        container_ids={"main": given},
        host_ip=node.address,
    )

    assert patched["metadata"]["uid"] == pod["metadata"]["uid"]
    status = patched["status"]
    assert status["phase"] == "Running"
    ids = {c["name"]: c["containerID"] for c in status["containerStatuses"]}
    assert ids["main"] == given
    assert CONTAINER_ID.match(ids["side"])
    assert all(c["ready"] for c in status["containerStatuses"])
    # Bound to a live node, the pod is neither garbage-collected nor evicted.
    time.sleep(5)
    core = kubernetes.client.CoreV1Api(kube_api)
    again = core.read_namespaced_pod("workload", test_namespace)
    assert again.status is not None and again.status.phase == "Running"
    assert again.spec is not None and again.spec.node_name == node.name


def test_node_identity_is_a_real_node_credential(
    control_plane: controlplane.ControlPlane, node: nodes.NodeHeartbeat
) -> None:
    # The Node authorizer limits a node to its own objects: another node's Lease is out of reach.
    kubeconfig = control_plane.user_kubeconfig(user=f"system:node:{node.name}", groups=["system:nodes"])
    api = nodes.api_client(kubeconfig)
    try:
        leases = kubernetes.client.CoordinationV1Api(api)
        assert leases.read_namespaced_lease(node.name, nodes.LEASE_NAMESPACE).metadata is not None
        with pytest.raises(kubernetes.client.exceptions.ApiException) as refused:
            leases.read_namespaced_lease("some-other-node", nodes.LEASE_NAMESPACE)
        assert refused.value.status == 403
    finally:
        api.close()
