"""End to end: the test bed's real kubectl finds kubectl-nsprobe on PATH and runs it against a real apiserver.

PodProbe / NodeProbe objects are created through the API (status through the status subresource) to set
up each edge case. The "not installed" case needs an apiserver without the CRDs: the session's bed is used
when nothing has installed them yet, otherwise a second, bare bed is started for that one test.
"""

from __future__ import annotations

import collections.abc
import contextlib
import copy
import datetime
import os
import pathlib
import secrets
import socket
import subprocess
import sys
import typing

import kubernetes.client
import kubernetes.client.exceptions
import pytest
import yaml

from nsprobe.testing import controlplane
from tests.plugin import objects

pytestmark = pytest.mark.controlplane

Obj = dict[str, typing.Any]
CRD_DIR = objects.ROOT / "charts" / "nsprobe" / "crds"
GROUP, VERSION = "nsprobe.io", "v1alpha1"
VENV_BIN = pathlib.Path(sys.executable).parent
HOSTILE = "evil\x1b[2J\x1b]0;owned\x07\r\nfake-line\u202eexe"


class Run(typing.NamedTuple):
    code: int
    out: str
    err: str


def nsprobe(
    bed: controlplane.ControlPlane, *args: str, kubeconfig: pathlib.Path | None = None, timeout: float = 60.0
) -> Run:
    """`kubectl nsprobe ARGS` with the bed's kubectl, which must find kubectl-nsprobe through PATH."""
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(bed.bin_dir), str(VENV_BIN), os.environ.get("PATH", "")]),
        "KUBECONFIG": str(kubeconfig or bed.kubeconfig),
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [str(bed.bin_dir / "kubectl"), "nsprobe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def _rfc3339(when: datetime.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


def _nsprobe_served(api: kubernetes.client.ApiClient) -> bool:
    try:
        kubernetes.client.CustomObjectsApi(api).get_api_resources(GROUP, VERSION)
    except kubernetes.client.exceptions.ApiException as error:
        if error.status == 404:
            return False
        raise
    return True


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def bare_bed(
    control_plane: controlplane.ControlPlane, kube_api: kubernetes.client.ApiClient
) -> collections.abc.Iterator[controlplane.ControlPlane]:
    """A control plane that does not serve nsprobe.io: the session's, if still bare, else a fresh one."""
    if not _nsprobe_served(kube_api):
        yield control_plane
        return
    with controlplane.ControlPlane(bin_dir=control_plane.bin_dir) as bed:
        yield bed


@pytest.fixture(scope="module")
def crds(control_plane: controlplane.ControlPlane) -> pathlib.Path:
    control_plane.kubectl(["apply", "--server-side", "-f", str(CRD_DIR)])
    control_plane.kubectl(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"])
    return CRD_DIR


class Bed:
    """Object factory for one test namespace on the session bed (CRDs installed, two Node objects)."""

    def __init__(
        self, api: kubernetes.client.ApiClient, namespace: str, cp: controlplane.ControlPlane
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.cp = cp
        self.core = kubernetes.client.CoreV1Api(api)
        self.custom = kubernetes.client.CustomObjectsApi(api)
        suffix = secrets.token_hex(3)
        self.node = f"plugin-node-{suffix}"  # has a NodeProbe
        self.bare_node = f"plugin-bare-{suffix}"  # has none

    def create_nodes(self) -> None:
        for name in (self.node, self.bare_node):
            self.core.create_node(
                kubernetes.client.V1Node(metadata=kubernetes.client.V1ObjectMeta(name=name))
            )

    def delete_nodes(self) -> None:
        for name in (self.node, self.bare_node):
            with contextlib.suppress(kubernetes.client.exceptions.ApiException):
                self.custom.delete_cluster_custom_object(GROUP, VERSION, "nodeprobes", name)
            with contextlib.suppress(kubernetes.client.exceptions.ApiException):
                self.core.delete_node(name)

    def pod(
        self, name: str, *, node: str | None, phase: str = "Running", labels: dict[str, str] | None = None
    ) -> Obj:
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {
                "containers": [{"name": "app", "image": "registry.invalid/nsprobe/app:1"}],
                # Unbound pods must stay unscheduled even when another test registered a Ready node.
                **({"nodeName": node} if node else {"nodeSelector": {"nsprobe.io/test-no-such-node": "x"}}),
            },
        }
        model = kubernetes.client.V1Pod.from_dict(body)
        assert model is not None
        created = self.core.create_namespaced_pod(self.namespace, model)
        assert created.metadata is not None
        pod: Obj = {"metadata": {"name": name, "uid": created.metadata.uid}}
        if phase != "Pending":
            self.core.patch_namespaced_pod_status(name, self.namespace, {"status": {"phase": phase}})
        return pod

    def pod_probe(self, name: str, status: Obj, *, pod_uid: str = "") -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "PodProbe",
            "metadata": {"name": name},
            "spec": {"podName": name, "podUID": pod_uid, "nodeName": status.get("nodeName", "")},
        }
        self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, "podprobes", body)
        if status:
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, self.namespace, "podprobes", name, {"status": status}
            )

    def node_probe(self, name: str, *, heartbeat: datetime.datetime) -> None:
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "NodeProbe",
            "metadata": {"name": name},
            "spec": {"nodeName": name},
        }
        with contextlib.suppress(kubernetes.client.exceptions.ApiException):
            self.custom.create_cluster_custom_object(GROUP, VERSION, "nodeprobes", body)
        status = objects.example_node_status()
        status.update(
            scanIntervalSeconds=30,
            heartbeatSeconds=300,
            heartbeatAt=_rfc3339(heartbeat),
            lastScan={**status["lastScan"], "time": _rfc3339(heartbeat)},
        )
        self.custom.patch_cluster_custom_object_status(GROUP, VERSION, "nodeprobes", name, {"status": status})

    def report(self, *, node: str, pod_uid: str, observed: datetime.datetime) -> Obj:
        status = objects.example_pod_status()
        status.update(nodeName=node, podUID=pod_uid, observedAt=_rfc3339(observed), scanIntervalSeconds=30)
        return status


