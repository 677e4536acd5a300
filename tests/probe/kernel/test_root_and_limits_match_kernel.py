"""chroot vs pivot_root, the CFS quota and SysV IPC, each read back from real kernel state."""

from __future__ import annotations

import pytest

from nsprobe.probe import model
from nsprobe.testing import scenarios as sc
from tests.probe.kernel import oracles

pytestmark = pytest.mark.kernel


def test_chroot_in_a_private_mount_namespace_is_escapable(scenarios: sc.Scenarios) -> None:
    root = scenarios.minimal_root()
    container = scenarios.start(command=["/bin/sleep", "infinity"], chroot_dir=root, unshare=("--mount",))
    report = oracles.report_for(oracles.scan(), container.container_id)
    assert isinstance(report.root, model.RootReport)
    assert report.root.kind == "chroot"
    assert "CHROOT_ONLY_ROOT" in {f.code for f in report.findings}


def test_pivot_root_is_not_escapable(scenarios: sc.Scenarios) -> None:
    root = scenarios.minimal_root()
    container = scenarios.start(command=["/bin/sleep", "infinity"], pivot_root_dir=root, unshare=("--mount",))
    report = oracles.report_for(oracles.scan(), container.container_id)
    assert isinstance(report.root, model.RootReport)
    assert report.root.kind == "pivot_root"
    assert "CHROOT_ONLY_ROOT" not in {f.code for f in report.findings}


def test_unchanged_root_is_the_hosts(scenarios: sc.Scenarios) -> None:
    container = scenarios.start()
    report = oracles.report_for(oracles.scan(), container.container_id)
    assert isinstance(report.root, model.RootReport)
    assert report.root.kind == "host"


def test_thirty_percent_cpu_quota_and_limits(scenarios: sc.Scenarios) -> None:
    container = scenarios.start(cpu_quota_us=30000, memory_limit=256 * 1024 * 1024, pids_max=64)
    report = oracles.report_for(oracles.scan(), container.container_id)
    assert isinstance(report.cgroup, model.CgroupReport)
    quota = oracles.read_int(container.cgroup_dir("cpu") + "/cpu.cfs_quota_us")
    period = oracles.read_int(container.cgroup_dir("cpu") + "/cpu.cfs_period_us")
    assert report.cgroup.cpu_quota_cores == pytest.approx(quota / period) == pytest.approx(0.3)
    assert (
        report.cgroup.memory_limit_bytes
        == oracles.read_int(container.cgroup_dir("memory") + "/memory.limit_in_bytes")
        == 256 * 1024 * 1024
    )
    assert report.cgroup.pids_limit == 64


def test_unlimited_cgroup_reports_no_limits(scenarios: sc.Scenarios) -> None:
    container = scenarios.start()
    report = oracles.report_for(oracles.scan(), container.container_id)
    assert isinstance(report.cgroup, model.CgroupReport)
    assert (report.cgroup.cpu_quota_cores, report.cgroup.memory_limit_bytes, report.cgroup.pids_limit) == (
        None,
        None,
        None,
    )


def test_shm_segment_in_private_ipc_namespace_matches_ipcs(scenarios: sc.Scenarios) -> None:
    container = scenarios.start(command=sc.workload_command(shm_bytes=1000), wait_for_ready=True)
    report = oracles.report_for(oracles.scan(), container.container_id)
    assert isinstance(report.ipc, model.IpcReport), report.ipc
    listing = oracles.ipcs_in(container.pid)
    rows = [line.split() for line in listing.splitlines() if line[:2] == "0x"]
    assert report.ipc.shm_segments == len(rows) == 1
    assert report.ipc.shm_bytes == sum(int(row[4]) for row in rows) == 1000
