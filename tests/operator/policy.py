"""Installs the agent/operator RBAC and the own-node admission policy from tests/operator/fixtures, and mints
a real pod-bound service-account token for the agent; used by the end-to-end and RBAC tests."""

from __future__ import annotations

import pathlib
import secrets

import kubernetes.client
import yaml

from nsprobe import kube
from nsprobe.testing import controlplane, nodes

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
AGENT_SA = "nsprobe-agent"
OPERATOR_SA = "nsprobe-operator"


def documents(name: str, **replace: str) -> list[kube.Json]:
    text = (FIXTURES / name).read_text()
    for key, value in replace.items():
        text = text.replace(f"__{key}__", value)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def path_of(doc: kube.Json) -> str:
    kinds = {
        "ServiceAccount": ("/api/v1", "serviceaccounts", True),
        "ClusterRole": ("/apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
        "ClusterRoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
        "Role": ("/apis/rbac.authorization.k8s.io/v1", "roles", True),
        "RoleBinding": ("/apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
        "ValidatingAdmissionPolicy": (
            "/apis/admissionregistration.k8s.io/v1",
            "validatingadmissionpolicies",
            False,
        ),
        "ValidatingAdmissionPolicyBinding": (
            "/apis/admissionregistration.k8s.io/v1",
            "validatingadmissionpolicybindings",
            False,
        ),
    }
    prefix, plural, namespaced = kinds[doc["kind"]]
    meta = doc["metadata"]
    ns = f"/namespaces/{meta['namespace']}" if namespaced else ""
    return f"{prefix}{ns}/{plural}/{meta['name']}"


def apply_all(admin: kube.Kube, docs: list[kube.Json]) -> None:
    for doc in docs:
        admin.apply(path_of(doc), doc)


def install(bed: controlplane.ControlPlane, admin: kube.Kube, *, namespace: str) -> str:
    """RBAC + policy for the agent and operator of ``namespace``; returns the agent's username."""
    agent = f"system:serviceaccount:{namespace}:{AGENT_SA}"
    apply_all(admin, documents("rbac.yaml", NAMESPACE=namespace))
    apply_all(admin, documents("admission-policy.yaml", AGENT=agent, NAME=f"{namespace}-agent-own-node"))
    return agent


def agent_kubeconfig(
    bed: controlplane.ControlPlane,
    api: kubernetes.client.ApiClient,
    *,
    namespace: str,
    node: str,
    path: pathlib.Path,
) -> pathlib.Path:
    """A kubeconfig holding a token of the agent ServiceAccount bound to a Pod on ``node``: the apiserver
    puts the node's name into the token, as for a real agent pod of the DaemonSet."""
    admin = kube.Kube(api, field_manager="nsprobe-test")
    pod = admin.create(
        f"/api/v1/namespaces/{namespace}/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"agent-{secrets.token_hex(3)}"},
            "spec": {
                "nodeName": node,
                "serviceAccountName": AGENT_SA,
                "containers": [{"name": "agent", "image": nodes.DEFAULT_IMAGE}],
            },
        },
    )
    token = admin.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{AGENT_SA}/token",
        body={
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": 7200,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            },
        },
    )["status"]["token"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "bed", "cluster": {"server": bed.server, "certificate-authority": str(bed.ca_file)}}
        ],
        "users": [{"name": "agent", "user": {"token": token}}],
        "contexts": [{"name": "agent", "context": {"cluster": "bed", "user": "agent"}}],
        "current-context": "agent",
    }
    path.write_text(yaml.safe_dump(config))
    return path
