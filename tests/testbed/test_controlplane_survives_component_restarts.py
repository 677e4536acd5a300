"""A bed's apiserver and etcd can be stopped and restarted on the same ports without losing data."""

from __future__ import annotations

import collections.abc
import json
import os

import pytest

from nsprobe.testing import controlplane

pytestmark = [pytest.mark.controlplane, pytest.mark.slow]


@pytest.fixture(scope="module")
def own_bed(control_plane: controlplane.ControlPlane) -> collections.abc.Iterator[controlplane.ControlPlane]:
    # Outages in the session bed would disturb other tests, so this module breaks a bed of its own.
    with controlplane.ControlPlane(bin_dir=control_plane.bin_dir) as bed:
        yield bed


def _readyz(bed: controlplane.ControlPlane) -> str:
    result = bed.kubectl(["get", "--raw", "/readyz", "--request-timeout=5s"], check=False)
    return result.stdout.strip() if result.returncode == 0 else f"error: {result.stderr.strip()}"


def test_apiserver_restart_keeps_ports_and_data(own_bed: controlplane.ControlPlane) -> None:
    own_bed.kubectl(["create", "configmap", "survivor", "--from-literal=k=v"])
    events = [json.loads(line) for line in own_bed.audit_log.read_text().splitlines()]
    creates = [
        e
        for e in events
        if e["verb"] == "create"
        and e.get("objectRef", {}).get("resource") == "configmaps"
        and e["objectRef"].get("name") == "survivor"
    ]
    assert len(creates) == 1 and creates[0]["user"]["username"] == "admin"
    old_pid = own_bed.pids["kube-apiserver"]

    own_bed.stop_apiserver()

    assert "kube-apiserver" not in own_bed.pids
    assert not controlplane.pid_alive(old_pid)
    assert _readyz(own_bed).startswith("error")
    own_bed.start_apiserver()
    assert _readyz(own_bed) == "ok"
    data = own_bed.kubectl(["get", "configmap", "survivor", "-o", "jsonpath={.data.k}"])
    assert data.stdout == "v"


def test_etcd_outage_makes_apiserver_unready_then_recovers(own_bed: controlplane.ControlPlane) -> None:
    own_bed.stop_etcd()

    controlplane.wait_for(
        lambda: _readyz(own_bed) != "ok", timeout=60, what="apiserver to notice etcd outage"
    )
    own_bed.start_etcd()
    controlplane.wait_for(lambda: _readyz(own_bed) == "ok", timeout=60, what="apiserver to recover")
    data = own_bed.kubectl(["get", "configmap", "survivor", "-o", "jsonpath={.data.k}"])
    assert data.stdout == "v"


def test_stop_kills_every_pid_and_removes_the_directory(control_plane: controlplane.ControlPlane) -> None:
    bed = controlplane.ControlPlane(bin_dir=control_plane.bin_dir)
    bed.start()
    pids = bed.pids
    assert set(pids) == set(controlplane.COMPONENTS)
    assert bed.audit_log.is_file()

    bed.stop()

    assert not any(controlplane.pid_alive(pid) for pid in pids.values())
    assert not bed.root.exists()
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
