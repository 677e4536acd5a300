"""Benchmark of the agent's /metrics at node scale; run by `python bench/metrics_bench.py` (printed only).

Synthesizes 330 containers (110 pods x 3, the kubelet's default pod limit) from the metrics test
fixtures, then prints the time to collect and render the exposition and the series per container.
Targets: render <= 20 ms, <= 40 series per container.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from prometheus_client import exposition, registry
from tests.operator.metrics import fixtures

from nsprobe.metrics import collector, server

CONTAINERS = 330
RUNS = 30


def snapshot(count: int) -> collector.Snapshot:
    templates = [c for c in fixtures.fixture_containers() if c.ref.pod_uid is not None]
    reports = []
    names = {}
    for i in range(count):
        template = templates[i % len(templates)]
        key = f"{i:064x}"
        ref = dataclasses.replace(template.ref, key=key, container_id=key, pod_uid=f"pod-{i // 3:05d}")
        reports.append(dataclasses.replace(template, ref=ref))
        names[key] = collector.ContainerName(
            f"team-{i % 17}", f"service-{i // 3}-7d9f8b6c5-x2x9q", f"c{i % 3}"
        )
    result = fixtures.scan_result(tuple(reports))
    return collector.Snapshot(node="node-a", result=result, names=names)


def main() -> None:
    snapshots = collector.SnapshotCollector()
    base = snapshot(CONTAINERS)
    snapshots.update(base)
    reg = server.build_registry(component="agent", node="node-a")
    server.exposition(reg, snapshots)  # warm-up
    render_wall, render_cpu, scrape_wall, client_wall = [], [], [], []
    for _ in range(RUNS):
        started, cpu = time.perf_counter(), time.process_time()
        snapshots.update(dataclasses.replace(base))  # renders the snapshot's text, in the scan thread
        render_wall.append(time.perf_counter() - started)
        render_cpu.append(time.process_time() - cpu)
        started = time.perf_counter()
        body = server.exposition(reg, snapshots)  # one scrape: registry + the snapshot's text
        scrape_wall.append(time.perf_counter() - started)
    for _ in range(3):
        started = time.perf_counter()
        slow = exposition.generate_latest(_client_registry(snapshots))
        client_wall.append(time.perf_counter() - started)
    assert slow in body  # the fast path writes the very same bytes as client_python
    lines = [line for line in body.decode().splitlines() if line and not line.startswith("#")]
    per_container = sum('container="' in line for line in lines) / CONTAINERS
    load = os.getloadavg()[0]
    print(f"containers:               {CONTAINERS}")
    print(f"series total:             {len(lines)}")
    print(f"series per container:     {per_container:.1f} (target <= 40; the worst case, 40, is tested)")
    print(f"exposition size:          {len(body) / 1024:.0f} KiB")
    scrape = f"median {_ms(scrape_wall)} ms, p90 {_ms(scrape_wall, 0.9)} ms"
    print(f"/metrics scrape:          {scrape} (target <= 20 ms)")
    print(
        f"render per snapshot:      median {_ms(render_wall)} ms wall, {_ms(render_cpu)} ms CPU (at update)"
    )
    print(f"client_python collect():  median {_ms(client_wall)} ms (generate_latest, for comparison)")
    print(f"load average (1 min):     {load:.1f} on {os.cpu_count()} CPUs (wall times grow with it)")


def _ms(times: list[float], quantile: float = 0.5) -> str:
    return f"{sorted(times)[int(len(times) * quantile)] * 1000:.1f}"


def _client_registry(snapshots: collector.SnapshotCollector) -> registry.CollectorRegistry:
    reg = registry.CollectorRegistry()
    reg.register(snapshots)
    return reg


if __name__ == "__main__":
    main()
