"""The /metrics and /healthz HTTP server and the registry behind it; used by the agent, the exporter and
the operator.

client_python's own server answers every path with metrics; a DaemonSet's liveness probe needs a real
/healthz, so this is a small WSGI router. /metrics is the component's registry (generate_latest) followed
by the node facts of metrics.collector, rendered once per snapshot by its fast text path: rendering 330
containers through client_python's families would take a few hundred milliseconds per scrape. It always
answers in the text format 0.0.4, which every Prometheus accepts.
"""

from __future__ import annotations

import collections.abc
import socket
import socketserver
import threading
import typing
import wsgiref.simple_server

import prometheus_client
from prometheus_client import registry as pr

from nsprobe.metrics import activity, collector

if typing.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def build_registry(*, component: str, node: str | None = None, process: bool = True) -> pr.CollectorRegistry:
    """A private registry for one component: its activity instruments and build info (node facts are
    served next to it, see ``exposition``)."""
    # Process-wide, and meant so: *_created series double every counter's series count and no nsprobe
    # dashboard or rule reads them (kube-state-metrics and node_exporter don't expose them either).
    disable_created: collections.abc.Callable[[], None] = prometheus_client.disable_created_metrics
    disable_created()
    reg = pr.CollectorRegistry(auto_describe=True)
    reg.register(activity.BuildInfoCollector(component=component, node=node))
    instruments = activity.OPERATOR_INSTRUMENTS if component == "operator" else activity.SCAN_INSTRUMENTS
    for instrument in instruments:
        reg.register(instrument)
    if process:
        # process_* (RSS, CPU, open fds) of nsprobe itself: the agent's own footprint on every node.
        prometheus_client.ProcessCollector(registry=reg)
    return reg


class _ThreadingServer(socketserver.ThreadingMixIn, wsgiref.simple_server.WSGIServer):
    daemon_threads = True  # a hung scrape must never keep the process alive at shutdown


class _QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: typing.Any) -> None:
        """Scrapes every few seconds would flood the agent's log; errors still reach the WSGI app."""


def exposition(reg: pr.CollectorRegistry, snapshots: collector.SnapshotCollector | None = None) -> bytes:
    """The whole /metrics body: the registry, then the latest snapshot's families."""
    body = prometheus_client.generate_latest(reg)
    return body + snapshots.exposition() if snapshots is not None else body


def make_app(
    reg: pr.CollectorRegistry,
    *,
    snapshots: collector.SnapshotCollector | None = None,
    healthy: collections.abc.Callable[[], bool] | None = None,
) -> WSGIApplication:
    """/metrics (and /) serve the exposition; /healthz answers 200 "ok", or 503 when not ``healthy()``."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> collections.abc.Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path in ("/healthz", "/livez", "/readyz"):
            ok = healthy() if healthy is not None else True
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n" if ok else b"unhealthy: no scan finished recently\n"]
        if path in ("/", "/metrics"):
            body = exposition(reg, snapshots)
            start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: try /metrics or /healthz\n"]

    return app


class MetricsServer:
    """A running server; ``port`` is the bound port (useful with port 0), ``close`` stops it."""

    def __init__(self, server: _ThreadingServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def serve(
    reg: pr.CollectorRegistry,
    *,
    listen: str,
    port: int,
    snapshots: collector.SnapshotCollector | None = None,
    healthy: collections.abc.Callable[[], bool] | None = None,
) -> MetricsServer:
    """Serve ``reg`` and ``snapshots`` on ``listen``:``port`` (IPv4 or IPv6) from a daemon thread."""
    family = socket.getaddrinfo(listen, port, type=socket.SOCK_STREAM)[0][0]
    server_class = type("_Server", (_ThreadingServer,), {"address_family": family})
    server: _ThreadingServer = wsgiref.simple_server.make_server(
        listen,
        port,
        make_app(reg, snapshots=snapshots, healthy=healthy),
        server_class=server_class,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(target=server.serve_forever, name="nsprobe-metrics", daemon=True)
    thread.start()
    return MetricsServer(server, thread)