@pytest.fixture
def bed(
    control_plane: controlplane.ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    test_namespace: str,
    crds: pathlib.Path,
) -> collections.abc.Iterator[Bed]:
    made = Bed(kube_api, test_namespace, control_plane)
    made.create_nodes()
    made.node_probe(made.node, heartbeat=_now())
    try:
        yield made
    finally:
        made.delete_nodes()


def _scanned_pod(bed: Bed, name: str = "app", **labels: str) -> Obj:
    pod = bed.pod(name, node=bed.node, labels=labels)
    uid = pod["metadata"]["uid"]
    bed.pod_probe(name, bed.report(node=bed.node, pod_uid=uid, observed=_now()), pod_uid=uid)
    return pod


# --- tests -----------------------------------------------------------------------------------------------


def test_kubectl_finds_the_plugin_on_path(control_plane: controlplane.ControlPlane) -> None:
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(control_plane.bin_dir), str(VENV_BIN), "/usr/bin:/bin"]),
    }
    listed = subprocess.run(
        [str(control_plane.bin_dir / "kubectl"), "plugin", "list"], env=env, capture_output=True, text=True
    )
    assert str(VENV_BIN / "kubectl-nsprobe") in listed.stdout
    version = nsprobe(control_plane, "version")
    assert version == Run(0, "kubectl-nsprobe 0.1.0\n", "")
    helped = nsprobe(control_plane, "--help")
    assert helped.out.startswith("Usage: kubectl nsprobe [OPTIONS] COMMAND [ARGS]...")


def test_not_installed_says_how_to_install(bare_bed: controlplane.ControlPlane) -> None:
    bare_bed.kubectl(["run", "lonely", "--image=registry.invalid/x:1", "--restart=Never"])
    try:
        for args in (["pods"], ["pod", "lonely"], ["node", "anything"], ["pods", "-A"]):
            result = nsprobe(bare_bed, *args)
            assert result.code == 1, (args, result)
            assert result.out == ""
            assert "nsprobe is not installed in this cluster" in result.err
            assert "helm install nsprobe charts/nsprobe -n nsprobe --create-namespace" in result.err
    finally:
        bare_bed.kubectl(["delete", "pod", "lonely", "--wait=false"], check=False)


