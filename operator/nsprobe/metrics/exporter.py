"""`nsprobe exporter`: serves this host's kernel facts on /metrics with no cluster; called by cli.py and
`python -m nsprobe.metrics.exporter` (the end-to-end test runs it as a real process).

It is the agent's metrics path without the Kubernetes API: scan on an interval, export the snapshot.
Without the API there are no pod names, so series are named from the probe (metrics.collector's
``name_from_probe``): ``namespace`` is empty, ``pod`` is the pod UID from the cgroup path and
``container`` is the container id's first 12 characters.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time

import click

from nsprobe.metrics import activity, collector, server
from nsprobe.probe import host, scanner

# /healthz turns 503 when the scan loop has not finished an iteration for this many intervals: the loop
# is stuck (a hung read of a dead FUSE mount, say), even though the HTTP thread still answers.
_STALE_INTERVALS = 3
_STALE_FLOOR_SECONDS = 30.0


def run_exporter(
    *,
    listen: str,
    port: int,
    proc_root: str,
    cgroup_root: str,
    interval: float,
    node: str,
    read_ipc: bool = True,
    stop: threading.Event | None = None,
) -> None:
    """Scan every ``interval`` seconds and serve the latest scan until ``stop`` is set (or SIGTERM/SIGINT)."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    probe = scanner.Scanner(host.Host(proc_root=proc_root, cgroup_root=cgroup_root), read_ipc=read_ipc)
    snapshots = collector.SnapshotCollector()
    reg = server.build_registry(component="exporter", node=node)
    last_tick = time.monotonic()

    def healthy() -> bool:
        return time.monotonic() - last_tick < max(_STALE_INTERVALS * interval, _STALE_FLOOR_SECONDS)

    http = server.serve(reg, listen=listen, port=port, snapshots=snapshots, healthy=healthy)
    # One parseable line, so a caller that asked for port 0 learns the port (the end-to-end test does).
    print(
        f"nsprobe exporter: serving http://{_host_for_url(listen)}:{http.port}/metrics",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stop.is_set():
            started = time.monotonic()
            try:
                result = probe.scan()
            except scanner.RootsUnreadableError as exc:
                activity.observe_scan_failure(time.monotonic() - started)
                print(f"nsprobe exporter: scan failed: {exc}", file=sys.stderr, flush=True)
            else:
                activity.observe_scan(result)
                snapshots.update(collector.Snapshot(node=node, result=result, names={}))
            last_tick = time.monotonic()
            stop.wait(max(interval - (last_tick - started), 0.0))
    finally:
        http.close()


def _host_for_url(listen: str) -> str:
    return f"[{listen}]" if ":" in listen else listen


@click.command("exporter")
@click.option("--listen", default="0.0.0.0", show_default=True, help="Address to serve /metrics on.")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=9808, show_default=True, help="0 picks a free port."
)
@click.option("--proc-root", default="/proc", show_default=True, help="The host's /proc (e.g. /host/proc).")
@click.option("--cgroup-root", default="/sys/fs/cgroup", show_default=True, help="The host's cgroupfs.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.5),
    default=15.0,
    show_default=True,
    help="Seconds between scans.",
)
@click.option("--node", default=None, help="Value of the node label. [default: this host's name]")
@click.option("--no-ipc", is_flag=True, help="Skip SysV IPC counts (they need setns and CAP_SYS_ADMIN).")
def command(
    *,
    listen: str,
    port: int,
    proc_root: str,
    cgroup_root: str,
    interval: float,
    node: str | None,
    no_ipc: bool,
) -> None:
    """Serve this host's container metrics on /metrics without a cluster (names from cgroup paths)."""
    run_exporter(
        listen=listen,
        port=port,
        proc_root=proc_root,
        cgroup_root=cgroup_root,
        interval=interval,
        node=node or socket.gethostname(),
        read_ipc=not no_ipc,
    )


if __name__ == "__main__":
    command()
