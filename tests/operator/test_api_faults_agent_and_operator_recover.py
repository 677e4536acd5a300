"""API faults on the real control plane: write conflicts, an oversized status, a 60 s apiserver+etcd outage.

The operator runs in-process (kopf.testing.KopfRunner), the agent as a child process over this host's /proc
with a pod-bound token; kernel-scenario containers are tied to API pods as in the end-to-end test. Nothing
is mocked: conflicts come from other field managers and stale resourceVersions against the real apiserver,
the oversized status from a pod whose real namespace sharing makes the report grow with the square of its
container count, the outage from killing etcd and kube-apiserver (same ports and data) and starting them.

A PodProbe deleted by hand is re-created: covered by test_end_to_end_podprobe_status_is_kernel_truth.py
(test_podprobe_deleted_by_hand_is_recreated), not repeated here.
"""

from __future__ import annotations

import calendar
import collections.abc
import contextlib
import dataclasses
import json
import os
import re
import secrets
import time
import typing

import kopf.testing
import kubernetes.client
import pytest

from nsprobe import kube
from nsprobe.agent import runner as agent_runner
from nsprobe.manifests import probes as probe_manifests
from nsprobe.models import status as status_mod
from nsprobe.testing import controlplane, nodes
from nsprobe.testing import scenarios as sc
from tests.operator import conftest
from tests.probe.kernel import oracles

pytestmark = [pytest.mark.kernel, pytest.mark.controlplane, pytest.mark.slow]
MiB = 1024 * 1024
INTERVAL = 3
OUTAGE_SECONDS = float(os.environ.get("NSPROBE_FAULT_OUTAGE_SECONDS", "60"))
RECOVERY_TARGET_SECONDS = 15.0
# etcd's default --max-request-bytes: an object (and so a status) above this can never be stored.
ETCD_LIMIT = 1_572_864
Json = dict[str, typing.Any]


@dataclasses.dataclass
class World:
    bed: controlplane.ControlPlane
    admin: kube.Kube
    api: kubernetes.client.ApiClient
    node: str
    ns: str
    agent: conftest.AgentProcess
    agent_user: str
    scenarios: sc.Scenarios
    containers: dict[str, sc.Container]


def report(line: str) -> None:
    """A measured figure for the CI log. KopfRunner swaps sys.stdout while the operator runs: use fd 2."""
    os.write(2, f"\n[nsprobe api-faults] {line}\n".encode())


def _path(world: World, pod: str) -> str:
    return f"/apis/nsprobe.io/v1alpha1/namespaces/{world.ns}/podprobes/{pod}"


def _probe(world: World, pod: str) -> Json:
    return world.admin.get(_path(world, pod))


def _reported(status: Json) -> Json:
    return next(c for c in status.get("conditions") or [] if c["type"] == status_mod.REPORTED)


def _reason(world: World, pod: str) -> str | None:
    try:
        return str(_reported(_probe(world, pod).get("status") or {})["reason"])
    except StopIteration:
        return None


def _start_pod(
    world: World,
    *,
    name: str,
    containers: collections.abc.Mapping[str, collections.abc.Mapping[str, typing.Any]],
    sandbox: bool = False,
) -> None:
    """An API pod bound to this node whose containers are kernel scenarios in kubepods cgroups of its uid."""
    pod = nodes.create_bound_pod(
        world.api, namespace=world.ns, node_name=world.node, name=name, containers=tuple(containers)
    )
    uid = pod["metadata"]["uid"]
    options: dict[str, typing.Any] = {}
    if sandbox:
        pause = world.scenarios.start(
            pod_uid=uid, unshare=("--mount", "--uts", "--ipc", "--net", "--pid", "--fork")
        )
        world.containers[f"{name}/(sandbox)"] = pause
        # Containers join the sandbox's namespaces, as a CRI runtime puts a pod's containers together.
        options = {
            "join_pid": pause.pid,
            "join": ("--mount", "--uts", "--ipc", "--net", "--pid"),
            "unshare": (),
        }
    for cname, opts in containers.items():
        world.containers[f"{name}/{cname}"] = world.scenarios.start(pod_uid=uid, **{**options, **opts})
    nodes.mark_pod_running(
        world.api,
        namespace=world.ns,
        name=name,
        container_ids={c: "containerd://" + world.containers[f"{name}/{c}"].container_id for c in containers},
    )


