"""PodProbe status building and the change test that decides every agent write (models.status)."""

from __future__ import annotations

import copy
import json
import pathlib

from nsprobe.models import status

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((ROOT / "docs" / "example-podprobe-status.json").read_text())
NODE_EXAMPLE = json.loads((ROOT / "docs" / "example-nodeprobe-status.json").read_text())


def _pod(**changes: object) -> status.PodView:
    base = {
        "namespace": "shop",
        "name": "web-1",
        "uid": "p-1",
        "phase": "Running",
        "node_name": "node-a",
        "containers": (("abc", "app", "containerd://abc"),),
    }
    return status.PodView(**{**base, **changes})  # type: ignore[arg-type]


def test_identical_status_is_no_change_even_with_new_timestamps() -> None:
    later = copy.deepcopy(EXAMPLE)
    later["observedAt"] = "2030-01-01T00:00:00Z"
    later["conditions"][0]["lastTransitionTime"] = "2030-01-01T00:00:00Z"
    later["containers"][0]["processCount"] = 7
    later["containers"][0]["memory"]["explanation"] = "other words"
    assert not status.significant_change(EXAMPLE, later)


def test_memory_moves_count_only_past_the_hysteresis() -> None:
    small = copy.deepcopy(EXAMPLE)
    small["containers"][0]["memory"]["anon"] += 1024 * 1024
    small["summary"]["workingSetBytes"] += 1024 * 1024
    assert not status.significant_change(EXAMPLE, small)
    big = copy.deepcopy(EXAMPLE)
    big["containers"][0]["memory"]["shmem"] += 64 * 1024 * 1024
    assert status.significant_change(EXAMPLE, big)


def test_a_new_finding_or_a_namespace_change_is_a_change() -> None:
    fewer = copy.deepcopy(EXAMPLE)
    fewer["findings"].pop()
    assert status.significant_change(EXAMPLE, fewer)
    shared = copy.deepcopy(EXAMPLE)
    shared["containers"][0]["namespaces"][2]["sharing"] = "host"
    assert status.significant_change(EXAMPLE, shared)
    reworded = copy.deepcopy(EXAMPLE)
    reworded["findings"][2]["message"] = "/tmp is tmpfs, 4.1 MiB used"  # quotes a byte count
    assert not status.significant_change(EXAMPLE, reworded)


def test_node_meminfo_has_hysteresis_and_the_scan_time_is_volatile() -> None:
    later = copy.deepcopy(NODE_EXAMPLE)
    later["meminfo"]["memFree"] -= 10 * 1024 * 1024
    later["lastScan"]["time"] = "2030-01-01T00:00:00Z"
    later["lastScan"]["durationSeconds"] = 9.9
    assert not status.significant_change(NODE_EXAMPLE, later)
    later["lastScan"]["containers"] += 1
    assert status.significant_change(NODE_EXAMPLE, later)


def test_pending_pod_gets_a_reason_and_no_invented_report() -> None:
    body = status.pod_probe_status(
        pod=_pod(phase="Pending", containers=()), reports=[], names={}, scanned_at=0, scan_interval_seconds=30
    )
    assert body["conditions"][0]["reason"] == "PodPending" and body["conditions"][0]["status"] == "False"
    assert "containers" not in body and "summary" not in body and body["scanIntervalSeconds"] == 30


def test_pod_with_no_cgroup_here_is_not_on_this_node() -> None:
    body = status.pod_probe_status(pod=_pod(), reports=[], names={}, scanned_at=0, scan_interval_seconds=30)
    assert body["conditions"][0]["reason"] == "PodNotOnThisNode"
    assert "p-1" in body["conditions"][0]["message"] and "node-a" in body["conditions"][0]["message"]


def test_excluded_namespace_is_said_so() -> None:
    body = status.pod_probe_status(
        pod=_pod(), reports=[], names={}, scanned_at=0, scan_interval_seconds=30, excluded=True
    )
    assert body["conditions"][0]["reason"] == "ExcludedNamespace"


def test_transition_time_is_kept_while_the_condition_holds() -> None:
    first = status.pod_probe_status(pod=_pod(), reports=[], names={}, scanned_at=0, scan_interval_seconds=30)
    again = status.pod_probe_status(
        pod=_pod(), reports=[], names={}, scanned_at=3600, scan_interval_seconds=30, previous=first
    )
    assert again["conditions"][0]["lastTransitionTime"] == first["conditions"][0]["lastTransitionTime"]
    assert not status.significant_change(first, again)


def test_pod_view_reads_container_ids_by_name() -> None:
    pod = {
        "metadata": {"namespace": "shop", "name": "web-1", "uid": "p-1"},
        "spec": {"nodeName": "node-a"},
        "status": {
            "phase": "Running",
            "containerStatuses": [
                {"name": "z-sidecar", "containerID": "containerd://111"},
                {"name": "app", "containerID": "cri-o://222"},
                {"name": "starting"},
            ],
        },
    }
    view = status.pod_view(pod)
    assert view.containers == (("222", "app", "cri-o://222"), ("111", "z-sidecar", "containerd://111"))
    assert view.node_name == "node-a" and not view.deleting
