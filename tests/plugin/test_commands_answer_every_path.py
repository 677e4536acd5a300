"""Each command through the real click CLI over a fake cluster: happy paths, unhappy paths, exit codes."""

from __future__ import annotations

import json

import yaml

from kubectl_nsprobe import errors
from tests.plugin import objects

FRESH_NODE = "2026-11-29T09:20:00Z"
OLD_NODE = "2026-11-29T08:00:00Z"


def _cluster(**kwargs: object) -> objects.FakeCluster:
    defaults: dict[str, object] = {
        "pods": [objects.pod()],
        "probes": [objects.pod_probe()],
        "node_probes": [objects.node_probe(heartbeat=FRESH_NODE)],
        "nodes": ["node-a"],
    }
    defaults.update(kwargs)
    return objects.FakeCluster(**defaults)  # type: ignore[arg-type]


# --- pod -------------------------------------------------------------------------------------------------


def test_pod_report_for_a_scanned_pod() -> None:
    result = objects.invoke(_cluster(), ["pod", "app"])
    assert result.exit_code == errors.EXIT_OK, result.stderr
    assert result.stdout.startswith("Pod:        default/app\n")
    assert "Freshness:  current: agent heartbeat 74s ago (every 5m)" in result.stdout
    assert "CRITICAL  ROOT_IN_HOST_USERNS" in result.stdout
    assert result.stderr == ""


def test_pod_flags_may_come_before_the_command_as_with_kubectl() -> None:
    cluster = _cluster(namespace="other")
    result = objects.invoke(cluster, ["-o", "json", "pod", "app"])
    assert result.exit_code == errors.EXIT_FAILURE  # namespace "other" (from the fake context) has no pod
    cluster = _cluster()
    result = objects.invoke(cluster, ["-o", "json", "pod", "app"])
    assert json.loads(result.stdout)["kind"] == "PodProbe"


def test_pod_json_and_yaml_are_the_full_object_without_managed_fields() -> None:
    for output, load in (("json", json.loads), ("yaml", yaml.safe_load), ("yml", yaml.safe_load)):
        result = objects.invoke(_cluster(), ["pod", "app", "-o", output])
        assert result.exit_code == errors.EXIT_OK
        body = load(result.stdout)
        assert body["kind"] == "PodProbe"
        assert "managedFields" not in body["metadata"]
        assert body["status"] == objects.pod_probe()["status"]


def test_missing_pod_is_not_found_with_exit_1() -> None:
    result = objects.invoke(_cluster(pods=[], probes=[]), ["pod", "nope"])
    assert result.exit_code == errors.EXIT_FAILURE
    assert result.stdout == ""
    assert result.stderr == 'Error from server (NotFound): pod "nope" in namespace "default" not found\n'


def test_report_left_over_from_a_deleted_pod_is_shown_with_a_warning() -> None:
    result = objects.invoke(_cluster(pods=[]), ["pod", "app"])
    assert result.exit_code == errors.EXIT_OK
    assert "no longer exists" in result.stderr


def test_report_of_an_earlier_pod_with_the_same_name_is_flagged() -> None:
    result = objects.invoke(_cluster(pods=[objects.pod(uid="new-uid")]), ["pod", "app"])
    assert result.exit_code == errors.EXIT_OK
    assert "earlier pod" in result.stderr


def test_pending_unscheduled_pod_explains_why_there_is_no_report() -> None:
    result = objects.invoke(
        _cluster(pods=[objects.pod(phase="Pending", node=None)], probes=[]), ["pod", "app"]
    )
    assert result.exit_code == errors.EXIT_FAILURE
    assert "has no nsprobe report yet: the pod is Pending and not scheduled to a node yet" in result.stderr


def test_pending_pod_on_a_node_says_its_containers_have_not_started() -> None:
    pod = objects.pod(phase="Pending")
    pod["status"]["containerStatuses"] = [
        {"name": "app", "state": {"waiting": {"reason": "ImagePullBackOff"}}}
    ]
    result = objects.invoke(_cluster(pods=[pod], probes=[]), ["pod", "app"])
    assert result.exit_code == errors.EXIT_FAILURE
    assert "Pending on node node-a" in result.stderr
    assert "app: ImagePullBackOff" in result.stderr


