"""Resource-ceiling benchmark (issue 8): scanner RSS and scan times on a node of 250 pods and 5,000 processes.

Run as root: `python bench/ceiling_bench.py [--pods 250] [--procs-per-pod 20]`. It prints figures and
asserts nothing. Each pod is one real scenario container (own mount, uts, ipc and pid namespaces, kubepods
cgroup v1) whose init starts ``procs-per-pod - 1`` sleeps, then execs a sleep itself. The scans run in a
child process, so its VmRSS and ru_maxrss are the scanner's alone. Teardown kills each pod's pid-namespace
init (the kernel then kills the rest of the namespace) before the scenario cleanup, which would otherwise
walk /proc once per process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time

from nsprobe.testing import scenarios as sc

# A private parent level: the probe finds pods under the first level named exactly "kubepods", and other
# engineers' scenarios (under /kubepods) stay apart from these, for counting and for teardown.
_KUBEPODS = "/nsprobe-ceiling/kubepods"
_MEASURE = r"""
import json, resource, statistics, sys, time
from nsprobe.probe import host, scanner

def rss_kib():
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))

kubepods, rounds, steady_per_round = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
baseline = rss_kib()
full, steady, found = [], [], (0, 0)
for _ in range(rounds):
    probe = scanner.Scanner(host.Host(), full_every=1_000_000)
    started = time.perf_counter()
    result = probe.scan()
    full.append(time.perf_counter() - started)
    mine = [c for c in result.containers if c.ref.cgroup_path.startswith(kubepods + "/")]
    found = (len(mine), sum(c.process_count for c in mine), len(result.containers), len(result.errors))
    for _ in range(steady_per_round):
        started = time.perf_counter()
        probe.scan()
        steady.append(time.perf_counter() - started)
print(json.dumps({
    "full": statistics.median(full), "full_max": max(full),
    "steady": statistics.median(steady), "steady_max": max(steady),
    "pods": found[0], "pod_processes": found[1], "containers": found[2], "errors": found[3],
    "baseline_mib": baseline / 1024, "rss_mib": rss_kib() / 1024,
    "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def _command(procs_per_pod: int) -> list[str]:
    extra = procs_per_pod - 1
    background = f"for i in $(seq {extra}); do sleep infinity & done; " if extra > 0 else ""
    return ["/bin/sh", "-c", background + "exec sleep infinity"]


def _cgroup_pids(container: sc.Container) -> list[int]:
    try:
        with open(f"{container.cgroup_dir('pids')}/cgroup.procs") as handle:
            return [int(p) for p in handle.read().split()]
    except FileNotFoundError:
        return []


def _wait_for_members(container: sc.Container, count: int, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(_cgroup_pids(container)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"pod {container.pod_uid} never reached {count} processes")
        time.sleep(0.01)


def _kill_pid_namespaces(bed: sc.Scenarios, *, timeout: float = 60.0) -> None:
    """SIGKILL each pod's init: it is pid 1 of its pid namespace, so the kernel kills every other member.
    The init is a child of its (live) unshare launcher, so its pid can't have been reused."""
    for container in bed.containers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(container.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(_cgroup_pids(c) for c in bed.containers) and time.monotonic() < deadline:
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pods", type=int, default=250)
    parser.add_argument("--procs-per-pod", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3, help="fresh scanners, each one full scan")
    parser.add_argument("--steady", type=int, default=5, help="steady-state rescans per round")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("ceiling_bench needs root: it creates namespaces and cgroups")
    if args.pods < 1 or args.procs_per_pod < 1:
        sys.exit("--pods and --procs-per-pod must be at least 1")
    command = _command(args.procs_per_pod)
    started = time.monotonic()
    with sc.Scenarios(kubepods=_KUBEPODS) as bed:
        try:
            for index in range(args.pods):
                container = bed.start(
                    command=command,
                    unshare=("--mount", "--uts", "--ipc", "--pid", "--fork"),
                    expect_comm="sleep",
                )
                _wait_for_members(container, args.procs_per_pod)
                if index % 50 == 49:
                    print(f"  started {index + 1} pods", file=sys.stderr)
            setup = time.monotonic() - started
            host_procs = len([p for p in os.listdir("/proc") if p.isdigit()])
            out = subprocess.run(
                [sys.executable, "-c", _MEASURE, _KUBEPODS, str(args.rounds), str(args.steady)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        finally:
            teardown_started = time.monotonic()
            _kill_pid_namespaces(bed)
    teardown = time.monotonic() - teardown_started
    top = _KUBEPODS.split("/")[1]
    leftovers = [c for c in sc.CONTROLLERS if os.path.exists(f"{sc.CGROUP_ROOT}/{c}/{top}")]
    figures = json.loads(out)
    print(
        f"set-up: {args.pods} pods x {args.procs_per_pod} processes in {setup:.1f}s; {host_procs} on the host"
    )
    print(f"tear-down: {teardown:.1f}s; cgroups left behind: {leftovers or 'none'}")
    print(
        f"scan found {figures['pods']} of the pods holding {figures['pod_processes']} processes "
        f"({figures['containers']} containers on the node, {figures['errors']} scan errors)"
    )
    print(
        f"full scan        {figures['full'] * 1000:8.1f} ms  median of {args.rounds}, "
        f"max {figures['full_max'] * 1000:.1f}"
    )
    print(
        f"steady rescan    {figures['steady'] * 1000:8.1f} ms  median of {args.rounds * args.steady}, "
        f"max {figures['steady_max'] * 1000:.1f}"
    )
    print(
        f"scanner RSS      {figures['rss_mib']:8.1f} MiB  (ru_maxrss {figures['max_rss_mib']:.1f} MiB; "
        f"{figures['baseline_mib']:.1f} MiB after imports, before the first scan)"
    )


if __name__ == "__main__":
    main()
