"""Registers this machine as a Ready Node with a fresh Lease, and binds Pods to it, for tests of later tiers.

There is no kubelet in the tier-2 bed, so NodeHeartbeat does the three kubelet duties the control plane
checks: it keeps the Node's Lease (kube-node-lease) renewed and its Ready condition's heartbeat fresh, so
the node-lifecycle controller keeps the node Ready and untainted; and it finishes the deletion of Pods bound
to the node (a bound Pod that is being deleted waits for its kubelet, which would otherwise hang namespace
deletion forever). create_bound_pod and mark_pod_running let a test give a Pod the status a kubelet would.
"""

from __future__ import annotations

import collections.abc
import contextlib
import datetime
import json
import logging
import os
import pathlib
import platform
import re
import secrets
import socket
import threading
from typing import Any

import kubernetes.client
import kubernetes.client.exceptions
import kubernetes.config

LEASE_NAMESPACE = "kube-node-lease"
KUBELET_VERSION = "v1.37.2"
DEFAULT_IMAGE = "registry.invalid/nsprobe/none:0"
log = logging.getLogger(__name__)

Json = dict[str, Any]


def api_client(kubeconfig: pathlib.Path) -> kubernetes.client.ApiClient:
    """A new ApiClient for kubeconfig's current context; the caller closes it."""
    client: kubernetes.client.ApiClient = kubernetes.config.new_client_from_config(  # type: ignore[no-untyped-call]
        config_file=str(kubeconfig)
    )
    return client


def default_node_name() -> str:
    """This machine's hostname with a random suffix, so concurrent test runs get distinct nodes."""
    host = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().lower()).strip("-") or "node"
    return f"{host[:40]}-{secrets.token_hex(3)}"


def random_container_id(runtime: str = "containerd") -> str:
    """A container ID in the form the kubelet reports: `<runtime>://<64 hex digits>`."""
    return f"{runtime}://{secrets.token_hex(32)}"