def test_pod_on_a_node_without_nodeprobe_blames_the_missing_agent() -> None:
    result = objects.invoke(_cluster(probes=[], node_probes=[]), ["pod", "app"])
    assert result.exit_code == errors.EXIT_FAILURE
    assert "no nsprobe agent reports from node node-a: there is no NodeProbe node-a" in result.stderr
    assert "--field-selector spec.nodeName=node-a" in result.stderr


def test_pod_on_a_node_with_a_silent_agent_says_the_agent_is_stale() -> None:
    result = objects.invoke(
        _cluster(probes=[], node_probes=[objects.node_probe(heartbeat=OLD_NODE)]), ["pod", "app"]
    )
    assert result.exit_code == errors.EXIT_FAILURE
    assert "the nsprobe agent on node node-a last reported 81m ago" in result.stderr


def test_pod_on_a_node_whose_nodeprobe_has_no_status_says_no_agent_reported() -> None:
    empty = objects.node_probe(heartbeat=None, status={})
    result = objects.invoke(_cluster(probes=[], node_probes=[empty]), ["pod", "app"])
    assert result.exit_code == errors.EXIT_FAILURE
    assert "no nsprobe agent has reported from node node-a (NodeProbe node-a has no status)" in result.stderr


def test_pod_in_an_excluded_namespace_names_the_config_rule() -> None:
    config = {
        "metadata": {"name": "default"},
        "spec": {"namespaces": {"include": [], "exclude": ["kube-*", "default"]}},
    }
    result = objects.invoke(_cluster(probes=[], config=config), ["pod", "app"])
    assert result.exit_code == errors.EXIT_FAILURE
    assert 'namespace default is excluded by NsProbeConfig "default" (spec.namespaces.exclude: default)' in (
        result.stderr
    )


def test_pod_outside_the_included_namespaces_names_the_include_list() -> None:
    config = {"metadata": {"name": "default"}, "spec": {"namespaces": {"include": ["shop-*"]}}}
    result = objects.invoke(_cluster(probes=[], config=config), ["pod", "app"])
    assert 'not in NsProbeConfig "default" spec.namespaces.include (shop-*)' in result.stderr


def test_probe_with_a_failed_reported_condition_passes_on_the_agents_reason() -> None:
    status = {
        "nodeName": "node-a",
        "observedAt": "2026-11-29T09:18:14Z",
        "scanIntervalSeconds": 30,
        "conditions": [
            {
                "type": "Reported",
                "status": "False",
                "reason": "PodNotOnThisNode",
                "message": "no kubepods cgroup of pod uid b59b on node node-a",
            }
        ],
    }
    result = objects.invoke(_cluster(probes=[objects.pod_probe(status=status)]), ["pod", "app"])
    assert result.exit_code == errors.EXIT_FAILURE
    assert "could not report this pod: PodNotOnThisNode: no kubepods cgroup" in result.stderr


def test_probe_not_yet_written_by_a_live_agent_says_wait_for_the_next_scan() -> None:
    result = objects.invoke(_cluster(probes=[objects.pod_probe(status={})]), ["pod", "app"])
    assert result.exit_code == errors.EXIT_FAILURE
    assert "has not scanned this pod yet" in result.stderr


def test_no_probe_object_with_a_live_agent_points_at_the_operator() -> None:
    result = objects.invoke(_cluster(probes=[]), ["pod", "app"])
    assert result.exit_code == errors.EXIT_FAILURE
    assert "there is no PodProbe for this pod yet" in result.stderr


