"""A steady-state rescan must see pid reuse and processes joining a container, as a fresh scan does.

Each test checks a fresh Scanner first (it gets the answer right), then the steady-state rescan of a
Scanner that scanned before the change (membership follows cgroup.procs; see Scanner._refresh_procs).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from nsprobe.probe import host, model, scanner
from nsprobe.testing import scenarios as sc
from tests.probe.hardening import pidreuse

pytestmark = pytest.mark.kernel
_PARENT_THAT_REAPS = "sleep infinity & wait; exec sleep infinity"  # its child's pid is free once killed


def _steady() -> scanner.Scanner:
    probe = scanner.Scanner(host.Host(), full_every=1_000_000)
    probe.scan()
    return probe


def _counts(result: model.ScanResult, *containers: sc.Container) -> list[int | None]:
    by_id = {r.ref.container_id: r for r in result.containers}
    return [by_id[c.container_id].process_count if c.container_id in by_id else None for c in containers]


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as handle:
        return [int(p) for p in handle.read().split()]


def _kill_and_wait_free(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}"):
        assert time.monotonic() < deadline, f"pid {pid} was never reaped"
        time.sleep(0.01)


def test_steady_scan_reports_a_new_container_whose_init_got_a_pid_cached_as_no_containers(
    scenarios: sc.Scenarios,
) -> None:
    outsider = subprocess.Popen(["sleep", "infinity"])
    try:
        probe = _steady()
    finally:
        outsider.kill()
        outsider.wait()
    with pidreuse.reused_pid_container(scenarios, outsider.pid) as (container, pid):
        assert pid == outsider.pid, "the pid was taken by someone else meanwhile"
        assert _counts(scanner.Scanner(host.Host()).scan(), container) == [1]
        assert _counts(probe.scan(), container) == [1]


def test_steady_scan_moves_a_reused_pid_from_its_old_container_to_its_new_one(
    scenarios: sc.Scenarios,
) -> None:
    old = scenarios.start(command=["/bin/sh", "-c", _PARENT_THAT_REAPS], unshare=(), expect_comm="sh")
    deadline = time.monotonic() + 10
    while not _children(old.pid):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    (child,) = _children(old.pid)
    probe = _steady()
    _kill_and_wait_free(child)
    with pidreuse.reused_pid_container(scenarios, child) as (new, pid):
        assert pid == child, "the pid was taken by someone else meanwhile"
        assert _counts(scanner.Scanner(host.Host()).scan(), old, new) == [1, 1]
        assert _counts(probe.scan(), old, new) == [1, 1]


def test_steady_scan_counts_a_process_that_joined_a_container_after_the_previous_scan(
    scenarios: sc.Scenarios,
) -> None:
    container = scenarios.start()
    joiner = subprocess.Popen(["sleep", "infinity"])  # as `runc exec` does: fork first, join the cgroup next
    try:
        probe = _steady()
        for controller in sc.CONTROLLERS:
            with open(f"{container.cgroup_dir(controller)}/cgroup.procs", "w") as handle:
                handle.write(str(joiner.pid))
        assert _counts(scanner.Scanner(host.Host()).scan(), container) == [2]
        assert _counts(probe.scan(), container) == [2]
    finally:
        joiner.kill()
        joiner.wait()
