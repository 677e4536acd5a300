"""`helm lint` and `helm template` of charts/nsprobe, for the defaults and every ci/*-values.yaml scenario.

No cluster needed: only the helm binary that hack/build-testbed.sh builds.
"""

from __future__ import annotations

import json
import pathlib
import re
import typing

import pytest
import yaml

from nsprobe.manifests import agent as agent_manifests
from nsprobe.manifests import labels as operator_labels
from nsprobe.models import spec as spec_mod
from tests.charts import chartkit

Doc = chartkit.Doc
ALL_SCENARIOS = (None, *chartkit.SCENARIOS)
MONITORING_KINDS = ("ServiceMonitor", "PrometheusRule")


def test_there_are_ci_scenarios() -> None:
    assert {"minimal-profile", "monitoring-enabled", "namespace-filters"} <= set(chartkit.SCENARIOS)


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=lambda s: s or "defaults")
def test_helm_lint_strict_passes(helm_bin: pathlib.Path, scenario: str | None) -> None:
    args = ["lint", str(chartkit.CHART), "--strict", "--kube-version", chartkit.KUBE_VERSION]
    if scenario:
        args += ["--values", str(chartkit.scenario_file(scenario))]
    result = chartkit.helm(helm_bin, args, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


# --- values.yaml documentation and schema ----------------------------------------------------------------


def _schema() -> Doc:
    data: Doc = json.loads((chartkit.CHART / "values.schema.json").read_text())
    return data


def _declared(schema: Doc, path: tuple[str, ...]) -> bool:
    """Whether the schema declares this key path as a property of its own (not free-form data)."""
    node = schema
    for key in path:
        properties = node.get("properties") if node.get("type") == "object" else None
        if not properties or key not in properties:
            return False
        node = properties[key]
    return True


def _values_keys_with_comment() -> list[tuple[tuple[str, ...], bool]]:
    """Every mapping key of values.yaml with its path and whether a comment line sits right above it."""
    stack: list[tuple[int, str]] = []
    found: list[tuple[tuple[str, ...], bool]] = []
    previous = ""
    for line in (chartkit.CHART / "values.yaml").read_text().splitlines():
        stripped = line.strip()
        if not stripped:
            previous = ""
            continue
        if stripped.startswith("#"):
            previous = stripped
            continue
        match = re.match(r"^(\s*)([A-Za-z0-9_.-]+):(\s|$)", line)
        if match is None or stripped.startswith("- "):
            previous = stripped
            continue
        indent, key = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = (*(k for _, k in stack), key)
        stack.append((indent, key))
        found.append((path, previous.startswith("#")))
        previous = stripped
    return found


def test_every_values_key_has_a_comment() -> None:
    schema = _schema()
    keys = [(path, commented) for path, commented in _values_keys_with_comment() if _declared(schema, path)]
    assert len(keys) > 60
    undocumented = [".".join(path) for path, commented in keys if not commented]
    assert not undocumented, f"values.yaml keys without a comment above them: {undocumented}"


def test_schema_and_values_declare_the_same_keys() -> None:
    schema = _schema()
    in_values = {path for path, _ in _values_keys_with_comment() if _declared(schema, path)}

    def schema_paths(node: Doc, prefix: tuple[str, ...]) -> set[tuple[str, ...]]:
        paths: set[tuple[str, ...]] = set()
        if node.get("type") != "object":
            return paths
        for key, child in (node.get("properties") or {}).items():
            paths.add((*prefix, key))
            paths |= schema_paths(child, (*prefix, key))
        return paths

    declared = {path for path in schema_paths(schema, ()) if path[0] != "global"}
    assert declared - in_values == set(), "schema keys missing from values.yaml"
    assert in_values - declared == set(), "values.yaml keys missing from the schema"
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize(
    "bad",
    [
        "agent.securityProfile=root",
        "agent.scanIntervalSeconds=1",
        "agent.metricsPort=70000",
        "image.pullPolicy=Sometimes",
        "operator.logLevel=chatty",
        "admissionPolicy.failurePolicy=Maybe",
        "agent.namespcaes.include={a}",
        "image.digest=latest",
    ],
)
def test_schema_rejects_wrong_values(helm_bin: pathlib.Path, bad: str) -> None:
    result = chartkit.render_text(helm_bin, sets=[bad], check=False)
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr, result.stderr


def test_several_replicas_without_peering_is_refused(helm_bin: pathlib.Path) -> None:
    result = chartkit.render_text(
        helm_bin, sets=["operator.replicas=2", "operator.peering=false"], check=False
    )
    assert result.returncode != 0
    assert "needs operator.peering" in result.stderr


# --- what every render holds -----------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=lambda s: s or "defaults")
def test_render_holds_the_core_objects_and_never_the_daemonset(
    helm_bin: pathlib.Path, scenario: str | None
) -> None:
    docs = chartkit.render(helm_bin, scenario=scenario, namespace="probe-ns")
    found = chartkit.kinds(docs)
    for kind, count in {
        "Deployment": 1,
        "ServiceAccount": 2,
        "ClusterRole": 2,
        "ClusterRoleBinding": 2,
        "Role": 1,
        "RoleBinding": 1,
        "NsProbeConfig": 1,
        "Service": 1,
    }.items():
        assert found[kind] == count, f"{kind}: {found[kind]}"
    assert "DaemonSet" not in found, "the operator builds the agent DaemonSet, not the chart"
    assert "CustomResourceDefinition" not in found, "CRDs live in crds/, which helm template leaves out"
    for doc in docs:
        meta = doc["metadata"]
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "Helm"
        assert meta["labels"]["app.kubernetes.io/part-of"] == "nsprobe"
        cluster_scoped = doc["kind"] in (
            "ClusterRole",
            "ClusterRoleBinding",
            "NsProbeConfig",
            "ClusterKopfPeering",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        )
        assert ("namespace" in meta) is not cluster_scoped, f"{doc['kind']} {meta['name']}"
        if not cluster_scoped:
            assert meta["namespace"] == "probe-ns"


def test_operator_deployment_is_non_root_read_only_and_live_probed(helm_bin: pathlib.Path) -> None:
    docs = chartkit.render(helm_bin)
    deployment = chartkit.one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["spec"]["replicas"] == 1
    assert pod["serviceAccountName"] == "nsprobe-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["image"] == f"localhost/nsprobe:{_app_version()}"
    assert container["args"][0] == "operator"
    assert "--liveness=http://0.0.0.0:8080/healthz" in container["args"]
    assert {"name": "NSPROBE_AGENT_SERVICE_ACCOUNT", "value": "nsprobe-agent"} in container["env"]
    assert "--peering=nsprobe" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {"name": "health", "containerPort": 8080, "protocol": "TCP"} in container["ports"]
    assert {
        "name": "NSPROBE_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    } in container["env"]
    peering = chartkit.one(docs, "ClusterKopfPeering")
    assert peering["metadata"]["name"] == "nsprobe"


def test_operator_cli_accepts_the_deployment_arguments(helm_bin: pathlib.Path) -> None:
    import click

    from nsprobe import cli

    for scenario in ALL_SCENARIOS:
        container = chartkit.one(chartkit.render(helm_bin, scenario=scenario), "Deployment")["spec"][
            "template"
        ]["spec"]["containers"][0]
        command = cli.main.get_command(click.Context(cli.main), container["args"][0])
        assert command is not None
        # Parsing (not running) the arguments proves every flag the chart passes exists.
        context = command.make_context("operator", [*container["args"][1:], "--namespace=x"])
        assert context.params["namespace"] == "x"


def _app_version() -> str:
    chart = yaml.safe_load((chartkit.CHART / "Chart.yaml").read_text())
    return str(chart["appVersion"])


def test_chart_app_version_is_the_package_version() -> None:
    import nsprobe

    assert _app_version() == nsprobe.__version__


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=lambda s: s or "defaults")
def test_nsprobeconfig_says_what_the_values_say(helm_bin: pathlib.Path, scenario: str | None) -> None:
    docs = chartkit.render(helm_bin, scenario=scenario)
    values = chartkit.scenario_values(scenario) if scenario else chartkit.values()
    config = chartkit.one(docs, "NsProbeConfig", "default")
    spec = config["spec"]
    agent = values["agent"]
    image = values["image"]
    expected_image = (
        f"{image['repository']}@{image['digest']}"
        if image["digest"]
        else f"{image['repository']}:{image['tag'] or _app_version()}"
    )
    assert spec["image"] == expected_image
    assert spec["imagePullPolicy"] == image["pullPolicy"]
    assert spec["scanIntervalSeconds"] == agent["scanIntervalSeconds"]
    assert spec["securityProfile"] == agent["securityProfile"]
    assert spec["metricsPort"] == agent["metricsPort"]
    assert spec["tolerations"] == agent["tolerations"]
    assert spec["nodeSelector"] == agent["nodeSelector"]
    assert spec["resources"] == agent["resources"]
    assert spec["namespaces"] == agent["namespaces"]
    assert spec.get("priorityClassName", "") == agent["priorityClassName"]
    # The operator's own parser reads it back unchanged.
    parsed = spec_mod.parse_spec(spec)
    assert parsed.image == expected_image
    assert parsed.security_profile == agent["securityProfile"]
    assert parsed.scan_interval_seconds == agent["scanIntervalSeconds"]
    assert parsed.namespaces.include == tuple(agent["namespaces"]["include"])
    assert parsed.namespaces.exclude == tuple(agent["namespaces"]["exclude"])


def test_minimal_profile_grants_no_privileged_anything(helm_bin: pathlib.Path) -> None:
    text = chartkit.render_text(helm_bin, scenario="minimal-profile").stdout
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    spec = chartkit.one(docs, "NsProbeConfig")["spec"]
    assert spec["securityProfile"] == "minimal"
    assert "privileged: true" not in text
    assert spec["image"].startswith("registry.example.com/nsprobe@sha256:")
    # What the operator will build from it: named capabilities, not privileged.
    daemonset = agent_manifests.build_daemonset(spec_mod.parse_spec(spec), namespace="nsprobe-system")
    security = daemonset["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert security["privileged"] is False
    assert set(security["capabilities"]["add"]) == {"SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN"}


def test_default_profile_is_privileged(helm_bin: pathlib.Path) -> None:
    spec = chartkit.one(chartkit.render(helm_bin), "NsProbeConfig")["spec"]
    assert spec["securityProfile"] == "privileged"


def test_namespace_filters_scenario(helm_bin: pathlib.Path) -> None:
    docs = chartkit.render(helm_bin, scenario="namespace-filters")
    spec = chartkit.one(docs, "NsProbeConfig")["spec"]
    assert spec["namespaces"] == {"include": ["default", "team-a", "team-b"], "exclude": ["team-b"]}
    parsed = spec_mod.parse_spec(spec)
    assert parsed.namespaces.allows("team-a")
    assert not parsed.namespaces.allows("team-b")
    assert not parsed.namespaces.allows("kube-system")
    assert chartkit.one(docs, "Deployment")["spec"]["replicas"] == 2
    assert "ValidatingAdmissionPolicy" not in chartkit.kinds(docs)


def test_create_config_false_leaves_the_nsprobeconfig_to_the_user(helm_bin: pathlib.Path) -> None:
    docs = chartkit.render(helm_bin, sets=["agent.createConfig=false"])
    assert "NsProbeConfig" not in chartkit.kinds(docs)


# --- the agent Service and the monitoring toggles --------------------------------------------------------


def test_agent_service_selects_the_pods_the_operator_builds(helm_bin: pathlib.Path) -> None:
    docs = chartkit.render(helm_bin)
    service = chartkit.one(docs, "Service", "nsprobe-agent")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9808, "targetPort": 9808, "protocol": "TCP"}
    ]
    spec = spec_mod.parse_spec(chartkit.one(docs, "NsProbeConfig")["spec"])
    daemonset = agent_manifests.build_daemonset(spec, namespace="nsprobe-system")
    pod_labels = daemonset["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["selector"] == operator_labels.AGENT_SELECTOR
    container = daemonset["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": 9808, "protocol": "TCP"} in container["ports"]
    assert daemonset["spec"]["template"]["spec"]["serviceAccountName"] == "nsprobe-agent"
    assert chartkit.values()["agent"]["serviceAccount"]["name"] == operator_labels.AGENT_NAME


def test_monitoring_is_off_by_default(helm_bin: pathlib.Path) -> None:
    found = chartkit.kinds(chartkit.render(helm_bin))
    for kind in (*MONITORING_KINDS, "ConfigMap"):
        assert kind not in found


@pytest.mark.parametrize(
    ("toggle", "kind"),
    [
        ("monitoring.serviceMonitor.enabled", "ServiceMonitor"),
        ("monitoring.prometheusRule.enabled", "PrometheusRule"),
        ("monitoring.dashboards.enabled", "ConfigMap"),
    ],
)
def test_each_monitoring_toggle_adds_only_its_kind(helm_bin: pathlib.Path, toggle: str, kind: str) -> None:
    base = chartkit.kinds(chartkit.render(helm_bin))
    found = chartkit.kinds(chartkit.render(helm_bin, sets=[f"{toggle}=true"]))
    assert found[kind] >= 1
    extra = found - base
    assert set(extra) == {kind}


def test_service_monitor_scrapes_the_agent_service(helm_bin: pathlib.Path) -> None:
    docs = chartkit.render(helm_bin, scenario="monitoring-enabled", namespace="mon-ns")
    monitor = chartkit.one(docs, "ServiceMonitor")
    service = chartkit.one(docs, "Service", "nsprobe-agent")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["mon-ns"]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics" == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["honorLabels"] is True
    assert (endpoint["interval"], endpoint["scrapeTimeout"]) == ("15s", "5s")
    # The rules' agent-down alert expects job "nsprobe": the ServiceMonitor takes it from this label.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == "nsprobe"


def test_prometheus_rule_is_the_rules_file_with_the_allow_list_applied(helm_bin: pathlib.Path) -> None:
    docs = chartkit.render(helm_bin, scenario="monitoring-enabled")
    rule = chartkit.one(docs, "PrometheusRule")
    source = (chartkit.CHART / "files" / "prometheus-rules.yaml").read_text()
    allow = chartkit.scenario_values("monitoring-enabled")["monitoring"]["prometheusRule"][
        "hostNamespaceAllowList"
    ]
    expected = yaml.safe_load(source.replace('namespace!~"kube-system"', f'namespace!~"{allow}"'))
    assert rule["spec"]["groups"] == expected["groups"]
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    exprs = [r["expr"] for group in rule["spec"]["groups"] for r in group["rules"]]
    assert any(f'namespace!~"{allow}"' in expr for expr in exprs)
    # Alert templates reach Prometheus untouched by Helm.
    assert "{{ $labels.namespace }}" in json.dumps(rule["spec"])


def test_prometheus_rule_default_allow_list_is_the_files_own(helm_bin: pathlib.Path) -> None:
    rule = chartkit.one(
        chartkit.render(helm_bin, sets=["monitoring.prometheusRule.enabled=true"]), "PrometheusRule"
    )
    source = yaml.safe_load((chartkit.CHART / "files" / "prometheus-rules.yaml").read_text())
    assert rule["spec"]["groups"] == source["groups"]


def test_dashboards_are_configmaps_for_the_grafana_sidecar(helm_bin: pathlib.Path) -> None:
    docs = chartkit.render(helm_bin, scenario="monitoring-enabled")
    files = sorted((chartkit.CHART / "files" / "dashboards").glob("*.json"))
    maps = chartkit.all_of(docs, "ConfigMap")
    assert len(files) >= 3
    assert len(maps) == len(files)
    by_key = {key: value for cm in maps for key, value in cm["data"].items()}
    for path in files:
        assert json.loads(by_key[path.name]) == json.loads(path.read_text())
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert cm["metadata"]["annotations"] == {"grafana_folder": "nsprobe"}
        assert len(cm["metadata"]["name"]) <= 63


# --- RBAC, statically (the controlplane tests prove it on a real apiserver) ------------------------------


def _rules(docs: list[Doc], kind: str, suffix: str) -> list[Doc]:
    (role,) = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"].endswith(suffix)]
    rules: list[Doc] = role["rules"]
    return rules


def _grants(rules: list[Doc]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def test_agent_rbac_is_exactly_read_pods_and_patch_probe_status(helm_bin: pathlib.Path) -> None:
    grants = _grants(_rules(chartkit.render(helm_bin), "ClusterRole", "-agent"))
    read = {"get", "list", "watch"}
    expected = (
        {("", "pods", verb) for verb in read}
        | {("nsprobe.io", plural, verb) for plural in ("podprobes", "nodeprobes") for verb in read}
        | {("nsprobe.io", "podprobes/status", "patch"), ("nsprobe.io", "nodeprobes/status", "patch")}
    )
    assert grants == expected


def test_operator_manages_daemonsets_only_through_a_namespaced_role(helm_bin: pathlib.Path) -> None:
    docs = chartkit.render(helm_bin, namespace="probe-ns")
    cluster = _grants(_rules(docs, "ClusterRole", "-operator"))
    namespaced = _grants(_rules(docs, "Role", "-operator"))
    assert not any(resource == "daemonsets" for _, resource, _ in cluster)
    assert {resource for _, resource, _ in namespaced} == {"daemonsets"}
    binding = chartkit.one(docs, "RoleBinding")
    assert binding["metadata"]["namespace"] == "probe-ns"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "nsprobe-operator", "namespace": "probe-ns"}
    ]


