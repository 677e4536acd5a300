"""Namespace sharing on the real kernel, checked against lsns: host-shared, pod-shared and private."""

from __future__ import annotations

import pytest

from nsprobe.probe import model
from nsprobe.testing import scenarios as sc
from tests.probe.kernel import oracles

pytestmark = pytest.mark.kernel


def _sharing(report: model.ContainerReport) -> dict[str, model.NamespaceReport]:
    assert not isinstance(report.namespaces, model.Unknown), report.namespaces
    return {ns.type: ns for ns in report.namespaces}


def test_inodes_equal_lsns_for_all_eight_types(scenarios: sc.Scenarios) -> None:
    container = scenarios.start(
        unshare=("--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--time", "--fork")
    )
    report = oracles.report_for(oracles.scan(), container.container_id)
    sharing = _sharing(report)
    oracle = oracles.lsns(container.pid)
    host = oracles.lsns(2)
    assert {t: ns.inode for t, ns in sharing.items()} == oracle
    for ns_type in model.NAMESPACE_TYPES:
        expected = "host" if oracle[ns_type] == host[ns_type] else "private"
        assert sharing[ns_type].sharing == expected, ns_type
    assert sharing["user"].sharing == "host"
    assert sharing["time"].sharing == "private"


def test_pid_net_ipc_shared_with_host_are_flagged(scenarios: sc.Scenarios) -> None:
    container = scenarios.start(unshare=("--mount", "--uts"))
    report = oracles.report_for(oracles.scan(), container.container_id)
    sharing = _sharing(report)
    host = oracles.lsns(2)
    for ns_type in ("pid", "net", "ipc"):
        assert sharing[ns_type].inode == host[ns_type]
        assert sharing[ns_type].sharing == "host"
    assert sharing["mnt"].sharing == "private"
    codes = {f.code for f in report.findings}
    assert {"HOST_PID_NAMESPACE", "HOST_NETWORK_NAMESPACE", "HOST_IPC_NAMESPACE"} <= codes
    assert "HOST_MOUNT_NAMESPACE" not in codes


def test_two_containers_of_one_pod_share_net_and_ipc(scenarios: sc.Scenarios) -> None:
    pod = scenarios.new_pod_uid()
    sandbox = scenarios.start(pod_uid=pod, unshare=("--mount", "--uts", "--ipc", "--net", "--pid", "--fork"))
    app = scenarios.start(
        pod_uid=pod,
        join_pid=sandbox.pid,
        join=("--net", "--ipc", "--uts"),
        unshare=("--mount", "--pid", "--fork"),
    )
    other_pod = scenarios.start()
    result = oracles.scan()
    app_ns = _sharing(oracles.report_for(result, app.container_id))
    sandbox_ns = _sharing(oracles.report_for(result, sandbox.container_id))
    for ns_type in ("net", "ipc", "uts"):
        assert oracles.lsns(app.pid)[ns_type] == oracles.lsns(sandbox.pid)[ns_type]
        assert app_ns[ns_type].sharing == "pod"
        assert sandbox.container_id in app_ns[ns_type].shared_with
        assert other_pod.container_id not in app_ns[ns_type].shared_with
    assert app_ns["mnt"].sharing == "private"
    assert sandbox_ns["pid"].inode != app_ns["pid"].inode
