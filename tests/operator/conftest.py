"""Fixtures for operator and agent tests: the chart's CRDs, an admin client, the agent as a child process."""

from __future__ import annotations

import collections.abc
import contextlib
import os
import pathlib
import secrets
import subprocess
import sys
import time
import typing

import kubernetes.client
import pytest

from nsprobe import kube
from nsprobe.testing import controlplane
from tests.operator import policy

ROOT = pathlib.Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "charts" / "nsprobe" / "crds"
FIXTURES = pathlib.Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def crds(control_plane: controlplane.ControlPlane) -> pathlib.Path:
    """The chart's CRDs, applied and established."""
    control_plane.kubectl(["apply", "--server-side", "-f", str(CRD_DIR)])
    control_plane.kubectl(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"])
    return CRD_DIR


@pytest.fixture(scope="session")
def admin(
    control_plane: controlplane.ControlPlane, crds: pathlib.Path
) -> collections.abc.Iterator[kube.Kube]:
    client = kube.Kube(kube.connect(str(control_plane.kubeconfig)), field_manager="nsprobe-test")
    yield client
    client.close()


@pytest.fixture(scope="session")
def system_namespace(admin: kube.Kube) -> collections.abc.Iterator[str]:
    """The operator's own namespace, as the chart would install it."""
    name = f"nsprobe-system-{secrets.token_hex(3)}"
    admin.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    with contextlib.suppress(kube.KubeError):
        admin.delete(f"/api/v1/namespaces/{name}")


def wait_until(
    check: typing.Callable[[], typing.Any], *, timeout: float, what: str, interval: float = 0.25
) -> typing.Any:
    """Poll check() until it returns something truthy (which is returned); exceptions count as not yet."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as error:  # the thing polled is usually still on its way
            last = error
        time.sleep(interval)
    raise TimeoutError(
        f"timed out after {timeout:.0f}s waiting for {what}" + (f" (last error: {last!r})" if last else "")
    )


def prepare_world(
    control_plane: controlplane.ControlPlane, admin: kube.Kube, *, namespace: str, system_namespace: str
) -> str:
    """The common start of every end-to-end module: a workload namespace with its default ServiceAccount,
    the agent's RBAC and admission policy installed, and the operator's namespace exported. Returns the
    agent's user name."""
    admin.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
    )
    wait_until(
        lambda: admin.get(f"/api/v1/namespaces/{namespace}/serviceaccounts/default"),
        timeout=30,
        what="default SA",
    )
    agent_user: str = policy.install(control_plane, admin, namespace=system_namespace)
    os.environ["NSPROBE_NAMESPACE"] = system_namespace
    return agent_user


def delete_quietly(admin: kube.Kube, *paths: str) -> None:
    """Teardown deletes: whatever is already gone (or the API being down) must not fail the test."""
    for path in paths:
        with contextlib.suppress(kube.KubeError):
            admin.delete(path)


def start_agent(
    stack: contextlib.ExitStack,
    control_plane: controlplane.ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    *,
    system_namespace: str,
    node_name: str,
    logs: pathlib.Path,
    interval: float,
) -> AgentProcess:
    """Start the agent as a child process with a real pod-bound token of this node; the stack stops it
    and prints the tail of its log (escaped: kernel strings may hold control characters)."""
    kubeconfig = policy.agent_kubeconfig(
        control_plane, kube_api, namespace=system_namespace, node=node_name, path=logs / "agent.kubeconfig"
    )
    agent = AgentProcess(
        node_name=node_name, kubeconfig=kubeconfig, log_path=logs / "agent.log", interval=interval
    ).start()

    def stop() -> None:
        agent.stop()
        tail = "\n".join(agent.log().splitlines()[-30:]).encode("unicode_escape").decode("ascii")
        # KopfRunner swaps sys.stdout while the operator runs: write to fd 2.
        os.write(2, f"\n--- agent log (tail) ---\n{tail}\n".encode())

    stack.callback(stop)
    return agent


class AgentProcess:
    """`nsprobe agent` as a child process over this host's /proc, logging to a file."""

    def __init__(
        self,
        *,
        node_name: str,
        kubeconfig: pathlib.Path,
        log_path: pathlib.Path,
        interval: float = 3.0,
        heartbeat: float = 300.0,
        extra: collections.abc.Sequence[str] = (),
    ) -> None:
        self.argv = [
            os.path.join(os.path.dirname(sys.executable), "nsprobe"),
            "agent",
            f"--node-name={node_name}",
            "--proc-root=/proc",
            "--cgroup-root=/sys/fs/cgroup",
            f"--interval={interval}",
            f"--heartbeat={heartbeat}",
            "--metrics-port=0",
            "--metrics-listen=127.0.0.1",
            f"--kubeconfig={kubeconfig}",
            *extra,
        ]
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AgentProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def core(api: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api)
