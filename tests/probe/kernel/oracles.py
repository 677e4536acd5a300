"""Independent oracles for kernel tests: util-linux tools and raw kernel files, read without nsprobe code."""

from __future__ import annotations

import json
import os
import subprocess
import typing

from nsprobe.probe import host as host_mod
from nsprobe.probe import model, scanner


def lsns(pid: int) -> dict[str, int]:
    """Namespace inodes of one process, by type, as `lsns -J -p PID` lists them."""
    out = subprocess.run(
        ["lsns", "-J", "--list", "-p", str(pid)], capture_output=True, text=True, check=True
    ).stdout
    return {row["type"]: int(row["ns"]) for row in json.loads(out)["namespaces"]}


def _findmnt(*args: str) -> dict[str, typing.Any]:
    out = subprocess.run(
        ["findmnt", "-J", *args, "-o", "TARGET,SOURCE,FSTYPE"], capture_output=True, text=True, check=True
    ).stdout
    rows: list[dict[str, typing.Any]] = json.loads(out)["filesystems"]
    return rows[0]


def findmnt_tmp(pid: int) -> dict[str, typing.Any]:
    """The mount holding /tmp in the process's mount namespace, per `findmnt -J -N PID -T /tmp`."""
    return _findmnt("-N", str(pid), "-T", "/tmp")


def findmnt_target(path: str) -> dict[str, typing.Any]:
    """The host's mount holding <path>, per `findmnt -J -T PATH`."""
    return _findmnt("-T", path)


def memory_stat(cgroup_dir: str) -> dict[str, int]:
    with open(f"{cgroup_dir}/memory.stat") as handle:
        return {k: int(v) for k, v in (line.split() for line in handle)}


def read_int(path: str) -> int:
    with open(path) as handle:
        return int(handle.read().strip())


def ipcs_in(pid: int) -> str:
    return subprocess.run(
        ["nsenter", "-t", str(pid), "--ipc", "--", "ipcs", "-m", "-b"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def scan() -> model.ScanResult:
    return scanner.Scanner(host_mod.Host()).scan()


def report_for(result: model.ScanResult, container_id: str) -> model.ContainerReport:
    for report in result.containers:
        if report.ref.container_id == container_id:
            return report
    raise AssertionError(
        f"container {container_id} not in scan (have {[r.ref.key for r in result.containers]})"
    )


def statvfs_used(pid: int, path: str = "/tmp") -> tuple[int, int]:
    st = os.statvfs(f"/proc/{pid}/root{path}")
    return st.f_blocks * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize
