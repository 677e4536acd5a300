"""End to end on the real control plane and kernel: operator (kopf, in-process), agent (a process), scenarios.

This machine is registered as a Node; Pods bound to it get API-assigned UIDs; kernel-scenario containers run
in kubepods cgroups under those UIDs, and the Pods' container statuses name them. The agent runs with a real
pod-bound service-account token, least-privilege RBAC and the own-node admission policy in force.
"""

from __future__ import annotations

import calendar
import collections.abc
import contextlib
import dataclasses
import itertools
import json
import os
import time
import typing

import kopf.testing
import kubernetes.client
import pytest

from nsprobe import kube
from nsprobe.manifests import agent as agent_manifest
from nsprobe.models import status as status_mod
from nsprobe.testing import controlplane, nodes
from nsprobe.testing import scenarios as sc
from tests.operator import conftest
from tests.probe.kernel import oracles

pytestmark = [pytest.mark.kernel, pytest.mark.controlplane, pytest.mark.slow]
MiB = 1024 * 1024
INTERVAL = 3
QUIET_WINDOW_SECONDS = float(os.environ.get("NSPROBE_QUIET_WINDOW", "60"))
OUTAGE_SECONDS = float(os.environ.get("NSPROBE_OUTAGE_SECONDS", "30"))


@dataclasses.dataclass
class World:
    bed: controlplane.ControlPlane
    admin: kube.Kube
    api: kubernetes.client.ApiClient
    node: str
    system_ns: str
    ns: str
    agent: conftest.AgentProcess
    agent_user: str
    containers: dict[str, sc.Container]  # "pod/container" -> scenario container
    pods: dict[str, dict[str, typing.Any]]  # pod name -> Pod as created
    runner: kopf.testing.KopfRunner


def report(line: str) -> None:
    """Print a measured figure. KopfRunner (click's CliRunner) swaps sys.stdout while the operator runs,
    so write to the real stderr."""
    os.write(2, f"\n[nsprobe e2e] {line}\n".encode())


def _probe(world: World, pod: str) -> dict[str, typing.Any]:
    return world.admin.get(f"/apis/nsprobe.io/v1alpha1/namespaces/{world.ns}/podprobes/{pod}")


def _reason(world: World, pod: str) -> str | None:
    conditions = (_probe(world, pod).get("status") or {}).get("conditions") or []
    return next((c["reason"] for c in conditions if c["type"] == "Reported"), None)


def _start_pod(
    world_api: kubernetes.client.ApiClient,
    scenarios: sc.Scenarios,
    *,
    ns: str,
    node: str,
    name: str,
    containers: collections.abc.Mapping[str, collections.abc.Mapping[str, typing.Any]],
    sandbox: bool = False,
) -> tuple[dict[str, typing.Any], dict[str, sc.Container]]:
    pod = nodes.create_bound_pod(
        world_api, namespace=ns, node_name=node, name=name, containers=tuple(containers)
    )
    uid = pod["metadata"]["uid"]
    started: dict[str, sc.Container] = {}
    join_pid = None
    if sandbox:
        # The pause container: in the pod's cgroup, not in containerStatuses, holding net/ipc/uts.
        pause = scenarios.start(
            pod_uid=uid, unshare=("--mount", "--uts", "--ipc", "--net", "--pid", "--fork")
        )
        join_pid = pause.pid
        started[f"{name}/(sandbox)"] = pause
    for cname, options in containers.items():
        opts = dict(options)
        if join_pid is not None and opts.pop("join_sandbox", False):
            opts.update(join_pid=join_pid, join=("--net", "--ipc", "--uts"))
        started[f"{name}/{cname}"] = scenarios.start(pod_uid=uid, **opts)
    nodes.mark_pod_running(
        world_api,
        namespace=ns,
        name=name,
        container_ids={c: "containerd://" + started[f"{name}/{c}"].container_id for c in containers},
    )
    return pod, started


