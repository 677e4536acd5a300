"""Pytest plugin giving tests a real control plane, an admin API client, a namespace and a Ready node.

Registered from tests/conftest.py through `pytest_plugins`. Fixtures:
  control_plane  (session) nsprobe.testing.controlplane.ControlPlane; exports KUBECONFIG and puts the
                 built kubectl first on PATH for the session. Skipped when the binaries are not built,
                 unless NSPROBE_REQUIRE_CONTROLPLANE is set (CI), in which case that is a failure.
  kube_api       (session) kubernetes.client.ApiClient as admin (system:masters).
  test_namespace (function) a fresh namespace whose default ServiceAccount exists; deleted afterwards.
  node           (session) nsprobe.testing.nodes.NodeHeartbeat: a Ready, schedulable Node that speaks as
                 system:node:<name>.
Tests using any of them get the `controlplane` marker automatically.
"""

from __future__ import annotations

import atexit
import collections.abc
import contextlib
import os
import secrets
import subprocess

import kubernetes.client
import kubernetes.client.exceptions
import pytest

from nsprobe.testing import controlplane, nodes

REQUIRE_ENV = "NSPROBE_REQUIRE_CONTROLPLANE"
FIXTURES = ("control_plane", "kube_api", "test_namespace", "node")
_BED_KEY = pytest.StashKey[controlplane.ControlPlane]()


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in FIXTURES):
            item.add_marker(pytest.mark.controlplane)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    bed = config.stash.get(_BED_KEY, None)
    if bed is None or bed.startup_seconds is None:
        return
    parts = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in bed.timings.items())
    terminalreporter.write_line(f"control plane ready in {bed.startup_seconds:.1f}s ({parts})")


@pytest.fixture(scope="session")
def control_plane(pytestconfig: pytest.Config) -> collections.abc.Iterator[controlplane.ControlPlane]:
    try:
        bin_dir = controlplane.find_bin_dir()
        missing = controlplane.missing_binaries(bin_dir)
        where = str(bin_dir)
    except (controlplane.ControlPlaneError, subprocess.CalledProcessError, OSError) as error:
        missing, where = ["all"], str(error)
    if missing:
        reason = (
            f"control-plane binaries missing ({', '.join(missing)}) in {where}; "
            "build them with hack/build-testbed.sh (make testbed)"
        )
        if _required():
            pytest.fail(f"{REQUIRE_ENV} is set but {reason}", pytrace=False)
        pytest.skip(reason)
    # Beds of earlier pytest runs that were killed before their teardown ran.
    controlplane.prune_stale()
    bed = controlplane.ControlPlane(bin_dir=bin_dir)
    # Teardown by pid even if the session ends without running fixture finalizers.
    atexit.register(bed.stop)
    saved = {key: os.environ.get(key) for key in ("KUBECONFIG", "PATH")}
    try:
        bed.start()
        pytestconfig.stash[_BED_KEY] = bed
        os.environ.update(bed.env())
        yield bed
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        bed.stop(keep_dir=bed.startup_seconds is None)
        atexit.unregister(bed.stop)


@pytest.fixture(scope="session")
def kube_api(
    control_plane: controlplane.ControlPlane,
) -> collections.abc.Iterator[kubernetes.client.ApiClient]:
    api = nodes.api_client(control_plane.kubeconfig)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def test_namespace(kube_api: kubernetes.client.ApiClient) -> collections.abc.Iterator[str]:
    core = kubernetes.client.CoreV1Api(kube_api)
    name = f"nsprobe-test-{secrets.token_hex(4)}"
    namespace = kubernetes.client.V1Namespace(
        metadata=kubernetes.client.V1ObjectMeta(name=name, labels={"nsprobe.io/test": "true"})
    )
    core.create_namespace(namespace)
    try:
        # Pods are refused until the ServiceAccount controller has made `default` in the namespace.
        controlplane.wait_for(
            lambda: bool(core.read_namespaced_service_account("default", name)),
            timeout=30,
            what=f"ServiceAccount default in {name}",
        )
        yield name
    finally:
        with contextlib.suppress(kubernetes.client.exceptions.ApiException):
            core.delete_namespace(name)


@pytest.fixture(scope="session")
def node(
    control_plane: controlplane.ControlPlane, kube_api: kubernetes.client.ApiClient
) -> collections.abc.Iterator[nodes.NodeHeartbeat]:
    name = nodes.default_node_name()
    kubeconfig = control_plane.user_kubeconfig(user=f"system:node:{name}", groups=["system:nodes"])
    node_api = nodes.api_client(kubeconfig)
    heartbeat = nodes.NodeHeartbeat(node_api, name=name)
    core = kubernetes.client.CoreV1Api(kube_api)

    def schedulable() -> bool:
        # The TaintNodesByCondition admission plugin creates the node with a not-ready taint; the
        # node-lifecycle controller lifts it once it has seen Ready, and only then will pods schedule.
        found = core.read_node(name)
        taints = found.spec.taints if found.spec else None
        return not taints

    try:
        heartbeat.start()
        controlplane.wait_for(schedulable, timeout=60, what=f"node {name} to lose its not-ready taint")
        yield heartbeat
    finally:
        heartbeat.stop()
        node_api.close()
