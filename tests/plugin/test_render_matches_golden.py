"""The pure renderers produce exactly the reviewed text for captured and edge-case status objects."""

from __future__ import annotations

import copy

import pytest

from kubectl_nsprobe import diagnose, escape, render
from nsprobe.probe import findings
from tests.plugin import objects

Obj = objects.Obj


def _sidecar() -> Obj:
    """A second container unlike the captured one: disk /tmp, limits, a user namespace, partial unknowns."""
    return {
        "name": "sidecar",
        "containerID": "cri-o://0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "runtime": "crio",
        "qosClass": "guaranteed",
        "pid": 4242,
        "processCount": 3,
        "tmp": {
            "backing": "container-rootfs",
            "fstype": "overlay",
            "source": "overlay",
            "mountPoint": "/",
            "sizeBytes": None,
            "usedBytes": None,
            "countsAgainstMemoryLimit": False,
            "unknown": "sizeBytes: permission denied: /proc/4242/root/tmp; usedBytes: permission denied",
        },
        "memory": {
            "cgroupVersion": 2,
            "anon": 104857600,
            "file": 734003200,
            "activeFile": 524288000,
            "inactiveFile": 209715200,
            "shmem": 0,
            "mappedFile": 1048576,
            "usage": 838860800,
            "workingSet": 629145600,
            "limit": 1073741824,
            "explanation": "working set 600.0 MiB = usage 800.0 MiB - inactive page cache 200.0 MiB; of it, "
            "anon 100.0 MiB, 83% active page cache (500.0 MiB) and 0% tmpfs/shm (0 B)",
        },
        "namespaces": [
            {"type": "net", "sharing": "pod", "sharedWith": ["default/app/app"]},
            {"type": "ipc", "sharing": "pod", "sharedWith": ["default/app/app"]},
            {"type": "uts", "sharing": "pod", "sharedWith": ["default/app/app"]},
            {"type": "mnt", "sharing": "private", "sharedWith": []},
            {"type": "pid", "sharing": "private", "sharedWith": []},
            {"type": "user", "sharing": "private", "sharedWith": []},
            {"type": "cgroup", "sharing": "private", "sharedWith": []},
            {"type": "time", "sharing": "host", "sharedWith": []},
        ],
        "identity": {
            "uid": 0,
            "gid": 0,
            "rootHostUid": 165536,
            "usernsMode": "private",
            "uidMap": [{"inside": 0, "outside": 165536, "count": 65536}],
            "gidMap": [{"inside": 0, "outside": 165536, "count": 65536}],
            "capabilities": [],
            "capEffHex": "0000000000000000",
            "privileged": False,
        },
        "root": {
            "kind": "pivot_root",
            "explanation": "the container root was pivot_root-ed; the old root is gone",
        },
        "cgroup": {
            "version": 2,
            "cpuQuotaCores": 1.5,
            "cpuPeriodUs": 100000,
            "memoryLimitBytes": 1073741824,
            "pidsLimit": 4096,
        },
        "ipc": {"unknown": "unavailable (needs CAP_SYS_ADMIN)"},
    }


def _two_container_probe() -> Obj:
    status = objects.example_pod_status()
    status["containers"].append(_sidecar())
    status["findings"].append(
        {
            "code": "PAGE_CACHE_INFLATES_WORKING_SET",
            "severity": "info",
            "container": "sidecar",
            "message": "Page cache makes kubectl top look larger than the process: working set 600.0 MiB",
            "remedy": findings.CATALOGUE["PAGE_CACHE_INFLATES_WORKING_SET"].remedy,
        }
    )
    status["conditions"][0]["message"] = "kernel facts for 2 of 2 containers"
    status["summary"].update(
        tmp="tmpfs,container-rootfs", workingSetBytes=660910080, cacheBytes=734007296, findings=4
    )
    return objects.pod_probe(status=status)


def _all_unknown_probe() -> Obj:
    status = objects.example_pod_status()
    container = status["containers"][0]
    for section in ("tmp", "memory", "identity", "root", "cgroup", "ipc"):
        container[section] = {"unknown": f"permission: /proc/17563/{section} (needs CAP_SYS_PTRACE)"}
    container["namespaces"] = {"unknown": "permission: /proc/17563/ns/* (needs CAP_SYS_PTRACE)"}
    status["findings"] = []
    status["summary"] = {**status["summary"], "tmp": "unknown", "findings": 0, "worstSeverity": "none"}
    return objects.pod_probe(status=status)


def _fresh_node() -> Obj:
    return objects.node_probe(heartbeat="2026-11-29T09:20:00Z")


def test_pod_report_of_the_captured_status() -> None:
    probe = objects.pod_probe()
    fresh = diagnose.pod_probe_freshness(probe, now=objects.NOW, node_probe=_fresh_node())
    objects.assert_golden("pod_example.txt", render.pod_report(probe, now=objects.NOW, fresh=fresh))


