"""`nsprobe scan` end to end as a user runs it: formats, --pid, unreadable roots and refused reads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from nsprobe.testing import scenarios as sc

NSPROBE = [sys.executable, "-m", "nsprobe.cli"] if shutil.which("nsprobe") is None else ["nsprobe"]


def _run(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, *NSPROBE, *args], capture_output=True, text=True, timeout=120)


def test_unreadable_proc_root_is_a_clear_error_and_nonzero_exit(tmp_path: os.PathLike[str]) -> None:
    missing = os.path.join(str(tmp_path), "no-such-proc")
    result = _run("scan", "--proc-root", missing)
    assert result.returncode == 1
    assert "cannot scan" in result.stderr and missing in result.stderr
    assert "Traceback" not in result.stderr


def test_proc_root_that_is_not_a_procfs_is_refused(tmp_path: os.PathLike[str]) -> None:
    result = _run("scan", "--proc-root", str(tmp_path))
    assert result.returncode == 1
    assert "holds no processes" in result.stderr


def test_unknown_output_format_is_a_usage_error() -> None:
    result = _run("scan", "-o", "xml")
    assert result.returncode == 2
    assert "Invalid value" in result.stderr


@pytest.mark.kernel
def test_vanished_pid_is_reported_not_crashed() -> None:
    proc = subprocess.Popen(["sleep", "0"])
    proc.wait()
    result = _run("scan", "--pid", str(proc.pid))
    assert result.returncode == 1
    assert f"process {proc.pid} not found" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.kernel
@pytest.mark.parametrize("fmt", ["json", "yaml", "yml", "table", "wide"])
def test_every_output_format_carries_the_scenario(scenarios: sc.Scenarios, fmt: str) -> None:
    container = scenarios.start()
    result = _run("scan", "-o", fmt)
    assert result.returncode == 0, result.stderr
    if fmt == "json":
        data = json.loads(result.stdout)
    elif fmt in ("yaml", "yml"):
        data = yaml.safe_load(result.stdout)
    else:
        assert container.container_id[:12] in result.stdout
        assert "NAME" in result.stdout.splitlines()[1]
        return
    found = [c for c in data["containers"] if c["ref"]["containerId"] == container.container_id]
    assert len(found) == 1
    assert found[0]["ref"]["podUid"] == container.pod_uid
    assert found[0]["identity"]["usernsMode"] == "host"


@pytest.mark.kernel
def test_pid_option_reports_that_process_only(scenarios: sc.Scenarios) -> None:
    container = scenarios.start()
    scenarios.start()
    result = _run("scan", "--pid", str(container.pid), "-o", "json")
    assert result.returncode == 0, result.stderr
    containers = json.loads(result.stdout)["containers"]
    assert [c["pid"] for c in containers] == [container.pid]


@pytest.mark.kernel
def test_refused_reads_become_unknown_with_the_capability_needed(scenarios: sc.Scenarios) -> None:
    """Root without capabilities: the kernel refuses other processes' ns links (ptrace access check)."""
    container = scenarios.start()
    result = _run("scan", "-o", "json", prefix=("setpriv", "--bounding-set=-all", "--inh-caps=-all"))
    assert result.returncode == 0, result.stderr
    report = next(c for c in json.loads(result.stdout)["containers"] if c["pid"] == container.pid)
    assert report["namespaces"]["unknown"].startswith("unavailable (needs CAP_SYS_PTRACE)")
    assert report["identity"]["unknown"].startswith("unavailable (needs CAP_SYS_PTRACE)")
    assert report["ipc"]["unknown"].startswith("unavailable (needs")
    # The cgroup files stay readable, so memory is still answered, and no finding is guessed.
    assert report["memory"]["cgroupVersion"] == 1
    assert not {f["code"] for f in report["findings"]} & {"ROOT_IN_HOST_USERNS", "HOST_PID_NAMESPACE"}


@pytest.mark.kernel
def test_without_kubepods_processes_are_grouped_by_namespace_set_like_lsns(scenarios: sc.Scenarios) -> None:
    """The seed's plain-VM experiments: unshare'd processes in no cgroup at all, grouped as lsns groups."""
    mapped = scenarios.start(
        unshare=("--user", "--mount", "--pid", "--fork"),
        uid_map="0 100000 65536",
        command=["/bin/sleep", "infinity"],
        in_cgroup=False,
    )
    host_root = scenarios.start(unshare=("--mount", "--uts"), in_cgroup=False)
    result = _run("scan", "--group-by", "nsset", "-o", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["kubernetes"] is False
    by_pid = {c["pid"]: c for c in data["containers"]}
    assert by_pid[mapped.pid]["identity"]["usernsMode"] == "private"
    assert by_pid[mapped.pid]["identity"]["rootHostUid"] == 100000
    assert by_pid[host_root.pid]["identity"]["usernsMode"] == "host"
    assert by_pid[host_root.pid]["ref"]["key"].startswith("nsset-")
    shared = {ns["type"] for ns in by_pid[host_root.pid]["namespaces"] if ns["sharing"] == "host"}
    lsns = json.loads(
        subprocess.run(
            ["lsns", "-J", "--list", "-p", str(host_root.pid)], capture_output=True, text=True, check=True
        ).stdout
    )["namespaces"]
    host = json.loads(
        subprocess.run(["lsns", "-J", "--list", "-p", "2"], capture_output=True, text=True, check=True).stdout
    )["namespaces"]
    host_by_type = {row["type"]: row["ns"] for row in host}
    assert shared == {row["type"] for row in lsns if row["ns"] == host_by_type[row["type"]]}