def test_nsprobe_not_installed_says_how_to_install() -> None:
    result = objects.invoke(_cluster(installed=False, probes=[]), ["pod", "app"])
    assert result.exit_code == errors.EXIT_FAILURE
    assert "nsprobe is not installed in this cluster" in result.stderr
    assert "helm install nsprobe charts/nsprobe -n nsprobe --create-namespace" in result.stderr
    for args in (["pods"], ["node", "node-a"]):
        again = objects.invoke(_cluster(installed=False), args)
        assert again.exit_code == errors.EXIT_FAILURE
        assert "nsprobe is not installed" in again.stderr


def test_stale_report_is_shown_with_a_warning_and_exit_0() -> None:
    result = objects.invoke(_cluster(node_probes=[objects.node_probe(heartbeat=OLD_NODE)]), ["pod", "app"])
    assert result.exit_code == errors.EXIT_OK
    assert "Warning: the pod report for default/app is stale: agent heartbeat 81m ago" in result.stderr
    assert "Freshness:  STALE" in result.stdout


def test_forbidden_pod_read_still_shows_the_report() -> None:
    result = objects.invoke(_cluster(forbidden=frozenset({"get_pod"})), ["pod", "app"])
    assert result.exit_code == errors.EXIT_OK
    assert "cannot read the pod itself" in result.stderr
    assert "Container app" in result.stdout


def test_forbidden_probe_read_is_an_api_error() -> None:
    result = objects.invoke(_cluster(forbidden=frozenset({"get_pod_probe"})), ["pod", "app"])
    assert result.exit_code == errors.EXIT_FAILURE
    assert result.stderr.startswith("Error from server (Forbidden): ")


# --- pods ------------------------------------------------------------------------------------------------


def _shop() -> objects.FakeCluster:
    web = objects.pod("web", "shop", labels={"app": "web"})
    db = objects.pod("db", "shop", labels={"app": "db"})
    new = objects.pod("web-new", "shop", labels={"app": "web"})
    clean = objects.example_pod_status()
    clean["findings"] = []
    clean["summary"].update(findings=0, worstSeverity="none", rootInHostUserns=False)
    return _cluster(
        namespace="shop",
        pods=[web, db, new, objects.pod()],
        probes=[
            objects.pod_probe("web", "shop"),
            objects.pod_probe("db", "shop", status=clean),
            objects.pod_probe(),
        ],
    )


def test_pods_lists_the_context_namespace() -> None:
    result = objects.invoke(_shop(), ["pods"])
    assert result.exit_code == errors.EXIT_OK
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "NAME", "TMP", "WORKING-SET", "CACHE", "SHMEM", "HOST-NS", "ROOT-IN-HOST-USERNS", "FINDINGS", "AGE",
    ]  # fmt: skip
    assert [line.split()[0] for line in lines[1:]] == ["db", "web"]


def test_pods_all_namespaces_adds_the_namespace_column() -> None:
    result = objects.invoke(_shop(), ["pods", "-A", "--no-headers"])
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [
        ["default", "app"],
        ["shop", "db"],
        ["shop", "web"],
    ]


def test_pods_selector_matches_the_pods_labels_and_shows_pods_without_reports() -> None:
    result = objects.invoke(_shop(), ["pods", "-l", "app=web", "--no-headers"])
    assert result.exit_code == errors.EXIT_OK
    rows = [line.split()[:2] for line in result.stdout.splitlines()]
    assert rows == [["web", "tmpfs"], ["web-new", "<no"]]


def test_pods_finding_filter() -> None:
    result = objects.invoke(_shop(), ["pods", "--finding", "root_in_host_userns", "--no-headers"])
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["web"]
    unknown = objects.invoke(_shop(), ["pods", "--finding", "FUTURE_CODE"])
    assert unknown.exit_code == errors.EXIT_OK
    assert "not a finding code this plugin knows" in unknown.stderr


def test_pods_bad_finding_code_is_a_usage_error() -> None:
    result = objects.invoke(_shop(), ["pods", "--finding", "rm -rf"])
    assert result.exit_code == errors.EXIT_USAGE
    assert "Invalid value for --finding" in result.stderr