def _agent_writes(world: World, *, pod: str | None = None, since: float = 0.0) -> list[Json]:
    """The agent's PodProbe writes as the apiserver's audit log recorded them (blocking mode: complete)."""
    writes = []
    with world.bed.audit_log.open() as handle:
        for line in handle:
            event = json.loads(line)
            if event.get("stage") != "ResponseComplete" or event["user"]["username"] != world.agent_user:
                continue
            ref = event.get("objectRef") or {}
            if event["verb"] != "patch" or ref.get("resource") != "podprobes":
                continue
            if pod is not None and (ref.get("name"), ref.get("namespace")) != (pod, world.ns):
                continue
            when = calendar.timegm(time.strptime(event["stageTimestamp"][:19], "%Y-%m-%dT%H:%M:%S"))
            if when >= since:
                writes.append(event)
    return writes


@pytest.fixture(scope="module")
def world(
    control_plane: controlplane.ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    admin: kube.Kube,
    node: nodes.NodeHeartbeat,
    system_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> collections.abc.Iterator[World]:
    logs = tmp_path_factory.mktemp("api-faults")
    ns = f"faults-{secrets.token_hex(3)}"
    agent_user = conftest.prepare_world(control_plane, admin, namespace=ns, system_namespace=system_namespace)
    with contextlib.ExitStack() as stack:
        stack.callback(conftest.delete_quietly, admin, f"/api/v1/namespaces/{ns}")
        bed = stack.enter_context(sc.Scenarios())
        stack.enter_context(
            kopf.testing.KopfRunner(["run", "-A", "--standalone", "-m", "nsprobe.handlers.operator"])
        )
        agent = conftest.start_agent(
            stack,
            control_plane,
            kube_api,
            system_namespace=system_namespace,
            node_name=node.name,
            logs=logs,
            interval=INTERVAL,
        )
        yield World(control_plane, admin, kube_api, node.name, ns, agent, agent_user, bed, {})


@pytest.fixture(scope="module")
def tmpfs_pod(world: World) -> str:
    """A running pod with one container whose /tmp is a 64 MiB tmpfs; its PodProbe is Scanned."""
    _start_pod(world, name="tmpfs", containers={"app": {"tmpfs_tmp": "size=64m"}})
    conftest.wait_until(lambda: _reason(world, "tmpfs") == "Scanned", timeout=60, what="tmpfs pod Scanned")
    return "tmpfs"


def _apply(world: World, pod: str, status: Json, *, manager: str, force: bool) -> Json:
    return world.admin.request(
        "PATCH",
        _path(world, pod) + "/status",
        query={"fieldManager": manager, "force": "true" if force else None},
        body={
            "apiVersion": "nsprobe.io/v1alpha1",
            "kind": "PodProbe",
            "metadata": {"name": pod},
            "status": status,
        },
        content_type="application/apply-patch+yaml",
    )


def _status_managers(obj: Json) -> dict[str, Json]:
    return {
        entry["manager"]: entry.get("fieldsV1") or {}
        for entry in obj["metadata"].get("managedFields") or []
        if entry.get("subresource") == "status"
    }


def test_status_write_conflicts_are_refused_to_others_and_the_agent_keeps_kernel_truth(
    world: World, tmpfs_pod: str
) -> None:
    """What a 409 on a PodProbe status really looks like, and who gets it.

    The agent applies its status with force=true and no resourceVersion, so the apiserver never answers it
    409 for a field-ownership conflict (it takes the fields over) nor for a stale version (it sends none);
    a patch's own etcd races are retried inside the apiserver. Its ConflictError branch (runner._apply) is
    therefore a safety net that no real writer here can trigger. What can happen, and is proved here:
    another manager applying without force and a writer with a stale resourceVersion get the 409; a manager
    that forces its value in (or an update with a fresh version) overwrites the agent's fields, and the
    agent, seeing the change through its watch, writes kernel truth back and owns those fields again.
    """
    probe = _probe(world, tmpfs_pod)
    assert probe["status"]["summary"]["tmp"] == "tmpfs"
    assert "nsprobe-agent" in _status_managers(probe)

    # 1. Another manager applies a value for a field the agent owns, without force: a real 409.
    with pytest.raises(kube.ConflictError) as refused:
        _apply(world, tmpfs_pod, {"summary": {"tmp": "disk"}}, manager="intruder", force=False)
    assert refused.value.status == 409 and "nsprobe-agent" in str(refused.value)

    # 2. A stale resourceVersion: read, let the agent write (kernel truth moves: 16 MiB into its tmpfs),
    #    then update with the old version. The stale writer gets the 409; the agent's status stands.
    stale = _probe(world, tmpfs_pod)
    container = world.containers["tmpfs/app"]
    with open(f"/proc/{container.pid}/root/tmp/fill-1", "wb") as handle:
        handle.write(b"\1" * (16 * MiB))
    conftest.wait_until(
        lambda: (
            _probe(world, tmpfs_pod)["metadata"]["resourceVersion"] != stale["metadata"]["resourceVersion"]
        ),
        timeout=30,
        what="the agent to write the new tmpfs usage",
    )
    stale["status"]["summary"]["tmp"] = "disk"
    with pytest.raises(kube.ConflictError) as raced:
        world.admin.request("PUT", _path(world, tmpfs_pod) + "/status", body=stale)
    assert raced.value.status == 409 and "modified" in str(raced.value)
    assert _probe(world, tmpfs_pod)["status"]["summary"]["tmp"] == "tmpfs"

    # 3. A forced intruder takes the field over; the agent notices through its watch and takes it back.
    since = time.time() - 1
    mark = time.monotonic()
    forced = _apply(world, tmpfs_pod, {"summary": {"tmp": "disk"}}, manager="intruder", force=True)
    assert forced["status"]["summary"]["tmp"] == "disk"
    assert "f:tmp" in json.dumps(_status_managers(forced).get("intruder"))

    def restored() -> Json | None:
        current = _probe(world, tmpfs_pod)
        return current if current["status"]["summary"]["tmp"] == "tmpfs" else None

    back = conftest.wait_until(restored, timeout=30, what="the agent to restore kernel truth")
    took = time.monotonic() - mark
    report(f"a forced foreign write to the agent's status was undone by the agent in {took:.1f}s")
    assert took <= 3 * INTERVAL + 5
    managers = _status_managers(back)
    assert "f:tmp" not in json.dumps(managers.get("intruder") or {}), managers.get("intruder")
    assert "f:tmp" in json.dumps(managers["nsprobe-agent"])
    writes = _agent_writes(world, pod=tmpfs_pod, since=since)
    assert writes and all(w["responseStatus"]["code"] == 200 for w in writes)
    # The restored status is kernel truth, not a replay of an old body: usedBytes includes the 16 MiB.
    _, used = oracles.statvfs_used(container.pid)
    tmp = back["status"]["containers"][0]["tmp"]
    assert abs(tmp["usedBytes"] - used) <= 4 * MiB and tmp["usedBytes"] >= 16 * MiB
    assert world.agent.alive()


# --- an oversized status --------------------------------------------------------------------------------

BIG_POD = "big-" + "x" * 249  # 253 characters: the longest pod name there is
BIG_CONTAINERS = int(os.environ.get("NSPROBE_FAULT_BIG_CONTAINERS", "32"))


def test_a_status_too_large_for_an_object_is_replaced_by_a_clear_condition(world: World) -> None:
    """A pod whose honest report can't be stored: every container lists, for each of the five namespaces
    it shares with the pod's sandbox, every other container by its (long) name, so the report grows with
    the square of the container count. The agent must write a StatusTooLarge condition instead of a body
    etcd would refuse, keep writing the other pods, and not rewrite the condition on every scan."""
    # The limit is real: a PodProbe whose status is over etcd's request limit is refused by the apiserver.
    huge = probe_manifests.build_pod_probe(
        {
            "metadata": {"name": "huge", "namespace": world.ns, "uid": "0" * 8},
            "spec": {"nodeName": world.node},
        }
    )
    huge["metadata"].pop("ownerReferences")
    world.admin.create(f"/apis/nsprobe.io/v1alpha1/namespaces/{world.ns}/podprobes", huge)
    with pytest.raises(kube.KubeError) as too_big:
        world.admin.merge_status(
            _path(world, "huge"),
            {"findings": [{"code": "X", "severity": "info", "message": "y" * ETCD_LIMIT}]},
        )
    report(f"the apiserver's answer to a {ETCD_LIMIT}-byte status: {too_big.value!r}")
    # etcd's 500 is told apart from an outage: retrying the same body could never succeed.
    assert isinstance(too_big.value, kube.InvalidError) and "too large" in str(too_big.value), too_big.value
    names = {f"c{i:02d}-" + "y" * 59: {"command": ["sleep", "infinity"]} for i in range(BIG_CONTAINERS)}
    _start_pod(world, name=BIG_POD, containers=names, sandbox=True)
    conftest.wait_until(
        lambda: _reason(world, BIG_POD) == status_mod.REASON_STATUS_TOO_LARGE,
        timeout=90,
        what="the StatusTooLarge condition",
    )
    status = _probe(world, BIG_POD)["status"]
    cond = _reported(status)
    assert cond["status"] == "False"
    size = int(re.search(r"report is (\d+) bytes", cond["message"]).group(1))  # type: ignore[union-attr]
    report(f"{BIG_CONTAINERS}-container pod: a {size}-byte report was replaced by a StatusTooLarge condition")
    assert size > ETCD_LIMIT, "the report must be one etcd would refuse, or this test proves nothing"
    assert str(agent_runner.MAX_STATUS_BYTES) in cond["message"]
    # Nothing partial: no containers, no findings, but who and when.
    assert set(status) == {"nodeName", "podUID", "observedAt", "scanIntervalSeconds", "conditions"}
    assert status["nodeName"] == world.node
    # The agent lives on, writes other pods, and leaves the condition alone while nothing changes.
    time.sleep(1)
    since = time.time()
    time.sleep(4 * INTERVAL)
    rewrites = _agent_writes(world, pod=BIG_POD, since=since)
    report(f"StatusTooLarge condition rewritten {len(rewrites)} times over {4 * INTERVAL}s of scans")
    assert len(rewrites) <= 1, [w["stageTimestamp"] for w in rewrites]
    _start_pod(world, name="small-after-big", containers={"app": {}})
    conftest.wait_until(
        lambda: _reason(world, "small-after-big") == "Scanned", timeout=60, what="a small pod Scanned"
    )
    assert world.agent.alive()
    # Give the machine back: the big pod's containers and their pod go before the outage test.
    for key in [k for k in world.containers if k.startswith(BIG_POD)]:
        world.scenarios.kill(world.containers.pop(key))
    world.admin.delete(f"/api/v1/namespaces/{world.ns}/pods/{BIG_POD}")


# --- apiserver and etcd outage ----------------------------------------------------------------------------


def test_agent_and_operator_recover_from_an_apiserver_and_etcd_outage(world: World, tmpfs_pod: str) -> None:
    container = world.containers["tmpfs/app"]
    agent_pid = world.agent.proc.pid if world.agent.proc else None
    before = _probe(world, tmpfs_pod)["status"]["containers"][0]["tmp"]["usedBytes"]
    world.bed.stop_apiserver()
    world.bed.stop_etcd()
    stopped = time.monotonic()
    try:
        time.sleep(OUTAGE_SECONDS / 2)
        # Kernel truth changes while the API is away: 24 MiB more in the container's tmpfs.
        with open(f"/proc/{container.pid}/root/tmp/outage-fill", "wb") as handle:
            handle.write(b"\1" * (24 * MiB))
        time.sleep(max(OUTAGE_SECONDS - (time.monotonic() - stopped), 0))
        assert world.agent.alive(), "the agent died during the outage"
    finally:
        world.bed.start_etcd()
        world.bed.start_apiserver()
    # "Back": /readyz answered (start_apiserver returned). The process itself started this much earlier.
    back = time.monotonic()
    try:
        _, used = oracles.statvfs_used(container.pid)
        assert used >= before + 20 * MiB
        _measure_recovery(world, tmpfs_pod, back=back, outage=back - stopped, agent_pid=agent_pid, used=used)
    finally:
        _renew_controllers(world.bed)


def _renew_controllers(bed: controlplane.ControlPlane) -> None:
    """Restart the controller-manager and scheduler for the tests that follow (not for ours: the agent and
    operator need neither). After an outage this long their client-go informers back off (30 s cap, with
    jitter up to 60 s): measured here, a new namespace got its default ServiceAccount only ~67 s after the
    apiserver was back, which fails any later test that waits 30 s for one."""
    bed.stop_controller_manager()
    bed.start_controller_manager()
    bed.stop_scheduler()
    bed.start_scheduler()


def _measure_recovery(
    world: World, tmpfs_pod: str, *, back: float, outage: float, agent_pid: int | None, used: int
) -> None:
    """Time from ``back`` until the operator and the agent did their work again; ``used`` is the tmpfs
    usage (kernel truth) that changed during the outage."""
    warmup = world.bed.timings.get("kube-apiserver", 0.0)
    # A new pod after the outage: the operator must create its PodProbe, the agent must report it.
    _start_pod(world, name="after-outage", containers={"app": {"tmpfs_tmp": "size=8m"}})
    created = time.monotonic()
    conftest.wait_until(lambda: _probe(world, "after-outage"), timeout=90, what="PodProbe of a new pod")
    operator_s = time.monotonic() - back
    fresh = world.containers["after-outage/app"]

    def scanned() -> bool:
        status = _probe(world, "after-outage").get("status") or {}
        if _reported(status)["reason"] != "Scanned":
            return False
        entry = status["containers"][0]
        return bool(
            entry["containerID"] == "containerd://" + fresh.container_id
            and entry["tmp"]["sizeBytes"] == 8 * MiB
            and entry["tmp"]["backing"] == "tmpfs"
        )

    conftest.wait_until(scanned, timeout=90, what="kernel-truth status of the new pod")
    agent_s = time.monotonic() - back

    def converged() -> bool:
        value = _probe(world, tmpfs_pod)["status"]["containers"][0]["tmp"]["usedBytes"]
        return bool(abs(value - used) <= MiB)

    conftest.wait_until(converged, timeout=90, what="the change made during the outage to converge")
    converge_s = time.monotonic() - back
    report(
        f"apiserver+etcd outage of {outage:.0f}s; recovery after the apiserver was ready again (its process "
        f"had started {warmup:.1f}s before): operator created a new pod's PodProbe in {operator_s:.1f}s, "
        f"agent reported it Scanned (kernel truth) in {agent_s:.1f}s, the change made during the outage "
        f"converged in {converge_s:.1f}s (new pod and scenario were set up by {created - back:.1f}s)"
    )
    assert world.agent.alive() and world.agent.proc is not None and world.agent.proc.pid == agent_pid
    # Both recovered without a restart: same agent process, same in-process operator; the bed is whole
    # again for the tests that follow.
    assert all(world.bed.running().values()), world.bed.running()
    assert "Traceback" not in world.agent.log()
    assert max(operator_s, agent_s, converge_s) <= RECOVERY_TARGET_SECONDS