def test_pod_report_with_a_second_container_and_partial_unknowns() -> None:
    probe = _two_container_probe()
    fresh = diagnose.pod_probe_freshness(probe, now=objects.NOW, node_probe=_fresh_node())
    text = render.pod_report(probe, now=objects.NOW, fresh=fresh, pod=objects.pod())
    objects.assert_golden("pod_two_containers.txt", text)


def test_pod_report_when_every_section_is_unknown() -> None:
    probe = _all_unknown_probe()
    objects.assert_golden("pod_unknown_sections.txt", render.pod_report(probe, now=objects.NOW))


def test_pod_report_marks_a_stale_report() -> None:
    probe = objects.pod_probe()
    stale_node = objects.node_probe(heartbeat="2026-11-29T08:00:00Z")  # 81 minutes > 3 x 5 minutes
    fresh = diagnose.pod_probe_freshness(probe, now=objects.NOW, node_probe=stale_node)
    assert fresh.stale
    objects.assert_golden("pod_stale.txt", render.pod_report(probe, now=objects.NOW, fresh=fresh))


def test_quiet_pod_with_a_live_agent_is_not_stale() -> None:
    # The agent rewrites a report only when the answer changes: an old observedAt alone is not staleness.
    probe = objects.pod_probe()
    later = objects.NOW.replace(hour=11)
    assert diagnose.pod_probe_freshness(probe, now=later).stale  # no node evidence: 3 scan intervals rule
    live = objects.node_probe(heartbeat="2026-11-29T11:19:00Z")
    assert not diagnose.pod_probe_freshness(probe, now=later, node_probe=live).stale


def _rows() -> list[render.PodRow]:
    node = _fresh_node()
    second = objects.pod_probe("web-7d9f", "shop", status=_two_container_probe()["status"])
    pending = objects.pod_probe("batch-1", "shop", status={})
    rows = [
        render.PodRow(probe=objects.pod_probe(), pod=None),
        render.PodRow(probe=second, pod=None),
        render.PodRow(probe=pending, pod=None),
        render.PodRow(probe=None, pod=objects.pod("no-probe", "shop")),
    ]
    return [
        row._replace(fresh=diagnose.pod_probe_freshness(row.probe, now=objects.NOW, node_probe=node))
        if row.probe is not None and diagnose.has_report(row.probe)
        else row
        for row in rows
    ]


@pytest.mark.parametrize(
    ("golden", "wide", "all_namespaces", "headers"),
    [
        ("pods_table.txt", False, False, True),
        ("pods_table_all_namespaces.txt", False, True, True),
        ("pods_table_wide.txt", True, True, True),
        ("pods_table_no_headers.txt", False, False, False),
    ],
)
def test_pods_table(golden: str, wide: bool, all_namespaces: bool, headers: bool) -> None:
    text = render.pods_table(
        _rows(), now=objects.NOW, wide=wide, all_namespaces=all_namespaces, headers=headers
    )
    objects.assert_golden(golden, text)


def test_pods_table_colour_keeps_the_columns_aligned() -> None:
    plain = render.pods_table(_rows(), now=objects.NOW)
    coloured = render.pods_table(_rows(), now=objects.NOW, color=True)
    assert "\x1b[1;31m3 (critical)\x1b[0m" in coloured
    stripped = coloured.replace("\x1b[1;31m", "").replace("\x1b[0m", "").replace("\x1b[2m", "")
    assert stripped == plain


def test_node_report_of_the_captured_status() -> None:
    objects.assert_golden("node_example.txt", render.node_report(_fresh_node(), now=objects.NOW))


def test_node_report_of_a_silent_agent_with_unknown_meminfo() -> None:
    probe = objects.node_probe(heartbeat="2026-11-29T07:00:00Z")
    probe["status"]["meminfo"] = {"unknown": "permission: /host/proc/meminfo"}
    probe["status"]["lastScan"]["errors"] = 2
    objects.assert_golden("node_stale_unknown_meminfo.txt", render.node_report(probe, now=objects.NOW))


def test_explain_list_and_one_code() -> None:
    objects.assert_golden("explain_list.txt", render.explain_list())
    info = findings.CATALOGUE["PAGE_CACHE_INFLATES_WORKING_SET"]
    objects.assert_golden("explain_page_cache.txt", render.explain_code(info))


def test_json_and_yaml_drop_managed_fields_and_escape_non_ascii() -> None:
    probe = objects.pod_probe("a\u202eb")
    for output in ("json", "yaml"):
        text = render.serialized(render.strip_managed_fields(probe), output=output)
        assert "managedFields" not in text
        assert "nsprobe-agent" not in text
        assert escape.is_safe(text.replace("\n", ""))
        assert "\\u202e" in text or "\\u202E" in text


def test_renderers_do_not_mutate_their_input() -> None:
    probe = _two_container_probe()
    before = copy.deepcopy(probe)
    render.pod_report(probe, now=objects.NOW)
    render.pods_table([render.PodRow(probe=probe, pod=None)], now=objects.NOW, wide=True)
    assert probe == before