def test_pods_wide_adds_columns() -> None:
    result = objects.invoke(_shop(), ["pods", "-o", "wide"])
    header = result.stdout.splitlines()[0].split()
    assert header[-6:] == ["NODE", "ANON", "LIMIT", "CPU", "WORST-FINDING", "REPORTED"]


def test_pods_json_is_a_list_without_managed_fields() -> None:
    result = objects.invoke(_shop(), ["pods", "-o", "json"])
    body = json.loads(result.stdout)
    assert body["kind"] == "List"
    assert [item["metadata"]["name"] for item in body["items"]] == ["db", "web"]
    assert all("managedFields" not in item["metadata"] for item in body["items"])


def test_pods_empty_namespace_says_so_like_kubectl() -> None:
    result = objects.invoke(_cluster(namespace="empty"), ["pods"])
    assert result.exit_code == errors.EXIT_OK
    assert result.stdout == ""
    assert result.stderr == 'No resources found in namespace "empty".\n'


def test_pods_warns_about_stale_reports_in_one_line() -> None:
    cluster = _shop()
    cluster.node_probes = [objects.node_probe(heartbeat=OLD_NODE)]
    result = objects.invoke(cluster, ["pods", "-o", "wide"])
    assert "Warning: 2 report(s) are stale" in result.stderr
    assert "(stale)" in result.stdout


def test_pods_without_nodeprobe_access_judge_reports_by_their_own_time() -> None:
    cluster = _shop()
    cluster.forbidden = frozenset({"list_node_probes"})
    result = objects.invoke(cluster, ["pods"])
    assert result.exit_code == errors.EXIT_OK
    # observedAt 09:18:14 is 3 minutes old, more than 3 scan intervals of 30 s.
    assert "Warning: 2 report(s) are stale" in result.stderr


# --- node ------------------------------------------------------------------------------------------------


def test_node_report() -> None:
    result = objects.invoke(_cluster(), ["node", "node-a"])
    assert result.exit_code == errors.EXIT_OK
    assert result.stdout.startswith("Node node-a\n")
    assert "MemAvailable" in result.stdout


def test_node_without_nodeprobe() -> None:
    result = objects.invoke(_cluster(node_probes=[]), ["node", "node-a"])
    assert result.exit_code == errors.EXIT_FAILURE
    assert 'node "node-a" has no NodeProbe' in result.stderr


def test_unknown_node() -> None:
    result = objects.invoke(_cluster(node_probes=[]), ["node", "nope"])
    assert result.exit_code == errors.EXIT_FAILURE
    assert result.stderr == 'Error from server (NotFound): node "nope" not found\n'


def test_stale_node() -> None:
    result = objects.invoke(
        _cluster(node_probes=[objects.node_probe(heartbeat=OLD_NODE)]), ["node", "node-a"]
    )
    assert result.exit_code == errors.EXIT_OK
    assert "Warning: the node report for node-a is stale" in result.stderr
    assert "health: STALE" in result.stdout


# --- usage -----------------------------------------------------------------------------------------------


def test_usage_errors_exit_2() -> None:
    for args in (
        ["pod"],
        ["pod", "a", "-o", "xml"],
        ["pods", "--request-timeout", "soon"],
        ["pod", "a", "-A"],
        ["frobnicate"],
        ["pods", "--color", "sometimes"],
    ):
        result = objects.invoke(_cluster(), args)
        assert result.exit_code == errors.EXIT_USAGE, (args, result.output)
        assert "Usage: kubectl nsprobe" in result.stderr


def test_help_reads_kubectl_nsprobe() -> None:
    for args in (["--help"], [], ["-h"]):
        result = objects.invoke(_cluster(), args)
        assert result.exit_code == 0
        assert result.stdout.startswith("Usage: kubectl nsprobe [OPTIONS] COMMAND [ARGS]...")
    assert objects.invoke(_cluster(), ["pod", "--help"]).stdout.startswith(
        "Usage: kubectl nsprobe pod [OPTIONS] NAME"
    )
