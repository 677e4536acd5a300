"""RBAC of the agent and operator, proven on the real apiserver by impersonating their ServiceAccounts.

The rules come from tests/operator/fixtures/rbac.yaml and, when helm is built, also from the chart's own
templates (`helm template`), so both sources are held to the same least-privilege table.
"""

from __future__ import annotations

import collections.abc
import pathlib
import secrets
import shutil
import subprocess

import pytest
import yaml

from nsprobe import kube
from nsprobe.testing import controlplane
from tests.operator import policy

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "nsprobe"

# (verb, resource, subresource, where) -> allowed; where: "own" namespace, "other" namespace, "" cluster.
AGENT = [
    ("list", "pods", "", "", True),
    ("watch", "pods", "", "", True),
    ("get", "podprobes.nsprobe.io", "", "other", True),
    ("watch", "nodeprobes.nsprobe.io", "", "", True),
    ("patch", "podprobes.nsprobe.io", "status", "other", True),
    ("patch", "nodeprobes.nsprobe.io", "status", "", True),
    ("patch", "podprobes.nsprobe.io", "", "other", False),
    ("create", "podprobes.nsprobe.io", "", "other", False),
    ("delete", "podprobes.nsprobe.io", "", "other", False),
    ("create", "pods", "", "other", False),
    ("delete", "pods", "", "other", False),
    ("get", "secrets", "", "own", False),
    ("list", "secrets", "", "", False),
    ("get", "daemonsets.apps", "", "own", False),
    ("patch", "daemonsets.apps", "", "own", False),
    ("patch", "nsprobeconfigs.nsprobe.io", "", "", False),
]
OPERATOR = [
    ("watch", "pods", "", "", True),
    ("list", "nodes", "", "", True),
    ("create", "podprobes.nsprobe.io", "", "other", True),
    ("delete", "podprobes.nsprobe.io", "", "other", True),
    ("create", "nodeprobes.nsprobe.io", "", "", True),
    ("patch", "nsprobeconfigs.nsprobe.io", "status", "", True),
    ("watch", "nsprobeconfigs.nsprobe.io", "", "", True),
    ("create", "events", "", "other", True),
    ("watch", "customresourcedefinitions.apiextensions.k8s.io", "", "", True),
    ("patch", "clusterkopfpeerings.kopf.dev", "", "", True),
    ("create", "daemonsets.apps", "", "own", True),
    ("patch", "daemonsets.apps", "", "own", True),
    ("create", "daemonsets.apps", "", "other", False),
    ("patch", "daemonsets.apps", "", "other", False),
    ("get", "secrets", "", "own", False),
    ("create", "pods", "", "other", False),
    ("delete", "pods", "", "other", False),
    ("delete", "nsprobeconfigs.nsprobe.io", "", "", False),
]


def _chart_documents(namespace: str) -> list[kube.Json]:
    helm = controlplane.find_bin_dir() / "helm"
    if not helm.exists() or not (CHART / "templates" / "rbac.yaml").exists():
        pytest.skip("helm or the chart's RBAC templates are not there")
    out = subprocess.run(
        [
            str(helm),
            "template",
            "nsprobe",
            str(CHART),
            "--namespace",
            namespace,
            "--kube-version",
            "1.37.2",
            "--show-only",
            "templates/rbac.yaml",
            "--show-only",
            "templates/serviceaccounts.yaml",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    for doc in docs:
        if doc["kind"] in ("ServiceAccount", "Role", "RoleBinding"):
            doc["metadata"]["namespace"] = namespace
    return docs


def _subjects(docs: list[kube.Json], suffix: str) -> str:
    for doc in docs:
        if doc["kind"] == "ClusterRoleBinding" and doc["metadata"]["name"].endswith(suffix):
            subject = doc["subjects"][0]
            return f"system:serviceaccount:{subject['namespace']}:{subject['name']}"
    raise AssertionError(f"no ClusterRoleBinding *{suffix}")


@pytest.fixture(params=["fixtures", "chart"])
def identities(
    request: pytest.FixtureRequest, control_plane: controlplane.ControlPlane, admin: kube.Kube
) -> collections.abc.Iterator[tuple[str, str, str]]:
    """(namespace, agent username, operator username) with the RBAC of one source installed."""
    namespace = f"rbac-{secrets.token_hex(3)}"
    admin.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    try:
        if request.param == "fixtures":
            docs = policy.documents("rbac.yaml", NAMESPACE=namespace)
        else:
            docs = _chart_documents(namespace)
        policy.apply_all(admin, docs)
        yield namespace, _subjects(docs, "-agent"), _subjects(docs, "-operator")
        for doc in docs:
            if doc["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                admin.delete(policy.path_of(doc))
    finally:
        admin.delete(f"/api/v1/namespaces/{namespace}")


def _can(
    bed: controlplane.ControlPlane, user: str, verb: str, resource: str, sub: str, ns: str | None
) -> bool:
    args = ["auth", "can-i", verb, resource, f"--as={user}"]
    args += [f"--subresource={sub}"] if sub else []
    args += [f"--namespace={ns}"] if ns else []
    done = bed.kubectl(args, check=False)
    assert done.stdout.strip() in ("yes", "no"), done.stderr
    return done.stdout.strip() == "yes"


@pytest.mark.parametrize("who", ["agent", "operator"])
def test_each_service_account_can_do_exactly_its_table(
    control_plane: controlplane.ControlPlane, identities: tuple[str, str, str], who: str
) -> None:
    namespace, agent, operator = identities
    user, table = (agent, AGENT) if who == "agent" else (operator, OPERATOR)
    wrong = []
    for verb, resource, sub, where, allowed in table:
        ns = {"own": namespace, "other": "default", "": None}[where]
        if _can(control_plane, user, verb, resource, sub, ns) != allowed:
            wrong.append((verb, resource, sub, where, "should be allowed" if allowed else "should be denied"))
    assert wrong == []


def test_kubectl_is_the_built_one() -> None:
    assert shutil.which("kubectl") is None or "nsprobe" in str(controlplane.find_bin_dir())