@pytest.mark.parametrize("scenario", ALL_SCENARIOS, ids=lambda s: s or "defaults")
def test_no_role_grants_wildcards_secrets_or_escalation(helm_bin: pathlib.Path, scenario: str | None) -> None:
    docs = chartkit.render(helm_bin, scenario=scenario)
    for doc in docs:
        if doc["kind"] not in ("ClusterRole", "Role"):
            continue
        for rule in doc["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], doc["metadata"]["name"]
            assert not {"secrets", "pods/exec", "serviceaccounts/token"} & set(rule["resources"])
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
            if "pods" in rule["resources"]:
                assert set(rule["verbs"]) <= {"get", "list", "watch"}


def test_admission_policy_matches_only_the_agent_account(helm_bin: pathlib.Path) -> None:
    docs = chartkit.render(helm_bin, namespace="probe-ns")
    policy = chartkit.one(docs, "ValidatingAdmissionPolicy")
    binding = chartkit.one(docs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    (condition,) = policy["spec"]["matchConditions"]
    assert (
        condition["expression"]
        == "request.userInfo.username == 'system:serviceaccount:probe-ns:nsprobe-agent'"
    )
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert set(rule["resources"]) == {"podprobes", "podprobes/status", "nodeprobes", "nodeprobes/status"}
    assert policy["spec"]["failurePolicy"] == "Fail"


def test_notes_tell_the_next_step() -> None:
    notes = (chartkit.CHART / "templates" / "NOTES.txt").read_text()
    assert "kubectl nsprobe pods -A" in notes
    assert "kubectl delete crd" in notes


def test_names_fit_and_fullname_override_applies(helm_bin: pathlib.Path) -> None:
    long_release = "r" * 50
    docs = chartkit.render(helm_bin, release=long_release)
    for doc in docs:
        assert len(doc["metadata"]["name"]) <= 63, doc["metadata"]["name"]
    docs = chartkit.render(helm_bin, sets=["fullnameOverride=probe"])
    assert chartkit.one(docs, "Deployment")["metadata"]["name"] == "probe-operator"
    names: typing.Counter[str] = chartkit.kinds(
        {"kind": f"{d['kind']}/{d['metadata']['name']}"} for d in docs
    )
    assert all(count == 1 for count in names.values())
