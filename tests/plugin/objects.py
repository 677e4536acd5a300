"""PodProbe / NodeProbe / Pod builders from the captured docs/example-*.json, and a fake Cluster."""

from __future__ import annotations

import copy
import datetime
import json
import os
import pathlib
import typing

import click.testing
import pytest

from kubectl_nsprobe import cli, errors, kube

Obj = dict[str, typing.Any]
ROOT = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = pathlib.Path(__file__).with_name("golden")
UPDATE_ENV = "NSPROBE_UPDATE_GOLDEN"
# The example status was captured at 09:18:14Z; "now" is three minutes later.
NOW = datetime.datetime(2026, 11, 29, 9, 21, 14, tzinfo=datetime.UTC)


def example_pod_status() -> Obj:
    status = json.loads((ROOT / "docs" / "example-podprobe-status.json").read_text())
    assert isinstance(status, dict)
    return status


def example_node_status() -> Obj:
    status = json.loads((ROOT / "docs" / "example-nodeprobe-status.json").read_text())
    assert isinstance(status, dict)
    return status


def pod_probe(
    name: str = "app",
    namespace: str = "default",
    *,
    status: Obj | None = None,
    interval: int | None = 30,
) -> Obj:
    body = copy.deepcopy(status if status is not None else example_pod_status())
    if interval is not None and body:
        body.setdefault("scanIntervalSeconds", interval)
    return {
        "apiVersion": "nsprobe.io/v1alpha1",
        "kind": "PodProbe",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "5d8a3c55-0000-4000-8000-000000000001",
            "creationTimestamp": "2026-11-29T08:00:00Z",
            "managedFields": [{"manager": "nsprobe-agent", "operation": "Apply"}],
        },
        "spec": {"podName": name, "podUID": body.get("podUID", ""), "nodeName": body.get("nodeName", "")},
        "status": body,
    }


def node_probe(
    name: str = "node-a", *, heartbeat: str | None = "2026-11-29T09:18:14Z", status: Obj | None = None
) -> Obj:
    body = copy.deepcopy(status if status is not None else example_node_status())
    if heartbeat is not None and body:
        body.update(scanIntervalSeconds=30, heartbeatSeconds=300, heartbeatAt=heartbeat)
    return {
        "apiVersion": "nsprobe.io/v1alpha1",
        "kind": "NodeProbe",
        "metadata": {"name": name, "creationTimestamp": "2026-11-29T08:00:00Z", "managedFields": [{}]},
        "spec": {"nodeName": name},
        "status": body,
    }


def pod(
    name: str = "app",
    namespace: str = "default",
    *,
    phase: str = "Running",
    node: str | None = "node-a",
    labels: dict[str, str] | None = None,
    uid: str = "b59b1c1c-2954-4e5e-94fb-9637fa7693ff",
) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "labels": labels or {},
            "creationTimestamp": "2026-11-29T08:00:00Z",
        },
        "spec": {"nodeName": node} if node else {},
        "status": {"phase": phase},
    }


def _not_found(what: str) -> errors.NotFoundError:
    return errors.NotFoundError(f"{what} not found", status=404, reason="NotFound")


class FakeCluster:
    """commands.Cluster over dicts. `installed=False` answers like an API server without the CRDs."""

    def __init__(
        self,
        *,
        namespace: str = "default",
        pods: list[Obj] | None = None,
        probes: list[Obj] | None = None,
        node_probes: list[Obj] | None = None,
        nodes: list[str] | None = None,
        config: Obj | None = None,
        installed: bool = True,
        forbidden: frozenset[str] = frozenset(),
    ) -> None:
        self.namespace = namespace
        self.pods = pods or []
        self.probes = probes or []
        self.node_probes = node_probes or []
        self.nodes = nodes or []
        self.config = config
        self.installed = installed
        self.forbidden = forbidden
        self.calls: list[str] = []

    def _check(self, call: str, *, custom: bool = False) -> None:
        self.calls.append(call)
        if call in self.forbidden:
            raise errors.ForbiddenError(f"{call} is forbidden", status=403, reason="Forbidden")
        if custom and not self.installed:
            raise _not_found("the server could not find the requested resource")

    @staticmethod
    def _find(items: list[Obj], namespace: str | None, name: str) -> Obj | None:
        for item in items:
            meta = item["metadata"]
            if meta["name"] == name and (namespace is None or meta.get("namespace") == namespace):
                return item
        return None

    def served_resources(self) -> set[str] | None:
        self.calls.append("discovery")
        return {"podprobes", "nodeprobes", "nsprobeconfigs"} if self.installed else None

    def get_pod(self, namespace: str, name: str) -> Obj:
        self._check("get_pod")
        found = self._find(self.pods, namespace, name)
        if found is None:
            raise _not_found(f'pods "{name}"')
        return found

    def list_pods(self, namespace: str | None, *, selector: str | None = None) -> list[Obj]:
        self._check("list_pods")
        wanted = dict(part.split("=", 1) for part in (selector or "").split(",") if part)
        return [
            p
            for p in self.pods
            if (namespace is None or p["metadata"]["namespace"] == namespace)
            and all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())
        ]

    def get_node(self, name: str) -> Obj:
        self._check("get_node")
        if name not in self.nodes:
            raise _not_found(f'nodes "{name}"')
        return {"metadata": {"name": name}}

    def get_pod_probe(self, namespace: str, name: str) -> Obj:
        self._check("get_pod_probe", custom=True)
        found = self._find(self.probes, namespace, name)
        if found is None:
            raise _not_found(f'podprobes.nsprobe.io "{name}"')
        return found

    def list_pod_probes(self, namespace: str | None) -> list[Obj]:
        self._check("list_pod_probes", custom=True)
        return [p for p in self.probes if namespace is None or p["metadata"]["namespace"] == namespace]

    def get_node_probe(self, name: str) -> Obj:
        self._check("get_node_probe", custom=True)
        found = self._find(self.node_probes, None, name)
        if found is None:
            raise _not_found(f'nodeprobes.nsprobe.io "{name}"')
        return found

    def list_node_probes(self) -> list[Obj]:
        self._check("list_node_probes", custom=True)
        return list(self.node_probes)

    def get_config(self) -> Obj:
        self._check("get_config", custom=True)
        if self.config is None:
            raise _not_found('nsprobeconfigs.nsprobe.io "default"')
        return self.config


def assert_golden(name: str, text: str) -> None:
    """Compare with tests/plugin/golden/<name>; NSPROBE_UPDATE_GOLDEN=1 rewrites the file instead."""
    path = GOLDEN / name
    if os.environ.get(UPDATE_ENV):
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with {UPDATE_ENV}=1 and review it"
    assert text == path.read_text(), f"output differs from {path} (re-generate with {UPDATE_ENV}=1)"


class _Closing:
    """A FakeCluster with the close() that kube.Client has."""

    def __init__(self, cluster: FakeCluster) -> None:
        self._cluster = cluster

    def __getattr__(self, name: str) -> object:
        return getattr(self._cluster, name)

    def close(self) -> None:
        pass


def invoke(
    cluster: FakeCluster, args: list[str], *, env: dict[str, str | None] | None = None
) -> click.testing.Result:
    """Run the real click CLI with kube.connect answering `cluster`; stdout and stderr kept apart."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(kube, "connect", lambda *_args, **_kwargs: _Closing(cluster))
        patch.setattr(cli, "_now", lambda: NOW)
        return click.testing.CliRunner().invoke(cli.cli, args, prog_name=cli.PROG, env=env)