def test_found_pod_reports_the_kernel_answers(bed: Bed) -> None:
    _scanned_pod(bed)
    result = nsprobe(bed.cp, "pod", "app", "-n", bed.namespace)
    assert result.code == 0, result.err
    assert result.err == ""
    assert result.out.startswith(
        f"Pod:        {bed.namespace}/app\nNode:       {bed.node}\nPhase:      Running\n"
    )
    assert "Freshness:  current: agent heartbeat" in result.out
    assert "  /tmp        tmpfs  (tmpfs nsprobe-tmp on /tmp)" in result.out
    assert "working set 30.3 MiB (what kubectl top shows)" in result.out
    assert "container root is host uid 0; user namespace: host" in result.out
    assert "CRITICAL  ROOT_IN_HOST_USERNS" in result.out


def test_namespace_defaults_to_the_kubeconfig_context(bed: Bed, tmp_path: pathlib.Path) -> None:
    _scanned_pod(bed)
    config = yaml.safe_load(bed.cp.kubeconfig.read_text())
    config["contexts"][0]["context"]["namespace"] = bed.namespace
    path = tmp_path / "ctx.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    assert nsprobe(bed.cp, "pod", "app", kubeconfig=path).code == 0
    assert nsprobe(bed.cp, "pod", "app").code == 1  # the admin context has no namespace: "default"


def test_json_and_yaml_are_the_object_without_managed_fields(bed: Bed) -> None:
    _scanned_pod(bed)
    for output in ("json", "yaml", "yml"):
        result = nsprobe(bed.cp, "pod", "app", "-n", bed.namespace, "-o", output)
        assert result.code == 0
        body = yaml.safe_load(result.out)
        assert body["kind"] == "PodProbe"
        assert "managedFields" not in body["metadata"]
        assert body["status"]["summary"]["tmp"] == "tmpfs"


def test_missing_pod_is_not_found(bed: Bed) -> None:
    result = nsprobe(bed.cp, "pod", "nope", "-n", bed.namespace)
    assert result == Run(
        1, "", f'Error from server (NotFound): pod "nope" in namespace "{bed.namespace}" not found\n'
    )


def test_pod_without_probe_says_why(bed: Bed) -> None:
    bed.pod("waiting", node=None, phase="Pending")
    result = nsprobe(bed.cp, "pod", "waiting", "-n", bed.namespace)
    assert result.code == 1
    assert "has no nsprobe report yet: the pod is Pending and not scheduled to a node yet" in result.err

    bed.pod("orphan", node=bed.bare_node)
    result = nsprobe(bed.cp, "pod", "orphan", "-n", bed.namespace)
    assert result.code == 1
    assert f"no nsprobe agent reports from node {bed.bare_node}: there is no NodeProbe" in result.err

    bed.pod("silent", node=bed.node)
    bed.node_probe(bed.node, heartbeat=_now() - datetime.timedelta(hours=1))
    result = nsprobe(bed.cp, "pod", "silent", "-n", bed.namespace)
    assert result.code == 1
    assert f"the nsprobe agent on node {bed.node} last reported 60m ago" in result.err


def test_stale_report_is_shown_with_a_warning(bed: Bed) -> None:
    _scanned_pod(bed)
    bed.node_probe(bed.node, heartbeat=_now() - datetime.timedelta(hours=2))
    result = nsprobe(bed.cp, "pod", "app", "-n", bed.namespace)
    assert result.code == 0
    assert f"Warning: the pod report for {bed.namespace}/app is stale: agent heartbeat 120m ago" in result.err
    assert "Freshness:  STALE" in result.out
    listed = nsprobe(bed.cp, "pods", "-n", bed.namespace, "-o", "wide")
    assert "(stale)" in listed.out
    assert "Warning: 1 report(s) are stale" in listed.err