@pytest.fixture(scope="module")
def world(
    control_plane: controlplane.ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    admin: kube.Kube,
    node: nodes.NodeHeartbeat,
    system_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> collections.abc.Iterator[World]:
    logs = tmp_path_factory.mktemp("e2e")
    ns = f"e2e-{node.name[-6:]}"
    agent_user = conftest.prepare_world(control_plane, admin, namespace=ns, system_namespace=system_namespace)
    os.environ["NSPROBE_SUMMARY_INTERVAL"] = "3"
    config = {
        "apiVersion": "nsprobe.io/v1alpha1",
        "kind": "NsProbeConfig",
        "metadata": {"name": "default"},
        "spec": {
            "image": "localhost/nsprobe:e2e",
            "scanIntervalSeconds": 5,
            "securityProfile": "minimal",
            "namespaces": {"exclude": ["kube-*"]},
            "tolerations": [{"operator": "Exists"}],
            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "200Mi"}},
        },
    }
    admin.create("/apis/nsprobe.io/v1alpha1/nsprobeconfigs", config)
    with contextlib.ExitStack() as stack:
        # Unwound in reverse: the agent stops first, then the operator, the scenarios, the objects.
        stack.callback(
            conftest.delete_quietly,
            admin,
            f"/api/v1/namespaces/{ns}",
            "/apis/nsprobe.io/v1alpha1/nsprobeconfigs/default",
        )
        bed = stack.enter_context(sc.Scenarios())
        runner = stack.enter_context(
            kopf.testing.KopfRunner(["run", "-A", "--standalone", "-m", "nsprobe.handlers.operator"])
        )
        pods: dict[str, dict[str, typing.Any]] = {}
        containers: dict[str, sc.Container] = {}
        pod, started = _start_pod(
            kube_api,
            bed,
            ns=ns,
            node=node.name,
            name="tmpfs-root",
            containers={
                "app": {
                    "command": sc.workload_command(tmp_mb=16, anon_mb=32),
                    "tmpfs_tmp": "size=64m",
                    "wait_for_ready": True,
                }
            },
        )
        pods["tmpfs-root"], containers = pod, {**containers, **started}
        pod, started = _start_pod(
            kube_api,
            bed,
            ns=ns,
            node=node.name,
            name="userns-pair",
            sandbox=True,
            containers={
                "app": {"join_sandbox": True, "unshare": ("--mount", "--pid", "--fork")},
                "mapped": {
                    "unshare": ("--user", "--mount", "--pid", "--fork"),
                    "uid_map": "0 100000 65536",
                    "command": ["/bin/sleep", "infinity"],
                },
            },
        )
        pods["userns-pair"], containers = pod, {**containers, **started}
        # A pod whose kubelet-reported container is nowhere on this node, and one not started yet.
        pods["elsewhere"] = nodes.create_bound_pod(
            kube_api, namespace=ns, node_name=node.name, name="elsewhere"
        )
        nodes.mark_pod_running(kube_api, namespace=ns, name="elsewhere")
        pods["pending"] = nodes.create_bound_pod(kube_api, namespace=ns, node_name=node.name, name="pending")
        agent = conftest.start_agent(
            stack,
            control_plane,
            kube_api,
            system_namespace=system_namespace,
            node_name=node.name,
            logs=logs,
            interval=INTERVAL,
        )
        world = World(
            control_plane,
            admin,
            kube_api,
            node.name,
            system_namespace,
            ns,
            agent,
            agent_user,
            containers,
            pods,
            runner,
        )
        conftest.wait_until(
            lambda: all(_reason(world, p) == "Scanned" for p in ("tmpfs-root", "userns-pair")),
            timeout=90,
            what="PodProbes of running pods to be Scanned",
        )
        yield world


def _container(world: World, pod: str, name: str) -> dict[str, typing.Any]:
    status = _probe(world, pod)["status"]
    return next(c for c in status["containers"] if c["name"] == name)


def _close(value: int, truth: int, *, slack: int = 8 * MiB) -> bool:
    # Status memory numbers move only past the hysteresis (max(4 MiB, 5%)), and the kernel keeps moving.
    return abs(value - truth) <= slack + 0.05 * truth


def test_memory_and_tmp_equal_the_kernel(world: World) -> None:
    container = world.containers["tmpfs-root/app"]
    entry = _container(world, "tmpfs-root", "app")
    stat = oracles.memory_stat(container.cgroup_dir("memory"))
    usage = oracles.read_int(f"{container.cgroup_dir('memory')}/memory.usage_in_bytes")
    memory = entry["memory"]
    assert _close(memory["shmem"], stat["total_shmem"]) and memory["shmem"] >= 16 * MiB
    assert _close(memory["anon"], stat["total_rss"]) and memory["anon"] >= 32 * MiB
    assert _close(memory["workingSet"], max(usage - stat["total_inactive_file"], 0))
    found = oracles.findmnt_tmp(container.pid)
    assert entry["tmp"]["backing"] == "tmpfs" and entry["tmp"]["fstype"] == found["fstype"] == "tmpfs"
    size, used = oracles.statvfs_used(container.pid)
    assert entry["tmp"]["sizeBytes"] == size == 64 * MiB
    assert _close(entry["tmp"]["usedBytes"], used)
    assert entry["tmp"]["countsAgainstMemoryLimit"] is True
    assert entry["containerID"] == "containerd://" + container.container_id
    status = _probe(world, "tmpfs-root")["status"]
    assert status["podUID"] == world.pods["tmpfs-root"]["metadata"]["uid"]
    assert status["nodeName"] == world.node and status["scanIntervalSeconds"] == INTERVAL
    assert status["summary"]["tmp"] == "tmpfs" and status["summary"]["rootInHostUserns"] is True
    assert {f["code"] for f in status["findings"]} >= {"ROOT_IN_HOST_USERNS", "TMPFS_COUNTS_AGAINST_MEMORY"}


