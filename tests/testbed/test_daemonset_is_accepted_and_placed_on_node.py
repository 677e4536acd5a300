"""A DaemonSet is accepted, and the DaemonSet controller plus the scheduler place its pod on the node."""

from __future__ import annotations

import kubernetes.client
import pytest

from nsprobe.testing import controlplane, nodes

pytestmark = pytest.mark.controlplane


def test_daemonset_is_accepted_and_its_pod_is_bound_to_the_node(
    kube_api: kubernetes.client.ApiClient, test_namespace: str, node: nodes.NodeHeartbeat
) -> None:
    apps = kubernetes.client.AppsV1Api(kube_api)
    core = kubernetes.client.CoreV1Api(kube_api)
    labels = {"app.kubernetes.io/name": "nsprobe-agent-testbed"}
    daemonset = kubernetes.client.V1DaemonSet.from_dict(
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": "agent", "labels": labels},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        # Only our node: other tests' nodes in this session must not get pods.
                        "nodeSelector": {"kubernetes.io/hostname": node.name},
                        "hostPID": True,
                        "containers": [
                            {
                                "name": "agent",
                                "image": nodes.DEFAULT_IMAGE,
                                "securityContext": {"privileged": True},
                                "volumeMounts": [
                                    {"name": "proc", "mountPath": "/host/proc", "readOnly": True}
                                ],
                            }
                        ],
                        "volumes": [{"name": "proc", "hostPath": {"path": "/proc"}}],
                    },
                },
            },
        }
    )
    assert daemonset is not None

    created = apps.create_namespaced_daemon_set(test_namespace, daemonset)

    assert created.metadata is not None and created.metadata.uid
    selector = "app.kubernetes.io/name=nsprobe-agent-testbed"

    def bound_pods() -> list[str]:
        pods = core.list_namespaced_pod(test_namespace, label_selector=selector).items
        return [pod.spec.node_name for pod in pods if pod.spec is not None and pod.spec.node_name]

    controlplane.wait_for(lambda: bound_pods() == [node.name], timeout=60, what="DaemonSet pod bound to node")

    def desired_scheduled() -> int | None:
        status = apps.read_namespaced_daemon_set("agent", test_namespace).status
        return status.desired_number_scheduled if status is not None else None

    controlplane.wait_for(
        lambda: desired_scheduled() == 1, timeout=30, what="DaemonSet desiredNumberScheduled=1"
    )
