"""Benchmark: full scan, steady-state rescan and `lsns -J` over ~330 real scenario containers (~1,000 procs).

Run as root: `make bench` (or `python bench/scan_bench.py --containers 330`). It prints numbers; it is not
a test and asserts nothing. Targets (issue 2): full scan <= 0.5x lsns -J, steady rescan <= 0.1x full
scan, scanner RSS <= 50 MiB. The scans run in a child process so that its RSS is the scanner's alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from nsprobe.testing import scenarios as sc

_MEASURE = r"""
import json, resource, statistics, subprocess, sys, time
from nsprobe.probe import host, scanner
rounds = int(sys.argv[1])

def timed(fn):
    t = time.perf_counter(); out = fn(); return time.perf_counter() - t, out

full, steady, lsns, counts, no_ipc = [], [], [], [], []
for _ in range(rounds):
    no_ipc.append(timed(scanner.Scanner(host.Host(), read_ipc=False).scan)[0])
    probe = scanner.Scanner(host.Host(), full_every=1_000_000)
    seconds, result = timed(probe.scan)
    full.append(seconds)
    counts.append((len(result.containers), sum(c.process_count for c in result.containers)))
    for _ in range(3):
        steady.append(timed(probe.scan)[0])
    lsns.append(timed(lambda: subprocess.run(["lsns", "-J"], capture_output=True, check=True))[0])
with open("/proc/self/status") as handle:
    rss_kib = next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))
print(json.dumps({
    "full": statistics.median(full), "full_no_ipc": statistics.median(no_ipc),
    "steady": statistics.median(steady), "lsns": statistics.median(lsns),
    "containers": counts[-1][0], "container_processes": counts[-1][1],
    "rss_mib": rss_kib / 1024, "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--containers", type=int, default=330)
    parser.add_argument("--processes-per-container", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("scan_bench needs root: it creates namespaces and cgroups")
    extra = max(args.processes_per_container - 1, 0)
    command = ["/bin/sh", "-c", "sleep infinity & " * extra + "exec sleep infinity"]
    started = time.monotonic()
    with sc.Scenarios(kubepods="/kubepods") as bed:
        for index in range(args.containers):
            pod = bed.new_pod_uid()
            bed.start(
                command=command,
                pod_uid=pod,
                unshare=("--mount", "--uts", "--ipc", "--pid", "--fork"),
                expect_comm="sleep",
            )
            if index % 50 == 49:
                print(f"  started {index + 1} containers", file=sys.stderr)
        setup = time.monotonic() - started
        total_procs = len([p for p in os.listdir("/proc") if p.isdigit()])
        out = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(args.rounds)], capture_output=True, text=True, check=True
        ).stdout
    figures = json.loads(out)
    print(
        f"scenario set-up: {args.containers} containers in {setup:.1f}s; {total_procs} processes on the host"
    )
    print(f"scan found {figures['containers']} containers holding {figures['container_processes']} processes")
    print(f"full scan        {figures['full'] * 1000:8.1f} ms   (median of {args.rounds})")
    print(f"full, --no-ipc   {figures['full_no_ipc'] * 1000:8.1f} ms   (median of {args.rounds}; no setns)")
    print(f"steady rescan    {figures['steady'] * 1000:8.1f} ms   (median of {3 * args.rounds})")
    print(f"lsns -J          {figures['lsns'] * 1000:8.1f} ms   (median of {args.rounds})")
    print(f"full / lsns      {figures['full'] / figures['lsns']:8.3f}     target <= 0.5")
    print(f"steady / full    {figures['steady'] / figures['full']:8.3f}     target <= 0.1")
    print(f"scanner RSS      {figures['rss_mib']:8.1f} MiB (peak {figures['max_rss_mib']:.1f})  target <= 50")


if __name__ == "__main__":
    main()
