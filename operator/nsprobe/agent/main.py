"""Wires the agent at start-up (client, scanner, metrics server, signals); called by `nsprobe agent`."""

from __future__ import annotations

import collections.abc
import dataclasses
import logging
import signal
import threading
import types

from nsprobe import kube
from nsprobe.agent import runner
from nsprobe.metrics import activity, collector, server
from nsprobe.models import spec as spec_mod
from nsprobe.models import status as status_mod
from nsprobe.probe import host, model, scanner

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Options:
    node_name: str
    proc_root: str
    cgroup_root: str
    interval: float
    heartbeat: float
    metrics_port: int
    metrics_listen: str
    kubeconfig: str | None
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    read_ipc: bool


def metrics_hook(
    snapshots: collector.SnapshotCollector, *, node: str
) -> collections.abc.Callable[[model.ScanResult, dict[str, status_mod.PodView]], None]:
    """What the agent calls after each scan: fresh names for the scrape-time collector, scan counters."""

    def on_scan(result: model.ScanResult, pods_by_uid: dict[str, status_mod.PodView]) -> None:
        names: dict[str, collector.ContainerName] = {}
        for report in result.containers:
            pod = pods_by_uid.get(report.ref.pod_uid or "")
            if pod is None:
                continue
            name = next((n for cid, n, _ in pod.containers if cid == report.ref.container_id), None)
            names[report.ref.key] = collector.ContainerName(
                namespace=pod.namespace, pod=pod.name, container=name or report.ref.key[:12]
            )
        snapshots.update(collector.Snapshot(node=node, result=result, names=names))
        activity.observe_scan(result)

    return on_scan


def run(options: Options) -> None:
    """Run until SIGTERM/SIGINT. Nothing connects before this is called."""
    client = kube.Kube(kube.connect(options.kubeconfig), field_manager=runner.FIELD_MANAGER)
    probe = scanner.Scanner(
        host.Host(proc_root=options.proc_root, cgroup_root=options.cgroup_root), read_ipc=options.read_ipc
    )
    settings = runner.Settings(
        node_name=options.node_name,
        interval=options.interval,
        heartbeat=options.heartbeat,
        namespaces=spec_mod.NamespaceFilter(include=options.include, exclude=options.exclude),
    )
    snapshots = collector.SnapshotCollector()
    agent = runner.Agent(
        client=client, probe=probe, settings=settings, on_scan=metrics_hook(snapshots, node=options.node_name)
    )
    registry = server.build_registry(component="agent", node=options.node_name)
    metrics = server.serve(
        registry,
        listen=options.metrics_listen,
        port=options.metrics_port,
        snapshots=snapshots,
        healthy=agent.healthy,
    )
    log.info("agent for node %s: metrics and /healthz on port %d", options.node_name, metrics.port)

    def stop(signum: int, frame: types.FrameType | None) -> None:
        log.info("signal %d: stopping", signum)
        agent.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
    try:
        agent.run()
    finally:
        metrics.close()
        client.close()
