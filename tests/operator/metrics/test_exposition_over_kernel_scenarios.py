"""Exposition over real kernel scenarios: the real Scanner, the collector and promtool agree with the
kernel for a host-root container on a tmpfs /tmp and for one whose root is mapped to host uid 100000."""

from __future__ import annotations

import dataclasses

import pytest
from prometheus_client import parser

from nsprobe.metrics import collector
from nsprobe.probe import host, scanner
from nsprobe.testing import scenarios as sc
from tests.operator.metrics import prom

pytestmark = pytest.mark.kernel
MiB = 1024 * 1024


def _samples(text: str, pod: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in parser.text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("pod") == pod:
                extra = tuple(
                    sorted((k, v) for k, v in sample.labels.items() if k not in collector.CONTAINER_LABELS)
                )
                out[(sample.name, extra)] = sample.value
    return out


def test_scenarios_export_kernel_truth_as_valid_exposition(scenarios: sc.Scenarios) -> None:
    fill = "head -c 8388608 /dev/zero > /tmp/fill && exec sleep infinity"
    root = scenarios.start(
        command=["/bin/sh", "-c", fill],
        expect_comm="sleep",
        tmpfs_tmp="size=64m",
        memory_limit=256 * MiB,
        cpu_quota_us=50000,
    )
    mapped = scenarios.start(
        unshare=("--user", "--mount", "--pid", "--fork"),
        uid_map="0 100000 65536",
        command=["/bin/sleep", "infinity"],
    )
    probe = scanner.Scanner(host.Host())
    # One scan per scenario (only_pid): the host may run many other containers, and these are the two
    # this test knows the kernel truth of.
    scans = [probe.scan(only_pid=container.pid) for container in (root, mapped)]
    result = dataclasses.replace(scans[-1], containers=tuple(r for scan in scans for r in scan.containers))
    names = {
        root.container_id: collector.ContainerName("scenarios", "host-root", "app"),
        mapped.container_id: collector.ContainerName("scenarios", "mapped", "app"),
    }
    text = prom.render(collector.Snapshot(node="kernel-node", result=result, names=names))

    checked = prom.promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    host_root = _samples(text, "host-root")
    assert host_root[("nsprobe_container_root_in_host_userns", ())] == 1
    assert host_root[("nsprobe_container_root_host_uid", ())] == 0
    assert host_root[("nsprobe_container_tmp_info", (("backing", "tmpfs"), ("fstype", "tmpfs")))] == 1
    assert host_root[("nsprobe_container_tmp_size_bytes", ())] == 64 * MiB
    assert host_root[("nsprobe_container_tmp_used_bytes", ())] >= 8 * MiB
    assert host_root[("nsprobe_container_tmp_counts_against_memory", ())] == 1
    assert host_root[("nsprobe_container_memory_limit_bytes", ())] == 256 * MiB
    assert host_root[("nsprobe_container_cpu_quota_cores", ())] == 0.5
    # The 8 MiB written to tmpfs by the container itself is charged to its cgroup as shmem.
    assert host_root[("nsprobe_container_memory_bytes", (("kind", "shmem"),))] >= 8 * MiB
    assert host_root[("nsprobe_container_host_namespace", (("type", "user"),))] == 1
    assert host_root[("nsprobe_container_host_namespace", (("type", "net"),))] == 0
    assert (
        host_root[("nsprobe_container_finding", (("code", "ROOT_IN_HOST_USERNS"), ("severity", "critical")))]
        == 1
    )

    private = _samples(text, "mapped")
    assert private[("nsprobe_container_root_in_host_userns", ())] == 0
    assert private[("nsprobe_container_userns_root_maps_to_host_root", ())] == 0
    assert private[("nsprobe_container_root_host_uid", ())] == 100000
    assert private[("nsprobe_container_host_namespace", (("type", "user"),))] == 0
    assert ("nsprobe_container_memory_limit_bytes", ()) not in private  # unlimited: no series, not 0
    assert not any(
        name == "nsprobe_container_finding" and ("code", "ROOT_IN_HOST_USERNS") in extra
        for name, extra in private
    )