def test_namespaces_and_identity_equal_lsns_and_uid_map(world: World) -> None:
    app, mapped = world.containers["userns-pair/app"], world.containers["userns-pair/mapped"]
    sandbox = world.containers["userns-pair/(sandbox)"]
    host = oracles.lsns(2)
    for name, container in (("app", app), ("mapped", mapped)):
        entry = _container(world, "userns-pair", name)
        truth = oracles.lsns(container.pid)
        sharing = {n["type"]: n for n in entry["namespaces"]}
        for ns_type, inode in truth.items():
            if inode == host[ns_type]:
                assert sharing[ns_type]["sharing"] == "host", (name, ns_type)
            elif any(
                oracles.lsns(other.pid)[ns_type] == inode
                for other in (app, mapped, sandbox)
                if other is not container
            ):
                assert sharing[ns_type]["sharing"] == "pod", (name, ns_type)
            else:
                assert sharing[ns_type]["sharing"] == "private", (name, ns_type)
    app_ns = {n["type"]: n for n in _container(world, "userns-pair", "app")["namespaces"]}
    assert app_ns["net"]["sharedWith"] == [f"{world.ns}/userns-pair/{sandbox.container_id[:12]}"]
    with open(f"/proc/{mapped.pid}/uid_map") as handle:
        inside, outside, _ = (int(x) for x in handle.read().split())
    identity = _container(world, "userns-pair", "mapped")["identity"]
    assert (inside, outside) == (0, 100000)
    assert identity["rootHostUid"] == outside and identity["usernsMode"] == "private"
    status = _probe(world, "userns-pair")["status"]
    assert [c["name"] for c in status["containers"]] == ["app", "mapped"]


def test_pods_without_kernel_facts_say_why(world: World) -> None:
    conftest.wait_until(
        lambda: _reason(world, "elsewhere") == "PodNotOnThisNode", timeout=30, what="elsewhere"
    )
    conftest.wait_until(lambda: _reason(world, "pending") == "PodPending", timeout=30, what="pending")
    for pod in ("elsewhere", "pending"):
        status = _probe(world, pod)["status"]
        assert "containers" not in status and "summary" not in status  # nothing invented


