"""Memory truth on the real kernel: page cache vs anon vs tmpfs, and the kubelet's working set."""

from __future__ import annotations

import os

import pytest

from nsprobe.probe import model
from nsprobe.testing import scenarios as sc
from tests.probe.kernel import oracles

pytestmark = [pytest.mark.kernel, pytest.mark.slow]
MiB = 1024 * 1024


def _memory(container: sc.Container) -> tuple[model.MemoryReport, dict[str, int], int]:
    report = oracles.report_for(oracles.scan(), container.container_id)
    assert isinstance(report.memory, model.MemoryReport), report.memory
    directory = container.cgroup_dir("memory")
    return (
        report.memory,
        oracles.memory_stat(directory),
        oracles.read_int(f"{directory}/memory.usage_in_bytes"),
    )


def test_writing_a_large_file_grows_cache_not_anon(scenarios: sc.Scenarios) -> None:
    path = os.path.join(scenarios.tempdir(), "upload.bin")
    container = scenarios.start(command=sc.workload_command(file_mb=150, file_path=path), wait_for_ready=True)
    memory, stat, usage = _memory(container)
    assert memory.file >= 140 * MiB
    assert memory.anon < 40 * MiB  # the interpreter itself, not the file
    assert abs(memory.file - stat["total_cache"]) < 8 * MiB
    assert abs(memory.anon - stat["total_rss"]) < 8 * MiB
    assert abs(memory.usage - usage) < 8 * MiB


def test_anon_allocation_grows_anon(scenarios: sc.Scenarios) -> None:
    container = scenarios.start(command=sc.workload_command(anon_mb=100), wait_for_ready=True)
    memory, stat, _ = _memory(container)
    assert memory.anon >= 100 * MiB
    assert abs(memory.anon - stat["total_rss"]) < 8 * MiB
    assert memory.shmem < MiB


def test_tmpfs_write_grows_shmem_and_the_working_set(scenarios: sc.Scenarios) -> None:
    container = scenarios.start(
        command=sc.workload_command(tmp_mb=50), tmpfs_tmp="size=128m", wait_for_ready=True
    )
    memory, stat, usage = _memory(container)
    assert memory.shmem == stat["total_shmem"]
    assert memory.shmem >= 50 * MiB
    # The kubelet's formula, against the raw files: usage - inactive_file, and tmpfs is inside it.
    expected = max(usage - stat["total_inactive_file"], 0)
    assert abs(memory.working_set - expected) < 8 * MiB
    assert memory.working_set >= memory.shmem


def test_seed_experiment_reproduces_the_incident_split(scenarios: sc.Scenarios) -> None:
    """The seed's experiment: a 200 MB disk file, 50 MB in tmpfs and 100 MB of touched anon memory."""
    path = os.path.join(scenarios.tempdir(), "upload.bin")
    container = scenarios.start(
        command=sc.workload_command(file_mb=200, file_path=path, tmp_mb=50, anon_mb=100),
        tmpfs_tmp="size=128m",
        wait_for_ready=True,
    )
    memory, stat, usage = _memory(container)
    assert memory.anon >= 100 * MiB
    assert memory.shmem >= 50 * MiB
    assert memory.file >= 240 * MiB  # 200 MB file + 50 MB tmpfs: cache includes shmem
    assert abs(memory.working_set - max(usage - stat["total_inactive_file"], 0)) < 8 * MiB
    assert "tmpfs/shm" in memory.explanation
