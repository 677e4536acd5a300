"""The agent DaemonSet is a pure function of the NsProbeConfig spec (manifests.agent, models.spec)."""

from __future__ import annotations

import pytest

from nsprobe.manifests import agent, labels, probes
from nsprobe.models import spec

OWNER = {"apiVersion": "nsprobe.io/v1alpha1", "kind": "NsProbeConfig", "name": "default", "uid": "u-1"}


def _container(config: spec.ConfigSpec) -> dict[str, object]:
    ds = agent.build_daemonset(config, namespace="nsprobe-system", owner=OWNER)
    return ds["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def test_defaults_give_a_privileged_host_pid_agent_with_read_only_host_mounts() -> None:
    ds = agent.build_daemonset(spec.parse_spec({}), namespace="nsprobe-system", owner=OWNER)
    pod = ds["spec"]["template"]["spec"]
    assert ds["metadata"] == {
        "name": "nsprobe-agent",
        "namespace": "nsprobe-system",
        "labels": labels.common("agent"),
        "ownerReferences": [{**OWNER, "controller": True, "blockOwnerDeletion": False}],
    }
    assert pod["hostPID"] is True and pod["serviceAccountName"] == "nsprobe-agent"
    container = pod["containers"][0]
    assert container["securityContext"] == {"privileged": True, "runAsUser": 0}
    assert {m["mountPath"]: m["readOnly"] for m in container["volumeMounts"]} == {
        "/host/proc": True,
        "/host/sys/fs/cgroup": True,
    }
    assert {v["hostPath"]["path"] for v in pod["volumes"]} == {"/proc", "/sys/fs/cgroup"}
    assert {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in container[
        "env"
    ]
    assert "--node-name=$(NODE_NAME)" in container["args"] and "--interval=30" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert (
        ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()
    )


def test_minimal_profile_drops_all_but_three_capabilities() -> None:
    context = _container(spec.parse_spec({"securityProfile": "minimal"}))["securityContext"]
    assert context == {
        "runAsUser": 0,
        "runAsNonRoot": False,
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN"]},
    }


def test_every_config_field_reaches_the_daemonset() -> None:
    raw = {
        "image": "registry.example/nsprobe:1",
        "imagePullPolicy": "Always",
        "scanIntervalSeconds": 45,
        "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "nodeSelector": {"pool": "a"},
        "resources": {"limits": {"memory": "1Gi"}},
        "namespaces": {"include": ["team-*"], "exclude": ["team-x"]},
        "metricsPort": 9999,
        "priorityClassName": "system-node-critical",
    }
    ds = agent.build_daemonset(spec.parse_spec(raw), namespace="ns", service_account="custom-sa")
    pod = ds["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.example/nsprobe:1" and container["imagePullPolicy"] == "Always"
    assert pod["tolerations"] == raw["tolerations"] and pod["nodeSelector"] == {"pool": "a"}
    assert pod["priorityClassName"] == "system-node-critical" and pod["serviceAccountName"] == "custom-sa"
    assert container["resources"] == {"limits": {"memory": "1Gi"}}
    assert container["ports"] == [{"name": "metrics", "containerPort": 9999, "protocol": "TCP"}]
    args = container["args"]
    assert "--interval=45" in args and "--metrics-port=9999" in args
    assert "--include-namespace=team-*" in args and "--exclude-namespace=team-x" in args
    assert "ownerReferences" not in ds["metadata"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"scanIntervalSeconds": 1}, "scanIntervalSeconds"),
        ({"securityProfile": "root"}, "securityProfile"),
        ({"imagePullPolicy": "Sometimes"}, "imagePullPolicy"),
        ({"metricsPort": 70000}, "metricsPort"),
    ],
)
def test_invalid_specs_are_refused_naming_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(spec.SpecError, match=field):
        spec.parse_spec(raw)


def test_namespace_filter_excludes_win_over_includes() -> None:
    chosen = spec.NamespaceFilter(include=("team-*", "default"), exclude=("team-secret",))
    assert chosen.allows("team-a") and chosen.allows("default")
    assert not chosen.allows("team-secret") and not chosen.allows("kube-system")
    assert spec.NamespaceFilter().allows("anything")


def test_pod_probe_is_named_after_its_pod_owned_by_it_and_labelled_with_its_node() -> None:
    pod = {"metadata": {"name": "web-1", "namespace": "shop", "uid": "p-1"}, "spec": {"nodeName": "node-a"}}
    probe = probes.build_pod_probe(pod)
    assert probe["metadata"]["name"] == "web-1" and probe["metadata"]["namespace"] == "shop"
    assert probe["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "web-1", "uid": "p-1"}
    ]
    assert probe["metadata"]["labels"][labels.NODE_LABEL] == "node-a"
    assert probe["spec"] == {"podName": "web-1", "podUID": "p-1", "nodeName": "node-a"}


def test_a_node_name_too_long_for_a_label_is_hashed_stably() -> None:
    name = "n" * 70 + ".example.com"
    value = labels.node_label_value(name)
    assert value == labels.node_label_value(name) and len(value) <= 63 and value.startswith("sha256-")
