"""`python -m nsprobe.testing.demo`: scenario pods on a local test bed, for people following the README.

Registers this machine as a Node of the bed named by $KUBECONFIG, creates three Pods bound to it and gives
each a real kernel-scenario container with the Pod's UID (root on disk /tmp; tmpfs /tmp with 16 MiB
written; root mapped to host uid 100000), then keeps the Node alive until Ctrl-C and removes everything.
Needs root. Run the operator and the agent beside it (the printed commands) and ask `kubectl nsprobe`.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import sys
import threading
import typing

import kubernetes.client

from nsprobe.testing import nodes, scenarios

NAMESPACE = "nsprobe-demo"
_PODS: dict[str, dict[str, typing.Any]] = {
    "tmp-on-node-disk": {},
    "tmpfs-tmp": {
        "command": scenarios.workload_command(tmp_mb=16, anon_mb=32),
        "tmpfs_tmp": "size=64m",
        "wait_for_ready": True,
    },
    "root-mapped-to-100000": {
        "unshare": ("--user", "--mount", "--pid", "--ipc", "--net", "--uts", "--fork"),
        "uid_map": "0 100000 65536",
        "command": ["/bin/sleep", "infinity"],
    },
}


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("the demo needs root: it makes namespaces and cgroups")
    kubeconfig = os.environ.get("KUBECONFIG")
    if not kubeconfig:
        sys.exit('KUBECONFIG is not set: run `eval "$(make -s cluster-up)"` first')
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    api = nodes.api_client(pathlib.Path(kubeconfig))
    core = kubernetes.client.CoreV1Api(api)
    with contextlib.ExitStack() as stack:
        stack.callback(api.close)
        node = stack.enter_context(nodes.NodeHeartbeat(api))
        with contextlib.suppress(kubernetes.client.exceptions.ApiException):
            core.create_namespace(
                kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=NAMESPACE))
            )
        bed = stack.enter_context(scenarios.Scenarios())
        for name, options in _PODS.items():
            pod = nodes.create_bound_pod(api, namespace=NAMESPACE, node_name=node.name, name=name)
            stack.callback(_delete_pod, core, name)
            container = bed.start(pod_uid=pod["metadata"]["uid"], **options)
            nodes.mark_pod_running(
                api,
                namespace=NAMESPACE,
                name=name,
                container_ids={"main": "containerd://" + container.container_id},
            )
        print(f"node {node.name}: pods {', '.join(_PODS)} in namespace {NAMESPACE} are running.")
        print("In other shells (same KUBECONFIG and PATH):")
        print(
            "  kubectl apply --server-side -f charts/nsprobe/crds/ && kubectl create namespace nsprobe-system"
        )
        print("  .venv/bin/nsprobe operator --namespace nsprobe-system --standalone --liveness= &")
        print(f"  sudo -E .venv/bin/nsprobe agent --node-name {node.name} --interval 10 --metrics-port 0 &")
        print(f"  kubectl nsprobe pods -n {NAMESPACE}; kubectl nsprobe pod tmpfs-tmp -n {NAMESPACE}")
        print("Ctrl-C removes the pods, the scenario containers and the node.", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


def _delete_pod(core: kubernetes.client.CoreV1Api, name: str) -> None:
    with contextlib.suppress(kubernetes.client.exceptions.ApiException):
        core.delete_namespaced_pod(
            name, NAMESPACE, body=kubernetes.client.V1DeleteOptions(grace_period_seconds=0)
        )


if __name__ == "__main__":
    main()
