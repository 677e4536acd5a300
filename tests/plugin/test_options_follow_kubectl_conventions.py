"""Flag parsing and kubeconfig handling behave as kubectl's do: timeouts, output, colour, namespace, --as."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
import yaml

from kubectl_nsprobe import cli, errors, kube, options
from tests.plugin import objects


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", None),
        ("", None),
        ("5", 5.0),
        ("5s", 5.0),
        ("1m30s", 90.0),
        ("250ms", 0.25),
        ("1h", 3600.0),
        ("1.5s", 1.5),
    ],
)
def test_request_timeout_accepts_kubectl_forms(text: str, seconds: float | None) -> None:
    assert options.parse_request_timeout(text) == seconds


@pytest.mark.parametrize("text", ["soon", "5x", "s", "-1", "1m 2s"])
def test_request_timeout_rejects_the_rest(text: str) -> None:
    with pytest.raises(errors.UsageError):
        options.parse_request_timeout(text)


def test_output_accepts_yml_for_yaml() -> None:
    assert options.normalize_output("yml") == "yaml"
    assert options.normalize_output("JSON") == "json"
    assert options.normalize_output(None) == "table"


@pytest.mark.parametrize(
    ("choice", "tty", "env", "expected"),
    [
        ("auto", True, {}, True),
        ("auto", False, {}, False),
        ("auto", True, {"NO_COLOR": "1"}, False),
        ("auto", True, {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
        ("auto", True, {"TERM": "dumb"}, False),
        ("always", False, {"NO_COLOR": "1"}, True),  # an explicit flag beats the environment
        ("never", True, {}, False),
        (None, True, {}, True),
    ],
)
def test_colour_choice(choice: str | None, tty: bool, env: dict[str, str], expected: bool) -> None:
    assert options.use_color(choice, is_tty=tty, environ=env) is expected


def test_color_always_colours_and_never_does_not() -> None:
    cluster = objects.FakeCluster(pods=[objects.pod()], probes=[objects.pod_probe()])
    coloured = objects.invoke(cluster, ["pod", "app", "--color", "always"], env={"NO_COLOR": "1"})
    assert "\x1b[1;31mCRITICAL" in coloured.stdout
    plain = objects.invoke(cluster, ["pod", "app", "--color", "never"])
    assert "\x1b" not in plain.stdout
    auto = objects.invoke(cluster, ["pod", "app"])  # CliRunner's stdout is not a terminal
    assert "\x1b" not in auto.stdout


def _kubeconfig(tmp_path: pathlib.Path, name: str, body: dict[str, object]) -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(body))
    return str(path)


def _config(
    current: str, contexts: dict[str, dict[str, str]], users: dict[str, dict[str, object]]
) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current,
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": n, "context": {"cluster": "c", **c}} for n, c in contexts.items()],
        "users": [{"name": n, "user": u} for n, u in users.items()],
    }


def test_namespace_comes_from_the_flag_then_the_context_then_default(tmp_path: pathlib.Path) -> None:
    path = _kubeconfig(
        tmp_path,
        "config",
        _config(
            "dev", {"dev": {"user": "u", "namespace": "team-a"}, "bare": {"user": "u"}}, {"u": {"token": "t"}}
        ),
    )
    env: dict[str, str] = {}
    resolve = kube.resolve_kubeconfig
    assert resolve(options.Connection(kubeconfig=path), env).namespace == "team-a"
    assert resolve(options.Connection(kubeconfig=path, namespace="x"), env).namespace == "x"
    assert resolve(options.Connection(kubeconfig=path, context="bare"), env).namespace == "default"
    with pytest.raises(errors.ConfigError, match='context "nope" does not exist'):
        resolve(options.Connection(kubeconfig=path, context="nope"), env)


def test_kubeconfig_list_in_the_environment_merges_first_wins(tmp_path: pathlib.Path) -> None:
    first = _kubeconfig(
        tmp_path, "a", _config("one", {"one": {"user": "u", "namespace": "from-a"}}, {"u": {}})
    )
    second = _kubeconfig(
        tmp_path, "b", _config("two", {"one": {"user": "u", "namespace": "from-b"}, "two": {"user": "u"}}, {})
    )
    resolved = kube.resolve_kubeconfig(options.Connection(), {"KUBECONFIG": f"{first}:{second}"})
    assert (resolved.context, resolved.namespace) == ("one", "from-a")


def test_impersonation_from_the_kubeconfig_user_and_from_flags(tmp_path: pathlib.Path) -> None:
    path = _kubeconfig(
        tmp_path,
        "config",
        _config(
            "x",
            {"x": {"user": "u"}},
            {"u": {"token": "t", "as": "system:serviceaccount:a:b", "as-groups": ["g"]}},
        ),
    )
    resolved = kube.resolve_kubeconfig(options.Connection(kubeconfig=path), {})
    assert (resolved.impersonate, resolved.impersonate_groups) == ("system:serviceaccount:a:b", ("g",))
    client = kube.connect(options.Connection(kubeconfig=path), environ={})
    try:
        assert client.api.default_headers["Impersonate-User"] == "system:serviceaccount:a:b"
        assert client.api.default_headers["Impersonate-Group"] == "g"
    finally:
        client.close()
    flagged = kube.resolve_kubeconfig(options.Connection(kubeconfig=path, impersonate="jane"), {})
    assert flagged.impersonate == "jane"


def test_missing_kubeconfig_is_a_clear_error(tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.ConfigError, match="no kubeconfig found"):
        kube.connect(options.Connection(kubeconfig=str(tmp_path / "none")), environ={})


def test_explain_and_version_work_offline_without_loading_the_kubernetes_client() -> None:
    code = (
        "import sys\n"
        "from kubectl_nsprobe import cli\n"
        "for args in (['explain'], ['explain', 'TMP_ON_NODE_DISK'], ['version']):\n"
        "    try:\n"
        "        cli.main(args)\n"
        "    except SystemExit as done:\n"
        "        assert done.code == 0, done.code\n"
        "assert 'kubernetes' not in sys.modules, 'the offline commands imported the Kubernetes client'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"KUBECONFIG": "/nonexistent"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "TMP_ON_NODE_DISK" in result.stdout
    assert "kubectl-nsprobe 0.1.0" in result.stdout


def test_explain_unknown_code_exits_1_and_lists_codes() -> None:
    result = objects.invoke(objects.FakeCluster(), ["explain", "NOPE"])
    assert result.exit_code == errors.EXIT_FAILURE
    assert result.stderr.startswith("error: unknown finding code 'NOPE'; known codes: CHROOT_ONLY_ROOT")


def test_explain_is_case_insensitive_and_serialises() -> None:
    result = objects.invoke(objects.FakeCluster(), ["explain", "root_in_host_userns", "-o", "yaml"])
    assert yaml.safe_load(result.stdout)["severity"] == "critical"


def test_prog_name_is_kubectl_nsprobe() -> None:
    assert cli.PROG == "kubectl nsprobe"