def test_pods_table_selector_and_finding_filter(bed: Bed) -> None:
    _scanned_pod(bed, "web", app="web")
    bed.pod("web-new", node=bed.node, labels={"app": "web"})
    clean = bed.report(node=bed.node, pod_uid="", observed=_now())
    clean["findings"] = []
    clean["summary"].update(findings=0, worstSeverity="none", rootInHostUserns=False)
    bed.pod("db", node=bed.node, labels={"app": "db"})
    bed.pod_probe("db", clean)

    listed = nsprobe(bed.cp, "pods", "-n", bed.namespace)
    assert listed.code == 0, listed.err
    lines = listed.out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "TMP", "WORKING-SET"]
    assert [line.split()[0] for line in lines[1:]] == ["db", "web"]

    selected = nsprobe(bed.cp, "pods", "-n", bed.namespace, "-l", "app=web", "--no-headers")
    assert [line.split()[:2] for line in selected.out.splitlines()] == [["web", "tmpfs"], ["web-new", "<no"]]

    risky = nsprobe(bed.cp, "pods", "-A", "--finding", "ROOT_IN_HOST_USERNS", "--no-headers")
    assert [bed.namespace, "web"] in [line.split()[:2] for line in risky.out.splitlines()]
    assert [bed.namespace, "db"] not in [line.split()[:2] for line in risky.out.splitlines()]


def test_node_report_and_unknown_node(bed: Bed) -> None:
    result = nsprobe(bed.cp, "node", bed.node)
    assert result.code == 0, result.err
    assert result.out.startswith(f"Node {bed.node}\n")
    assert "health: healthy: agent heartbeat" in result.out
    missing = nsprobe(bed.cp, "node", bed.bare_node)
    assert missing.code == 1
    assert f'node "{bed.bare_node}" has no NodeProbe' in missing.err
    gone = nsprobe(bed.cp, "node", "no-such-node")
    assert gone == Run(1, "", 'Error from server (NotFound): node "no-such-node" not found\n')


def test_hostile_strings_in_status_are_escaped(bed: Bed) -> None:
    pod = bed.pod("app", node=bed.node)
    status = bed.report(node=bed.node, pod_uid=pod["metadata"]["uid"], observed=_now())
    status["conditions"][0]["message"] = HOSTILE
    status["findings"][0]["message"] = HOSTILE
    status["containers"][0]["memory"]["explanation"] = HOSTILE
    status["summary"]["tmp"] = HOSTILE
    bed.pod_probe("app", copy.deepcopy(status))
    for args in (("pod", "app"), ("pods",), ("pods", "-o", "wide")):
        result = nsprobe(bed.cp, *args, "-n", bed.namespace)
        assert result.code == 0, result.err
        for line in result.out.splitlines():
            assert "\x1b" not in line and "\r" not in line and "\u202e" not in line and "\x07" not in line
        assert "evil\\x1b[2J" in result.out
        assert not any(line.startswith("fake-line") for line in result.out.splitlines())


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_cluster(control_plane: controlplane.ControlPlane, tmp_path: pathlib.Path) -> None:
    config = yaml.safe_load(control_plane.kubeconfig.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{_closed_port()}"
    path = tmp_path / "unreachable.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    result = nsprobe(control_plane, "pods", kubeconfig=path, timeout=30)
    assert result.code == 1
    assert result.out == ""
    assert "cannot reach the Kubernetes API server at https://127.0.0.1:" in result.err
    assert "connection refused" in result.err
    assert "Traceback" not in result.err


def test_forbidden_identity(bed: Bed, tmp_path: pathlib.Path) -> None:
    _scanned_pod(bed)
    nobody = f"system:serviceaccount:{bed.namespace}:nobody"
    config = yaml.safe_load(bed.cp.kubeconfig.read_text())
    config["users"][0]["user"]["as"] = nobody
    path = tmp_path / "nobody.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    for result in (
        nsprobe(bed.cp, "pod", "app", "-n", bed.namespace, kubeconfig=path),
        nsprobe(bed.cp, "pod", "app", "-n", bed.namespace, "--as", nobody),
    ):
        assert result.code == 1
        assert result.out == ""
        assert "Warning: cannot read the pod itself" in result.err
        assert (
            f'Error from server (Forbidden): podprobes.nsprobe.io "app" is forbidden: User "{nobody}" '
            f'cannot get resource "podprobes" in API group "nsprobe.io" in the namespace "{bed.namespace}"'
        ) in result.err
    listed = nsprobe(bed.cp, "pods", "-A", "--as", nobody)
    assert listed.code == 1
    assert "Error from server (Forbidden)" in listed.err
