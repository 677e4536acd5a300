"""`helm install` into the real test bed, then: RBAC by impersonation, the admission policy with a real
node-bound agent token, the operator (run locally as the chart's ServiceAccount) reconciling the agent
DaemonSet exactly as the values say, `helm upgrade`, and `helm uninstall` leaving only what Helm's CRD
policy keeps.

The tests of this module share one release and run in file order (each step builds on the last).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import os
import pathlib
import secrets
import signal
import subprocess
import sys
import time
import typing

import kubernetes.client
import kubernetes.client.exceptions
import pytest
import yaml

from nsprobe.testing import controlplane, nodes
from tests.charts import chartkit

pytestmark = pytest.mark.controlplane
SCENARIO = "minimal-profile"
Json = dict[str, typing.Any]


@dataclasses.dataclass
class Release:
    bed: controlplane.ControlPlane
    helm_bin: pathlib.Path
    name: str
    namespace: str
    workdir: pathlib.Path
    install_output: str
    operator: subprocess.Popen[bytes] | None = None
    operator_log: pathlib.Path | None = None

    def helm(
        self, args: collections.abc.Sequence[str], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        env_args = ["--kubeconfig", str(self.bed.kubeconfig), "--namespace", self.namespace]
        return chartkit.helm(self.helm_bin, [*args, *env_args], check=check)

    def kubectl(
        self, args: collections.abc.Sequence[str], *, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return self.bed.kubectl(args, check=check)

    def get(self, what: str, *, namespace: str | None = None) -> Json | None:
        args = ["get", what, "-o", "json"] + (["-n", namespace] if namespace else [])
        result = self.kubectl(args, check=False)
        if result.returncode != 0:
            assert "NotFound" in result.stderr, result.stderr
            return None
        found: Json = json.loads(result.stdout)
        return found

    def sa(self, name: str) -> str:
        return f"system:serviceaccount:{self.namespace}:{name}"

    def token_kubeconfig(self, service_account: str, *extra: str) -> pathlib.Path:
        token = self.kubectl(
            ["create", "token", service_account, "-n", self.namespace, "--duration=1h", *extra]
        )
        path = self.workdir / f"{service_account}-{secrets.token_hex(3)}.kubeconfig"
        return chartkit.token_kubeconfig(self.bed, token.stdout.strip(), path)

    def operator_log_tail(self) -> str:
        if self.operator_log is None or not self.operator_log.exists():
            return ""
        return "\n".join(self.operator_log.read_text(errors="replace").splitlines()[-60:])


def _wait(predicate: collections.abc.Callable[[], object], *, timeout: float, what: str) -> None:
    controlplane.wait_for(lambda: bool(predicate()), timeout=timeout, what=what)


@pytest.fixture(scope="module")
def release(
    control_plane: controlplane.ControlPlane, helm_bin: pathlib.Path, tmp_path_factory: pytest.TempPathFactory
) -> collections.abc.Iterator[Release]:
    namespace = f"nsprobe-chart-{secrets.token_hex(3)}"
    name = "probe"
    control_plane.kubectl(["create", "namespace", namespace])
    result = chartkit.helm(
        helm_bin,
        [
            "install",
            name,
            str(chartkit.CHART),
            "--kubeconfig",
            str(control_plane.kubeconfig),
            "--namespace",
            namespace,
            "--values",
            str(chartkit.scenario_file(SCENARIO)),
            "--timeout",
            "2m",
        ],
        check=False,
    )
    assert result.returncode == 0, result.stderr
    bed = Release(
        bed=control_plane,
        helm_bin=helm_bin,
        name=name,
        namespace=namespace,
        workdir=tmp_path_factory.mktemp("release"),
        install_output=result.stdout,
    )
    try:
        yield bed
    finally:
        _stop_operator(bed)
        bed.helm(["uninstall", name], check=False)
        # A config left with the operator's finalizer would block everything else: let it go.
        bed.kubectl(
            ["patch", "nsprobeconfig", "default", "--type=merge", "-p", '{"metadata":{"finalizers":null}}'],
            check=False,
        )
        # Probes the locally run operator made (CRD data Helm keeps): later tests start from a clean slate.
        control_plane.kubectl(
            [
                "delete",
                "nodeprobes,podprobes",
                "-A",
                "-l",
                "app.kubernetes.io/managed-by=nsprobe-operator",
                "--wait=false",
            ],
            check=False,
        )
        control_plane.kubectl(["delete", "namespace", namespace, "--wait=false"], check=False)


def _stop_operator(bed: Release) -> None:
    if bed.operator is None:
        return
    if bed.operator.poll() is None:
        bed.operator.send_signal(signal.SIGTERM)
        try:
            bed.operator.wait(timeout=30)
        except subprocess.TimeoutExpired:
            bed.operator.kill()
            bed.operator.wait(timeout=10)
    bed.operator = None


# --- install -------------------------------------------------------------------------------------------


def test_install_prints_the_next_step(release: Release) -> None:
    assert "STATUS: deployed" in release.install_output
    assert "kubectl nsprobe pods -A" in release.install_output
    # Helm installed the CRDs from crds/ (or found them already there).
    for crd in chartkit.crd_names(chartkit.CRD_DIR):
        assert release.get(f"crd/{crd}") is not None


def test_every_rendered_object_exists(release: Release) -> None:
    manifest = release.helm(["get", "manifest", release.name]).stdout
    docs = [doc for doc in yaml.safe_load_all(manifest) if doc]
    assert len(docs) >= 14
    for doc in docs:
        namespace = doc["metadata"].get("namespace")
        found = release.get(f"{doc['kind']}/{doc['metadata']['name']}", namespace=namespace)
        assert found is not None, f"{doc['kind']} {doc['metadata']['name']} missing"
    config = release.get("nsprobeconfig/default")
    assert config is not None
    assert config["spec"]["securityProfile"] == "minimal"


# --- RBAC, by impersonation -----------------------------------------------------------------------------

AGENT_ALLOWED = [
    ("get", "pods", "default"),
    ("list", "pods", None),
    ("watch", "pods", "kube-system"),
    ("get", "podprobes.nsprobe.io", "default"),
    ("list", "podprobes.nsprobe.io", None),
    ("watch", "nodeprobes.nsprobe.io", None),
    ("patch", "podprobes.nsprobe.io/status", "default"),
    ("patch", "nodeprobes.nsprobe.io/status", None),
]
AGENT_FORBIDDEN = [
    ("create", "pods", "default"),
    ("delete", "pods", "default"),
    ("create", "pods/exec", "default"),
    ("get", "secrets", "default"),
    ("list", "secrets", None),
    ("get", "daemonsets.apps", "@release"),
    ("patch", "daemonsets.apps", "@release"),
    ("get", "configmaps", "default"),
    ("patch", "podprobes.nsprobe.io", "default"),
    ("update", "podprobes.nsprobe.io/status", "default"),
    ("create", "podprobes.nsprobe.io", "default"),
    ("delete", "podprobes.nsprobe.io", "default"),
    ("create", "nodeprobes.nsprobe.io", None),
    ("delete", "nodeprobes.nsprobe.io", None),
    ("patch", "nsprobeconfigs.nsprobe.io", None),
    ("list", "nodes", None),
    ("create", "serviceaccounts/token", "@release"),
]
OPERATOR_ALLOWED = [
    ("list", "pods", None),
    ("watch", "pods", None),
    ("get", "nodes", None),
    ("watch", "nodes", None),
    ("list", "namespaces", None),
    ("create", "podprobes.nsprobe.io", "default"),
    ("delete", "podprobes.nsprobe.io", "team-a"),
    ("patch", "nodeprobes.nsprobe.io", None),
    ("create", "nodeprobes.nsprobe.io", None),
    ("watch", "nsprobeconfigs.nsprobe.io", None),
    ("patch", "nsprobeconfigs.nsprobe.io", None),
    ("patch", "nsprobeconfigs.nsprobe.io/status", None),
    ("create", "events", "@release"),
    ("list", "customresourcedefinitions.apiextensions.k8s.io", None),
    ("patch", "clusterkopfpeerings.kopf.dev", None),
    ("create", "daemonsets.apps", "@release"),
    ("patch", "daemonsets.apps", "@release"),
    ("delete", "daemonsets.apps", "@release"),
]
OPERATOR_FORBIDDEN = [
    ("create", "daemonsets.apps", "kube-system"),
    ("patch", "daemonsets.apps", "default"),
    ("list", "daemonsets.apps", None),
    ("get", "secrets", "@release"),
    ("list", "secrets", None),
    ("create", "pods", "default"),
    ("delete", "pods", "default"),
    ("patch", "pods", "default"),
    ("patch", "nodes", None),
    ("patch", "podprobes.nsprobe.io/status", "default"),
    ("create", "nsprobeconfigs.nsprobe.io", None),
    ("delete", "nsprobeconfigs.nsprobe.io", None),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", None),
    ("create", "customresourcedefinitions.apiextensions.k8s.io", None),
]


def _can_i(release: Release, who: str, verb: str, resource: str, namespace: str | None) -> bool:
    resource, _, subresource = resource.partition("/")
    args = ["auth", "can-i", verb, resource, f"--as={release.sa(who)}"]
    if subresource:
        args.append(f"--subresource={subresource}")
    if namespace is None:
        args.append("--all-namespaces")
    else:
        args += ["-n", release.namespace if namespace == "@release" else namespace]
    result = release.kubectl(args, check=False)
    assert result.stdout.strip() in ("yes", "no"), result.stdout + result.stderr
    return result.stdout.strip() == "yes"


@pytest.mark.parametrize(("verb", "resource", "namespace"), AGENT_ALLOWED)
def test_agent_may(release: Release, verb: str, resource: str, namespace: str | None) -> None:
    assert _can_i(release, "nsprobe-agent", verb, resource, namespace)


@pytest.mark.parametrize(("verb", "resource", "namespace"), AGENT_FORBIDDEN)
def test_agent_may_not(release: Release, verb: str, resource: str, namespace: str | None) -> None:
    assert not _can_i(release, "nsprobe-agent", verb, resource, namespace)


@pytest.mark.parametrize(("verb", "resource", "namespace"), OPERATOR_ALLOWED)
def test_operator_may(release: Release, verb: str, resource: str, namespace: str | None) -> None:
    assert _can_i(release, f"{release.name}-nsprobe-operator", verb, resource, namespace)


@pytest.mark.parametrize(("verb", "resource", "namespace"), OPERATOR_FORBIDDEN)
def test_operator_may_not(release: Release, verb: str, resource: str, namespace: str | None) -> None:
    assert not _can_i(release, f"{release.name}-nsprobe-operator", verb, resource, namespace)


# --- the admission policy, with a real node-bound agent token -------------------------------------------


def test_agent_may_write_only_its_own_nodes_probes(release: Release, node: nodes.NodeHeartbeat) -> None:
    here, elsewhere = node.name, f"elsewhere-{secrets.token_hex(3)}"
    created: list[list[str]] = []

    def create(doc: Json) -> None:
        result = subprocess.run(
            [
                str(release.bed.bin_dir / "kubectl"),
                f"--kubeconfig={release.bed.kubeconfig}",
                "create",
                "-f",
                "-",
            ],
            input=json.dumps(doc),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        kind = doc["kind"].lower()
        meta = doc["metadata"]
        created.append([kind, meta["name"], *(["-n", meta["namespace"]] if "namespace" in meta else [])])

    try:
        for name in (here, elsewhere):
            create(
                {
                    "apiVersion": "nsprobe.io/v1alpha1",
                    "kind": "NodeProbe",
                    "metadata": {"name": name},
                    "spec": {"nodeName": name},
                }
            )
            create(
                {
                    "apiVersion": "nsprobe.io/v1alpha1",
                    "kind": "PodProbe",
                    "metadata": {"name": f"pod-on-{name}", "namespace": release.namespace},
                    "spec": {"podName": f"pod-on-{name}", "podUID": "u-" + name, "nodeName": name},
                }
            )
        # An agent pod bound to `here`: the kubelet-style token bound to it carries the node's name.
        pod_name = f"agent-{secrets.token_hex(3)}"
        pod: Json = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": release.namespace},
            "spec": {
                "nodeName": here,
                "serviceAccountName": "nsprobe-agent",
                "containers": [{"name": "agent", "image": "localhost/nsprobe:test"}],
            },
        }
        create(pod)
        uid = json.loads(
            release.kubectl(["get", "pod", pod_name, "-n", release.namespace, "-o", "json"]).stdout
        )["metadata"]["uid"]
        bound = release.token_kubeconfig(
            "nsprobe-agent",
            "--bound-object-kind=Pod",
            f"--bound-object-name={pod_name}",
            f"--bound-object-uid={uid}",
        )
        whoami = json.loads(chartkit.kubectl_as(release.bed, bound, ["auth", "whoami", "-o", "json"]).stdout)
        assert whoami["status"]["userInfo"]["extra"]["authentication.kubernetes.io/node-name"] == [here]

        def patch(
            kubeconfig: pathlib.Path, kind: str, name: str, status: Json, ns: bool = False
        ) -> str | None:
            """A merge patch of /status, as the agent sends it (no GET first); the error text, or None."""
            api = nodes.api_client(kubeconfig)
            custom = kubernetes.client.CustomObjectsApi(api)
            plural = f"{kind}s"
            try:
                if ns:
                    custom.patch_namespaced_custom_object_status(
                        "nsprobe.io", "v1alpha1", release.namespace, plural, name, {"status": status}
                    )
                else:
                    custom.patch_cluster_custom_object_status(
                        "nsprobe.io", "v1alpha1", plural, name, {"status": status}
                    )
            except kubernetes.client.exceptions.ApiException as error:
                return f"{error.status} {error.body}"
            finally:
                api.close()  # type: ignore[no-untyped-call]
            return None

        assert patch(bound, "nodeprobe", here, {"agentVersion": "chart-test"}) is None
        other = patch(bound, "nodeprobe", elsewhere, {"agentVersion": "chart-test"})
        assert other is not None and other.startswith("403"), other
        assert "may write only its own node's probes" in other, other
        assert patch(bound, "podprobe", f"pod-on-{here}", {"nodeName": here}, ns=True) is None
        other_pod = patch(bound, "podprobe", f"pod-on-{elsewhere}", {"nodeName": here}, ns=True)
        assert other_pod is not None and other_pod.startswith("403"), other_pod
        assert "may write only its own node's probes" in other_pod, other_pod
        # A token bound to no pod has no node name: the agent identity alone is not enough.
        unbound = release.token_kubeconfig("nsprobe-agent")
        anywhere = patch(unbound, "nodeprobe", here, {"agentVersion": "chart-test"})
        assert anywhere is not None and "carries no node name" in anywhere, anywhere
        # Everyone else (here: admin) is not matched by the policy.
        assert patch(release.bed.kubeconfig, "nodeprobe", elsewhere, {"agentVersion": "admin"}) is None
    finally:
        for args in reversed(created):
            release.kubectl(["delete", "--ignore-not-found", "--wait=false", *args], check=False)


# --- the operator reconciles the DaemonSet from the chart's NsProbeConfig ---------------------------------


def _daemonset(release: Release) -> Json | None:
    return release.get("daemonset/nsprobe-agent", namespace=release.namespace)


def _start_operator(release: Release) -> None:
    kubeconfig = release.token_kubeconfig(f"{release.name}-nsprobe-operator")
    release.operator_log = release.workdir / "operator.log"
    executable = pathlib.Path(sys.executable).parent / "nsprobe"
    # KUBECONFIG too: kopf's own login reads the kubernetes library's default, fixed when it is imported.
    env = {**os.environ, "NSPROBE_SUMMARY_INTERVAL": "5", "KUBECONFIG": str(kubeconfig)}
    with release.operator_log.open("wb") as log:
        release.operator = subprocess.Popen(
            [
                str(executable),
                "operator",
                f"--namespace={release.namespace}",
                f"--kubeconfig={kubeconfig}",
                "--liveness=",
                "--peering=nsprobe",
                "--debug",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _assert_daemonset_matches(daemonset: Json, values: Json, *, namespace: str) -> None:
    agent, image = values["agent"], values["image"]
    pod = daemonset["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    expected_image = (
        f"{image['repository']}@{image['digest']}"
        if image["digest"]
        else f"{image['repository']}:{image['tag']}"
    )
    assert daemonset["metadata"]["namespace"] == namespace
    assert container["image"] == expected_image
    assert container["imagePullPolicy"] == image["pullPolicy"]
    assert f"--interval={agent['scanIntervalSeconds']}" in container["args"]
    assert f"--metrics-port={agent['metricsPort']}" in container["args"]
    assert [a for a in container["args"] if a.startswith("--include-namespace=")] == [
        f"--include-namespace={n}" for n in agent["namespaces"]["include"]
    ]
    assert [a for a in container["args"] if a.startswith("--exclude-namespace=")] == [
        f"--exclude-namespace={n}" for n in agent["namespaces"]["exclude"]
    ]
    assert {"name": "metrics", "containerPort": agent["metricsPort"], "protocol": "TCP"} in container["ports"]
    assert container["resources"] == agent["resources"]
    assert pod["tolerations"] == agent["tolerations"]
    assert pod.get("nodeSelector", {}) == agent["nodeSelector"]
    assert pod.get("priorityClassName", "") == agent["priorityClassName"]
    assert pod["serviceAccountName"] == agent["serviceAccount"]["name"]
    assert pod["hostPID"] is True
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/host/proc"]["readOnly"] is True
    assert mounts["/host/sys/fs/cgroup"]["readOnly"] is True
    security = container["securityContext"]
    if agent["securityProfile"] == "privileged":
        assert security["privileged"] is True
    else:
        assert security.get("privileged", False) is False
        assert security["capabilities"]["drop"] == ["ALL"]
        assert set(security["capabilities"]["add"]) == {"SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN"}
    selector = {"app.kubernetes.io/name": "nsprobe", "app.kubernetes.io/component": "agent"}
    assert selector.items() <= daemonset["spec"]["template"]["metadata"]["labels"].items()
    (owner,) = daemonset["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"]) == ("NsProbeConfig", "default")


def test_operator_builds_the_daemonset_exactly_as_the_values_say(release: Release) -> None:
    assert _daemonset(release) is None
    _start_operator(release)
    try:
        _wait(lambda: _daemonset(release), timeout=90, what="DaemonSet nsprobe-agent from the operator")
    except controlplane.ControlPlaneError as error:
        raise AssertionError(f"{error}\noperator log:\n{release.operator_log_tail()}") from error
    daemonset = _daemonset(release)
    assert daemonset is not None
    _assert_daemonset_matches(daemonset, chartkit.scenario_values(SCENARIO), namespace=release.namespace)
    # The Service the chart made selects exactly the pods of this DaemonSet.
    service = release.get("service/nsprobe-agent", namespace=release.namespace)
    assert service is not None
    assert service["spec"]["selector"].items() <= daemonset["spec"]["template"]["metadata"]["labels"].items()


def test_helm_upgrade_changes_the_daemonset(release: Release) -> None:
    assert release.operator is not None and release.operator.poll() is None, release.operator_log_tail()
    overrides = {
        "agent": {
            "securityProfile": "privileged",
            "scanIntervalSeconds": 45,
            "namespaces": {"include": [], "exclude": ["kube-system", "team-*"]},
            "tolerations": [{"operator": "Exists"}],
        },
        "image": {"repository": "registry.example.com/nsprobe", "digest": "", "tag": "0.1.0-test"},
    }
    override_file = release.workdir / "upgrade-values.yaml"
    override_file.write_text(yaml.safe_dump(overrides))
    release.helm(
        ["upgrade", release.name, str(chartkit.CHART), "--reuse-values", "--values", str(override_file)]
    )

    def upgraded() -> bool:
        found = _daemonset(release)
        return (
            found is not None
            and "--interval=45" in found["spec"]["template"]["spec"]["containers"][0]["args"]
        )

    try:
        _wait(upgraded, timeout=90, what="the DaemonSet to follow helm upgrade")
    except controlplane.ControlPlaneError as error:
        raise AssertionError(f"{error}\noperator log:\n{release.operator_log_tail()}") from error
    values = chartkit.scenario_values(SCENARIO)
    values["agent"].update(overrides["agent"])
    values["image"].update(overrides["image"])
    daemonset = _daemonset(release)
    assert daemonset is not None
    _assert_daemonset_matches(daemonset, values, namespace=release.namespace)


def test_operator_needed_no_rights_it_lacks(release: Release) -> None:
    assert release.operator is not None
    log = release.operator_log.read_text(errors="replace") if release.operator_log else ""
    forbidden = [
        line for line in log.splitlines() if "403" in line or "Forbidden" in line or "forbidden" in line
    ]
    assert not forbidden, "\n".join(forbidden[:20])
    assert release.operator.poll() is None, release.operator_log_tail()


# --- uninstall --------------------------------------------------------------------------------------------


def _leftovers(release: Release) -> list[str]:
    """Everything still carrying the release's instance label, in any API resource, plus the operator's
    DaemonSet and the default NsProbeConfig."""
    resources = release.kubectl(["api-resources", "--verbs=list", "-o", "name"]).stdout.split()
    found: list[str] = []
    for resource in resources:
        if resource in ("events", "events.events.k8s.io"):
            continue
        result = release.kubectl(
            ["get", resource, "-A", "-l", f"app.kubernetes.io/instance={release.name}", "-o", "name"],
            check=False,
        )
        found += [line for line in result.stdout.splitlines() if line]
    if _daemonset(release) is not None:
        found.append("daemonset.apps/nsprobe-agent")
    if release.get("nsprobeconfig/default") is not None:
        found.append("nsprobeconfig.nsprobe.io/default")
    if release.get("clusterkopfpeering/nsprobe") is not None:
        found.append("clusterkopfpeering.kopf.dev/nsprobe")
    return sorted(set(found))


def test_uninstall_leaves_nothing_but_the_crds(release: Release) -> None:
    # As in a cluster: the operator is still running when Helm starts deleting (it goes with its Deployment).
    result = release.helm(["uninstall", release.name, "--timeout", "2m"], check=False)
    assert result.returncode == 0, result.stderr
    time.sleep(3)
    _stop_operator(release)
    deadline = time.monotonic() + 60
    left = _leftovers(release)
    while left and time.monotonic() < deadline:
        time.sleep(2)
        left = _leftovers(release)
    config = release.get("nsprobeconfig/default")
    hint = ""
    if config is not None:
        hint = (
            f"\nNsProbeConfig default is stuck with finalizers {config['metadata'].get('finalizers')}: "
            "the operator lost its RBAC (and its pod) in the same uninstall, so nobody removes them."
        )
    assert left == [], f"left after helm uninstall: {left}{hint}"
    # Helm's CRD policy: crds/ are installed once and never deleted (README "Uninstall").
    for crd in chartkit.crd_names(chartkit.CRD_DIR):
        assert release.get(f"crd/{crd}") is not None
    assert release.helm(["status", release.name], check=False).returncode != 0, "the release still exists"
