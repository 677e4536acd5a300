"""API cost benchmark (printed, not timed): requests per agent scan at 110 pods on one node, first scan vs
steady state, and the operator's RSS with 2,000 PodProbes. Needs root (kernel scenarios) and the test bed.

    .venv/bin/python bench/api_bench.py [--pods 110] [--probes 2000]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import pathlib
import subprocess
import sys
import time

import kubernetes.client

from nsprobe import kube
from nsprobe.agent import runner
from nsprobe.probe import host, scanner
from nsprobe.reconcile import probes as probe_reconcile
from nsprobe.reconcile import state as state_mod
from nsprobe.testing import controlplane, nodes
from nsprobe.testing import scenarios as sc

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _rss_kib(pid: int) -> int:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _namespace(admin: kube.Kube, name: str) -> None:
    admin.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            admin.get(f"/api/v1/namespaces/{name}/serviceaccounts/default")
            return
        except kube.NotFoundError:
            time.sleep(0.2)


def agent_requests(
    bed: controlplane.ControlPlane, api: kubernetes.client.ApiClient, node: str, pods: int
) -> None:
    admin = kube.Kube(api, field_manager="bench")
    _namespace(admin, "bench-agent")
    state = state_mod.OperatorState(client=admin, namespace="bench-agent")
    with sc.Scenarios() as bench_bed:
        started = time.monotonic()
        for i in range(pods):
            pod = nodes.create_bound_pod(api, namespace="bench-agent", node_name=node, name=f"p{i:03d}")
            container = bench_bed.start(
                pod_uid=pod["metadata"]["uid"], unshare=("--mount", "--pid", "--fork")
            )
            nodes.mark_pod_running(
                api,
                namespace="bench-agent",
                name=f"p{i:03d}",
                container_ids={"main": "containerd://" + container.container_id},
            )
            pod = admin.get(f"/api/v1/namespaces/bench-agent/pods/p{i:03d}")
            probe_reconcile.ensure_pod_probe(state, pod)
        print(f"set-up: {pods} pods, scenario containers and PodProbes in {time.monotonic() - started:.0f}s")
        client = kube.Kube(kube.connect(str(bed.kubeconfig)), field_manager=runner.FIELD_MANAGER)
        agent = runner.Agent(
            client=client,
            probe=scanner.Scanner(host.Host()),
            settings=runner.Settings(node_name=node, interval=30, heartbeat=300),
        )
        for inf in agent.informers:
            inf.start()
        for inf in agent.informers:
            inf.synced.wait(30)
        first_start = client.requests
        agent.cycle()
        first = client.requests - first_start
        print(
            f"first scan: {first} API requests ({agent.counters.writes} status writes, "
            f"plus {first_start} to list and open 3 watches)"
        )
        steady = []
        for _ in range(5):
            before = client.requests
            agent.cycle()
            steady.append(client.requests - before)
        print(
            f"steady state: {steady} API requests per scan over 5 scans "
            f"(writes so far {agent.counters.writes})"
        )
        agent.stop()


def operator_rss(
    bed: controlplane.ControlPlane, api: kubernetes.client.ApiClient, node: str, count: int
) -> None:
    admin = kube.Kube(api, field_manager="bench")
    _namespace(admin, "bench-system")
    env = {**os.environ, "KUBECONFIG": str(bed.kubeconfig), "NSPROBE_SUMMARY_INTERVAL": "30"}
    argv = [
        str(pathlib.Path(sys.executable).parent / "nsprobe"),
        "operator",
        "--namespace=bench-system",
        "--standalone",
        "--liveness=",
        "--quiet",
    ]
    log = open("/tmp/nsprobe-bench-operator.log", "wb")  # noqa: SIM115 - lives as long as the child
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        time.sleep(8)
        idle = _rss_kib(proc.pid)
        for n in range(0, count, 500):
            _namespace(admin, f"bench-rss-{n // 500}")

        def make(i: int) -> None:
            nodes.create_bound_pod(api, namespace=f"bench-rss-{i // 500}", node_name=node, name=f"r{i:04d}")

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(make, range(count)))
        deadline = time.monotonic() + 600
        made = 0
        while time.monotonic() < deadline:
            made = sum(
                len(p.get("items") or [])
                for p in admin.list_pages(
                    "/apis/nsprobe.io/v1alpha1/podprobes",
                    metadata_only=True,
                    query={"labelSelector": "nsprobe.io/node"},
                )
            )
            if made >= count:
                break
            time.sleep(2)
        took = time.monotonic() - started
        time.sleep(10)
        print(
            f"operator RSS: {idle / 1024:.0f} MiB idle, {_rss_kib(proc.pid) / 1024:.0f} MiB with {made} "
            f"PodProbes (all {count} created in {took:.0f}s)"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=110)
    parser.add_argument("--probes", type=int, default=2000)
    args = parser.parse_args()
    with controlplane.ControlPlane() as bed:
        bed.kubectl(["apply", "--server-side", "-f", str(ROOT / "charts" / "nsprobe" / "crds")])
        bed.kubectl(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"])
        api = nodes.api_client(bed.kubeconfig)
        with nodes.NodeHeartbeat(api) as heartbeat:
            agent_requests(bed, api, heartbeat.name, args.pods)
            operator_rss(bed, api, heartbeat.name, args.probes)


if __name__ == "__main__":
    main()