def test_daemonset_matches_the_config(world: World) -> None:
    path = f"/apis/apps/v1/namespaces/{world.system_ns}/daemonsets/nsprobe-agent"
    ds = conftest.wait_until(lambda: world.admin.get(path), timeout=30, what="agent DaemonSet")
    pod = ds["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["hostPID"] is True and pod["serviceAccountName"] == "nsprobe-agent"
    assert container["image"] == "localhost/nsprobe:e2e"
    assert "--interval=5" in container["args"] and "--exclude-namespace=kube-*" in container["args"]
    assert container["securityContext"]["capabilities"] == {
        "drop": ["ALL"],
        "add": list(agent_manifest.MINIMAL_CAPABILITIES),
    }
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/host/proc"]["readOnly"] and mounts["/host/sys/fs/cgroup"]["readOnly"]
    assert container["resources"]["limits"]["memory"] == "200Mi"
    assert ds["metadata"]["ownerReferences"][0]["kind"] == "NsProbeConfig"
    # A change of the config rolls out: privileged profile, another interval.
    world.admin.request(
        "PATCH",
        "/apis/nsprobe.io/v1alpha1/nsprobeconfigs/default",
        body={"spec": {"securityProfile": "privileged", "scanIntervalSeconds": 7}},
        content_type="application/merge-patch+json",
    )

    def updated() -> bool:
        c = world.admin.get(path)["spec"]["template"]["spec"]["containers"][0]
        return "--interval=7" in c["args"] and c["securityContext"] == {"privileged": True, "runAsUser": 0}

    conftest.wait_until(updated, timeout=30, what="DaemonSet to follow the config")

    # The DaemonSet controller placed an agent pod on our node (it never runs: no kubelet), and the summary
    # counts the node as covered by the heartbeat of our agent process.
    def summarised() -> dict[str, typing.Any] | None:
        config = world.admin.get("/apis/nsprobe.io/v1alpha1/nsprobeconfigs/default")
        return config if (config.get("status") or {}).get("nodesCovered", 0) >= 1 else None

    config = conftest.wait_until(summarised, timeout=30, what="config summary")
    assert config["status"]["findingsByCode"].get("ROOT_IN_HOST_USERNS", 0) >= 1
    assert config["status"]["agentsDesired"] >= 1


def _agent_writes(world: World, since: float) -> list[dict[str, typing.Any]]:
    writes = []
    with world.bed.audit_log.open() as handle:
        for line in handle:
            event = json.loads(line)
            if event.get("stage") != "ResponseComplete" or event["user"]["username"] != world.agent_user:
                continue
            ref = event.get("objectRef") or {}
            if event["verb"] in ("patch", "update", "create", "delete") and ref.get("resource") in (
                "podprobes",
                "nodeprobes",
            ):
                stamp = event["stageTimestamp"]
                when = calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
                if when >= since:
                    writes.append(event)
    return writes


def test_quiet_node_means_zero_agent_writes(world: World) -> None:
    """Nothing about our pods changes for a whole window: the agent writes none of their PodProbes.

    The NodeProbe describes the whole machine, which other work on this VM does change (its containers come
    and go, MemAvailable moves by gigabytes). Any NodeProbe write in the window must therefore carry a real
    change: each new resourceVersion seen is compared with the one before.
    """
    time.sleep(3 * INTERVAL)  # let the previous test's changes settle
    before = len(_agent_writes(world, 0))
    assert before > 0, "the audit log must see the agent's earlier writes, or this test proves nothing"
    node_path = f"/apis/nsprobe.io/v1alpha1/nodeprobes/{world.node}"
    start = time.time()
    seen = [world.admin.get(node_path)]
    while time.time() - start < QUIET_WINDOW_SECONDS:
        current = world.admin.get(node_path)
        if current["metadata"]["resourceVersion"] != seen[-1]["metadata"]["resourceVersion"]:
            seen.append(current)
        time.sleep(0.5)
    writes = _agent_writes(world, start)
    pod_writes = [w for w in writes if w["objectRef"]["resource"] == "podprobes"]
    node_writes = [w for w in writes if w["objectRef"]["resource"] == "nodeprobes"]
    report(
        f"agent writes over {QUIET_WINDOW_SECONDS:.0f}s with our pods unchanged: {len(pod_writes)} "
        f"PodProbe, {len(node_writes)} NodeProbe (machine-wide changes); {before} agent writes before"
    )
    assert pod_writes == [], [(w["verb"], w["objectRef"]) for w in pod_writes]
    for old, new in itertools.pairwise(seen):
        assert status_mod.significant_change(old["status"], new["status"]), (
            "a NodeProbe write without a change"
        )
    # Polling can merge two quick writes into one observed change; each observed change was a real one.
    assert not node_writes or len(seen) > 1
    assert world.agent.alive()


def test_deleting_a_pod_removes_its_podprobe(world: World) -> None:
    core = kubernetes.client.CoreV1Api(world.api)
    core.delete_namespaced_pod("elsewhere", world.ns)

    def gone() -> bool:
        try:
            _probe(world, "elsewhere")
        except kube.NotFoundError:
            return True
        return False

    assert conftest.wait_until(gone, timeout=60, what="PodProbe of the deleted pod to be garbage-collected")


def test_podprobe_deleted_by_hand_is_recreated(world: World) -> None:
    old = _probe(world, "pending")["metadata"]["uid"]
    world.admin.delete(f"/apis/nsprobe.io/v1alpha1/namespaces/{world.ns}/podprobes/pending")

    def recreated() -> dict[str, typing.Any] | None:
        probe = _probe(world, "pending")
        return probe if probe["metadata"]["uid"] != old and probe.get("status") else None

    fresh = conftest.wait_until(recreated, timeout=30, what="PodProbe re-created and reported")
    assert fresh["status"]["conditions"][0]["reason"] == "PodPending"


def test_status_converges_after_an_apiserver_outage(world: World) -> None:
    container = world.containers["tmpfs-root/app"]
    pid = world.agent.proc.pid if world.agent.proc else None
    world.bed.stop_apiserver()
    try:
        time.sleep(OUTAGE_SECONDS / 2)
        # Kernel truth changes while the API is away: 24 MiB more in the container's tmpfs /tmp.
        with open(f"/proc/{container.pid}/root/tmp/outage-fill", "wb") as handle:
            handle.write(b"\1" * (24 * MiB))
        time.sleep(OUTAGE_SECONDS / 2)
        assert world.agent.alive()
    finally:
        world.bed.start_apiserver()
    back = time.monotonic()
    _, used = oracles.statvfs_used(container.pid)

    def converged() -> bool:
        return _close(_container(world, "tmpfs-root", "app")["tmp"]["usedBytes"], used, slack=MiB)

    conftest.wait_until(converged, timeout=90, what="status to converge after the outage")
    recovery = time.monotonic() - back
    report(f"status converged {recovery:.1f}s after the apiserver came back ({OUTAGE_SECONDS:.0f}s outage)")
    assert world.agent.alive() and world.agent.proc is not None and world.agent.proc.pid == pid
    assert recovery <= 30
