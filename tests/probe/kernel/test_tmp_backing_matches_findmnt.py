"""/tmp backing on the real kernel: the container's disk root vs a tmpfs in a private mount namespace."""

from __future__ import annotations

import pytest

from nsprobe.probe import model
from nsprobe.testing import scenarios as sc
from tests.probe.kernel import oracles

pytestmark = pytest.mark.kernel


def test_tmp_on_the_root_filesystem_is_reported_as_node_disk(scenarios: sc.Scenarios) -> None:
    container = scenarios.start()
    report = oracles.report_for(oracles.scan(), container.container_id)
    oracle = oracles.findmnt_tmp(container.pid)
    assert isinstance(report.tmp, model.TmpReport)
    assert report.tmp.backing == "container-rootfs"
    assert report.tmp.mount_point == oracle["target"] == "/"
    assert report.tmp.fstype == oracle["fstype"]
    assert report.tmp.counts_against_memory_limit is False
    assert "TMP_ON_NODE_DISK" in {f.code for f in report.findings}


def test_tmpfs_tmp_is_reported_with_its_own_size_and_usage(scenarios: sc.Scenarios) -> None:
    container = scenarios.start(
        command=sc.workload_command(tmp_mb=8), tmpfs_tmp="size=64m", wait_for_ready=True
    )
    report = oracles.report_for(oracles.scan(), container.container_id)
    oracle = oracles.findmnt_tmp(container.pid)
    size, used = oracles.statvfs_used(container.pid)
    assert isinstance(report.tmp, model.TmpReport)
    assert (report.tmp.backing, report.tmp.fstype, report.tmp.mount_point) == (
        "tmpfs",
        oracle["fstype"],
        oracle["target"],
    )
    assert report.tmp.source == oracle["source"] == "nsprobe-tmp"
    assert report.tmp.size_bytes == size == 64 * 1024 * 1024
    assert report.tmp.used_bytes == used
    assert isinstance(report.tmp.used_bytes, int) and report.tmp.used_bytes >= 8 * 1024 * 1024
    assert report.tmp.counts_against_memory_limit is True
    assert "TMPFS_COUNTS_AGAINST_MEMORY" in {f.code for f in report.findings}


def test_chroot_without_mount_namespace_resolves_tmp_through_proc_root(scenarios: sc.Scenarios) -> None:
    root = scenarios.minimal_root()
    container = scenarios.start(command=["/bin/sleep", "infinity"], chroot_dir=root, unshare=())
    with open(f"/proc/{container.pid}/mountinfo") as handle:
        assert handle.read() == ""  # the quirk this test is about
    report = oracles.report_for(oracles.scan(), container.container_id)
    assert isinstance(report.tmp, model.TmpReport)
    assert report.tmp.backing == "container-rootfs"
    oracle = oracles.findmnt_target(root + "/tmp")  # the host's view of the chroot's /tmp
    assert (report.tmp.fstype, report.tmp.source) == (oracle["fstype"], oracle["source"])
