"""The ValidatingAdmissionPolicy keeps an agent to its own node's probes (real apiserver, impersonated).

The node comes from the user extra 'authentication.kubernetes.io/node-name' that the apiserver puts into a
pod-bound service-account token; the Impersonate-Extra-* header sets it here. The end-to-end test runs
the agent with a real bound token under the same policy.
"""

from __future__ import annotations

import collections.abc
import json
import secrets
import urllib.parse

import pytest

from nsprobe import kube
from nsprobe.testing import controlplane
from tests.operator import conftest, policy

EXTRA = "authentication.kubernetes.io/node-name"


@pytest.fixture
def bed(
    control_plane: controlplane.ControlPlane, admin: kube.Kube
) -> collections.abc.Iterator[dict[str, str]]:
    namespace = f"vap-{secrets.token_hex(3)}"
    admin.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    agent = policy.install(control_plane, admin, namespace=namespace)
    node_a, node_b = f"node-a-{namespace}", f"node-b-{namespace}"
    for node in (node_a, node_b):
        admin.create(
            "/apis/nsprobe.io/v1alpha1/nodeprobes",
            {
                "apiVersion": "nsprobe.io/v1alpha1",
                "kind": "NodeProbe",
                "metadata": {"name": node},
                "spec": {"nodeName": node},
            },
        )
        admin.create(
            f"/apis/nsprobe.io/v1alpha1/namespaces/{namespace}/podprobes",
            {
                "apiVersion": "nsprobe.io/v1alpha1",
                "kind": "PodProbe",
                "metadata": {"name": f"pod-on-{node}"},
                "spec": {"podName": f"pod-on-{node}", "podUID": "u", "nodeName": node},
            },
        )
    try:
        yield {"ns": namespace, "agent": agent, "a": node_a, "b": node_b}
    finally:
        for doc in policy.documents("admission-policy.yaml", AGENT=agent, NAME=f"{namespace}-agent-own-node"):
            admin.delete(policy.path_of(doc))
        for node in (node_a, node_b):
            admin.delete(f"/apis/nsprobe.io/v1alpha1/nodeprobes/{node}")
        admin.delete(f"/api/v1/namespaces/{namespace}")


def _patch(
    cp: controlplane.ControlPlane,
    b: dict[str, str],
    *,
    kind: str,
    name: str,
    status: dict[str, object],
    node: str | None,
) -> tuple[bool, str]:
    """Server-side apply of status as the agent does it, impersonating the agent (bound to ``node``)."""
    api = kube.connect(str(cp.kubeconfig))
    api.set_default_header("Impersonate-User", b["agent"])
    api.set_default_header("Impersonate-Group", "system:serviceaccounts")
    if node is not None:
        api.set_default_header("Impersonate-Extra-" + urllib.parse.quote(EXTRA, safe=""), node)
    client = kube.Kube(api, field_manager="nsprobe-agent")
    plural, kind_name = ("podprobes", "PodProbe") if kind == "podprobe" else ("nodeprobes", "NodeProbe")
    try:
        client.apply_status(
            plural,
            name=name,
            namespace=b["ns"] if kind == "podprobe" else None,
            status=status,
            kind=kind_name,
        )
        return True, ""
    except kube.KubeError as exc:
        return False, str(exc)
    finally:
        client.close()


def test_agent_of_node_a_writes_a_but_not_b(
    control_plane: controlplane.ControlPlane, bed: dict[str, str]
) -> None:
    a, b = bed["a"], bed["b"]

    def enforced() -> bool:
        # The policy takes a moment to reach the apiserver's admission chain.
        ok, error = _patch(control_plane, bed, kind="nodeprobe", name=b, status={"agentVersion": "x"}, node=a)
        return not ok and "may write only its own node" in error

    conftest.wait_until(enforced, timeout=30, what="the admission policy to be enforced")
    assert _patch(control_plane, bed, kind="nodeprobe", name=a, status={"agentVersion": "x"}, node=a) == (
        True,
        "",
    )
    own_pod = _patch(control_plane, bed, kind="podprobe", name=f"pod-on-{a}", status={"nodeName": a}, node=a)
    assert own_pod == (True, "")
    ok, error = _patch(
        control_plane, bed, kind="podprobe", name=f"pod-on-{b}", status={"nodeName": b}, node=a
    )
    assert not ok and "may write only its own node" in error
    # Claiming another node's fresh PodProbe by writing one's own node name into its status is refused too.
    ok, error = _patch(
        control_plane, bed, kind="podprobe", name=f"pod-on-{b}", status={"nodeName": a}, node=a
    )
    assert not ok and "may write only its own node" in error
    ok, error = _patch(
        control_plane, bed, kind="podprobe", name=f"pod-on-{a}", status={"nodeName": b}, node=a
    )
    assert not ok and "status.nodeName must be" in error


def test_agent_without_a_node_bound_token_writes_nothing(
    control_plane: controlplane.ControlPlane, bed: dict[str, str]
) -> None:
    def enforced() -> bool:
        ok, error = _patch(
            control_plane, bed, kind="nodeprobe", name=bed["a"], status={"agentVersion": "y"}, node=None
        )
        return not ok and "carries no node name" in error

    assert conftest.wait_until(enforced, timeout=30, what="a token without a node name to be refused")


def test_other_identities_are_not_affected(
    control_plane: controlplane.ControlPlane, bed: dict[str, str]
) -> None:
    # The policy matches only the agent: admins and the operator keep working on any node's probes.
    done = control_plane.kubectl(
        [
            "patch",
            "nodeprobe",
            bed["b"],
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"agentVersion": "admin"}}),
        ],
        check=False,
    )
    assert done.returncode == 0, done.stderr