def _timestamp() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _micro_timestamp() -> str:
    # Lease renewTime is a MicroTime; the API rejects it without the fractional part.
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _read(path: str) -> str:
    try:
        return pathlib.Path(path).read_text().strip()
    except OSError:
        return ""


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return "Linux"


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _primary_ip() -> str:
    """The address of the default route's interface (no packet is sent), or loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.254", 9))
            address: str = sock.getsockname()[0]
            return address
        except OSError:
            return "127.0.0.1"


def _body(response: Any) -> Json:
    """Decode a `_preload_content=False` response and give its connection back to the pool.

    Raw JSON instead of the client's models: the models reject objects whose required fields an
    older or newer server leaves out, and tests want plain dicts anyway.
    """
    try:
        data = json.loads(response.data)
    finally:
        response.release_conn()
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _is_status(error: kubernetes.client.exceptions.ApiException, *codes: int) -> bool:
    return error.status in codes


class NodeHeartbeat:
    """A Node named `name` that stays Ready while start()ed; stop() ends the heartbeat and deletes it.

    api should carry the node's own identity (a client certificate for `system:node:<name>` in group
    `system:nodes`, see ControlPlane.user_kubeconfig) so the Node authorizer applies and the node's
    writes are told apart in the audit log; an admin client works as well.
    """

    def __init__(
        self,
        api: kubernetes.client.ApiClient,
        *,
        name: str | None = None,
        cpu: str = "2",
        memory: str = "8Gi",
        pods: int = 110,
        labels: collections.abc.Mapping[str, str] | None = None,
        interval: float = 4.0,
        lease_duration_seconds: int = 40,
    ) -> None:
        self.api = api
        self.name = name or default_node_name()
        self.address = _primary_ip()
        self.capacity = {"cpu": cpu, "memory": memory, "pods": str(pods), "ephemeral-storage": "100Gi"}
        self.labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": _arch(),
            **(labels or {}),
        }
        self.interval = interval
        self.lease_duration_seconds = lease_duration_seconds
        self.uid = ""
        self.beats = 0
        self.last_error: BaseException | None = None
        self._core = kubernetes.client.CoreV1Api(api)
        self._coordination = kubernetes.client.CoordinationV1Api(api)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> NodeHeartbeat:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> NodeHeartbeat:
        """Register the Node and its Lease, then keep them fresh from a daemon thread."""
        self.register()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"node-heartbeat-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, *, delete: bool = True) -> None:
        """End the heartbeat thread; with delete, remove the Node (its Lease follows by ownerReference)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if delete:
            with contextlib.suppress(kubernetes.client.exceptions.ApiException):
                _body(self._core.delete_node(self.name, _preload_content=False))

    def register(self) -> Json:
        """Create the Node (or adopt an existing one of that name), post Ready status and the Lease."""
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": self.labels},
            "spec": {},
        }
        try:
            model = kubernetes.client.V1Node.from_dict(node)
            assert model is not None
            created = _body(self._core.create_node(model, _preload_content=False))
        except kubernetes.client.exceptions.ApiException as error:
            if not _is_status(error, 409):
                raise
            created = _body(self._core.read_node(self.name, _preload_content=False))
        self.uid = created["metadata"]["uid"]
        status = _body(self._core.patch_node_status(self.name, self._status(), _preload_content=False))
        self._renew_lease()
        self.beats += 1
        return status

    def beat(self) -> None:
        """One heartbeat: renew the Lease, refresh the Ready condition, finish deletions of bound Pods."""
        self._renew_lease()
        now = _timestamp()
        ready = {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "nsprobe test node is posting ready status",
            "lastHeartbeatTime": now,
        }
        _body(
            self._core.patch_node_status(
                self.name, {"status": {"conditions": [ready]}}, _preload_content=False
            )
        )
        self._finish_deletions()
        self.beats += 1

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.beat()
                self.last_error = None
            except Exception as error:  # an apiserver outage in a fault test must not end the heartbeat
                self.last_error = error
                log.warning("node %s heartbeat failed: %s", self.name, error)

    def _status(self) -> Json:
        now = _timestamp()

        def condition(kind: str, status: str, reason: str, message: str) -> Json:
            return {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }

        return {
            "status": {
                "capacity": self.capacity,
                "allocatable": self.capacity,
                "conditions": [
                    condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "memory available"),
                    condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "no disk pressure"),
                    condition("PIDPressure", "False", "KubeletHasSufficientPID", "PIDs available"),
                    condition("Ready", "True", "KubeletReady", "nsprobe test node is posting ready status"),
                ],
                "addresses": [
                    {"type": "InternalIP", "address": self.address},
                    {"type": "Hostname", "address": self.name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": _read("/etc/machine-id"),
                    "systemUUID": _read("/sys/class/dmi/id/product_uuid"),
                    "bootID": _read("/proc/sys/kernel/random/boot_id"),
                    "kernelVersion": os.uname().release,
                    "osImage": _os_image(),
                    # Tier 2 has no runtime behind the node; the prefix matches the container IDs we report.
                    "containerRuntimeVersion": "containerd://nsprobe-testbed",
                    "kubeletVersion": KUBELET_VERSION,
                    "kubeProxyVersion": "",
                    "operatingSystem": "linux",
                    "architecture": _arch(),
                },
            }
        }

    def _renew_lease(self) -> None:
        try:
            _body(
                self._coordination.patch_namespaced_lease(
                    self.name,
                    LEASE_NAMESPACE,
                    {"spec": {"holderIdentity": self.name, "renewTime": _micro_timestamp()}},
                    _preload_content=False,
                )
            )
        except kubernetes.client.exceptions.ApiException as error:
            if not _is_status(error, 404):
                raise
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {
                    "name": self.name,
                    "namespace": LEASE_NAMESPACE,
                    "ownerReferences": [
                        {"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": self.uid}
                    ],
                },
                "spec": {
                    "holderIdentity": self.name,
                    "leaseDurationSeconds": self.lease_duration_seconds,
                    "renewTime": _micro_timestamp(),
                },
            }
            model = kubernetes.client.V1Lease.from_dict(lease)
            assert model is not None
            _body(self._coordination.create_namespaced_lease(LEASE_NAMESPACE, model, _preload_content=False))

    def _finish_deletions(self) -> None:
        pods = _body(
            self._core.list_pod_for_all_namespaces(
                field_selector=f"spec.nodeName={self.name}", _preload_content=False
            )
        )
        for pod in pods.get("items", []):
            meta = pod["metadata"]
            if not meta.get("deletionTimestamp"):
                continue
            # What a kubelet does once the containers are gone: delete for good, guarded by UID.
            try:
                _body(
                    self._core.delete_namespaced_pod(
                        meta["name"],
                        meta["namespace"],
                        # In the body: the apiserver ignores query parameters when a body is sent.
                        body=kubernetes.client.V1DeleteOptions(
                            grace_period_seconds=0,
                            preconditions=kubernetes.client.V1Preconditions(uid=meta["uid"]),
                        ),
                        _preload_content=False,
                    )
                )
            except kubernetes.client.exceptions.ApiException as error:
                if not _is_status(error, 404, 409):  # already gone, or replaced by a new pod of that name
                    raise


