"""End to end on a real Prometheus: it scrapes a real exporter process serving kernel scenarios, with the
shipped rules loaded unchanged. NsprobeRootInHostUserns fires for the host-root container and not for
the one mapped to uid 100000, and every dashboard panel query returns data.

Scenarios: host root (tmpfs /tmp with 8 MiB written, memory limit, CPU quota), root mapped to 100000,
a container sharing the host's pid/net/ipc namespaces, and a non-root one (a hostUsers: false
candidate), so every panel has something true to show. Prometheus and the exporter listen on random
loopback ports, keep their data in a temporary directory and are stopped by pid.
"""

from __future__ import annotations

import collections.abc
import json
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time
import typing
import urllib.error
import urllib.parse
import urllib.request

import pytest

from nsprobe.testing import scenarios as sc
from tests.operator.metrics import dashboards, prom

pytestmark = [pytest.mark.kernel, pytest.mark.slow]
RULES = dashboards.ROOT / "charts" / "nsprobe" / "files" / "prometheus-rules.yaml"
NODE = "e2e-node"
MiB = 1024 * 1024
# The shipped NsprobeRootInHostUserns has `for: 1m`; frequent scrapes and evaluations, plus the
# exporter's first full scan of a busy host, fit well inside this.
ALERT_TIMEOUT = 240.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_for(what: str, check: collections.abc.Callable[[], typing.Any], timeout: float) -> typing.Any:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError as exc:  # not listening yet
            value, last = None, exc
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as exc:
        exc.close()
        return False


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, **params: str) -> typing.Any:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                raise AssertionError(f"{path} {params}: {exc.code} {exc.read().decode()}") from exc
        assert body["status"] == "success", body
        return body["data"]

    def instant(self, expr: str) -> list[dict[str, typing.Any]]:
        data = self.get("/api/v1/query", query=expr)
        result: list[dict[str, typing.Any]] = data["result"]
        return result

    def range(self, expr: str, seconds: int) -> list[dict[str, typing.Any]]:
        now = time.time()
        data = self.get("/api/v1/query_range", query=expr, start=str(now - seconds), end=str(now), step="5")
        result: list[dict[str, typing.Any]] = data["result"]
        return result

    def alerts(self) -> list[dict[str, typing.Any]]:
        alerts: list[dict[str, typing.Any]] = self.get("/api/v1/alerts")["alerts"]
        return alerts


@pytest.fixture
def workdir() -> collections.abc.Iterator[pathlib.Path]:
    with tempfile.TemporaryDirectory(prefix="nsprobe-e2e-") as path:
        yield pathlib.Path(path)


@pytest.fixture
def exporter(workdir: pathlib.Path, scenarios: sc.Scenarios) -> collections.abc.Iterator[str]:
    """The exporter as a real process; yields host:port. It depends on ``scenarios`` so that it stops
    before the scenario containers are removed."""
    log = workdir / "exporter.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nsprobe.metrics.exporter",
                "--listen",
                "127.0.0.1",
                "--port",
                "0",
                "--interval",
                "2",
                "--node",
                NODE,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        match = _wait_for(
            "the exporter to listen",
            lambda: re.search(r"serving http://(127\.0\.0\.1:\d+)/", log.read_text()),
            30,
        )
        yield str(match.group(1))
    finally:
        _stop(process)
        print(log.read_text()[-2000:])


@pytest.fixture
def prometheus(workdir: pathlib.Path, exporter: str) -> collections.abc.Iterator[Prometheus]:
    port = _free_port()
    config = {
        # A 2 s scrape timeout leaves room for the exporter's render while its scan holds the GIL on a
        # busy host; rules are evaluated every second.
        "global": {"scrape_interval": "2s", "evaluation_interval": "1s", "scrape_timeout": "2s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [{"job_name": "nsprobe-agent", "static_configs": [{"targets": [exporter]}]}],
    }
    (workdir / "prometheus.yml").write_text(json.dumps(config))  # JSON is YAML
    log = workdir / "prometheus.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                prom.binary("prometheus"),
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:
        _wait_for("Prometheus to be ready", lambda: _ready(server.base + "/-/ready"), 60)
        yield server
    finally:
        _stop(process)
        if process.returncode not in (0, None):
            print(log.read_text()[-4000:])


@pytest.fixture
def containers(scenarios: sc.Scenarios) -> dict[str, sc.Container]:
    fill = "head -c 8388608 /dev/zero > /tmp/fill && exec sleep infinity"
    return {
        "host_root": scenarios.start(
            command=["/bin/sh", "-c", fill],
            expect_comm="sleep",
            tmpfs_tmp="size=64m",
            memory_limit=256 * MiB,
            cpu_quota_us=50000,
        ),
        "mapped": scenarios.start(
            unshare=("--user", "--mount", "--pid", "--fork"),
            uid_map="0 100000 65536",
            command=["/bin/sleep", "infinity"],
        ),
        "host_namespaces": scenarios.start(unshare=("--mount",)),
        "non_root": scenarios.start(
            command=[
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--",
                "/bin/sleep",
                "infinity",
            ],
            expect_comm="sleep",
        ),
    }


def _alerts_for(server: Prometheus, name: str, pod: str) -> list[dict[str, typing.Any]]:
    return [a for a in server.alerts() if a["labels"]["alertname"] == name and a["labels"].get("pod") == pod]


def test_root_in_host_userns_fires_and_every_panel_has_data(
    containers: dict[str, sc.Container], prometheus: Prometheus
) -> None:
    host_root, mapped = containers["host_root"].pod_uid, containers["mapped"].pod_uid
    _wait_for(
        "the scenarios to be scraped",
        lambda: prometheus.instant(f'nsprobe_container_root_in_host_userns{{pod=~"{host_root}|{mapped}"}}')[
            1:
        ],
        ALERT_TIMEOUT,
    )

    firing = _wait_for(
        "NsprobeRootInHostUserns to fire for the host-root container",
        lambda: [
            a for a in _alerts_for(prometheus, "NsprobeRootInHostUserns", host_root) if a["state"] == "firing"
        ],
        ALERT_TIMEOUT,
    )
    assert firing[0]["labels"]["severity"] == "critical"
    assert firing[0]["labels"]["node"] == NODE
    assert firing[0]["labels"]["container"] == containers["host_root"].container_id[:12]
    assert _alerts_for(prometheus, "NsprobeRootInHostUserns", mapped) == []  # neither firing nor pending
    assert prometheus.instant(f'nsprobe_container_root_host_uid{{pod="{mapped}"}}')[0]["value"][1] == "100000"

    groups = prometheus.get("/api/v1/rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert len(rules) == 8 and all(rule["health"] == "ok" for rule in rules), rules

    values = {"node": NODE, "namespace": ".*", "pod": host_root}
    empty = []
    for query in dashboards.queries():
        expr = dashboards.substitute(query.expr, values)
        result = prometheus.instant(expr) if query.instant else prometheus.range(expr, 60)
        if not result:
            empty.append(f"{query.dashboard} / {query.panel} / {query.ref}: {expr}")
    assert not empty, "panel queries without data:\n" + "\n".join(empty)

    # The variables' own queries: node and pod list the scenario (namespace is empty without a cluster).
    nodes = prometheus.get("/api/v1/label/node/values", **{"match[]": "nsprobe_build_info"})
    assert NODE in nodes
    pods = prometheus.get(
        "/api/v1/label/pod/values", **{"match[]": f'nsprobe_container_working_set_bytes{{node="{NODE}"}}'}
    )
    assert {host_root, mapped} <= set(pods)