def create_bound_pod(
    api: kubernetes.client.ApiClient,
    *,
    namespace: str,
    node_name: str,
    name: str | None = None,
    containers: collections.abc.Sequence[str] = ("main",),
    image: str = DEFAULT_IMAGE,
    labels: collections.abc.Mapping[str, str] | None = None,
) -> Json:
    """Create a Pod already bound to node_name (spec.nodeName), bypassing the scheduler; returns it."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name or f"bound-{secrets.token_hex(4)}", "labels": dict(labels or {})},
        "spec": {
            "nodeName": node_name,
            "containers": [{"name": container, "image": image} for container in containers],
        },
    }
    model = kubernetes.client.V1Pod.from_dict(pod)
    assert model is not None
    core = kubernetes.client.CoreV1Api(api)
    return _body(core.create_namespaced_pod(namespace, model, _preload_content=False))


def mark_pod_running(
    api: kubernetes.client.ApiClient,
    *,
    namespace: str,
    name: str,
    container_ids: collections.abc.Mapping[str, str] | None = None,
    host_ip: str | None = None,
    pod_ip: str | None = None,
) -> Json:
    """Patch a Pod's status subresource to what a kubelet reports for a running, ready Pod; returns it.

    container_ids maps container name to `<runtime>://<id>`; containers not named get a random
    containerd ID. The IDs are in the returned pod's status.containerStatuses[].containerID.
    """
    core = kubernetes.client.CoreV1Api(api)
    pod = _body(core.read_namespaced_pod(name, namespace, _preload_content=False))
    now = _timestamp()
    ids = dict(container_ids or {})
    statuses = []
    for container in pod["spec"]["containers"]:
        statuses.append(
            {
                "name": container["name"],
                "image": container["image"],
                "imageID": "",
                "containerID": ids.get(container["name"]) or random_container_id(),
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": now}},
            }
        )
    status: Json = {
        "phase": "Running",
        "startTime": now,
        "conditions": [
            {"type": kind, "status": "True", "lastTransitionTime": now}
            for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
        "containerStatuses": statuses,
    }
    if host_ip:
        status["hostIP"] = host_ip
        status["hostIPs"] = [{"ip": host_ip}]
    if pod_ip:
        status["podIP"] = pod_ip
        status["podIPs"] = [{"ip": pod_ip}]
    return _body(
        core.patch_namespaced_pod_status(name, namespace, {"status": status}, _preload_content=False)
    )
