"""The `nsprobe` console script: `scan` (this host, no cluster), `agent`, `operator` and `version`."""

from __future__ import annotations

import json
import logging
import sys

import click
import yaml

import nsprobe
from nsprobe.metrics import exporter
from nsprobe.probe import host, render, scanner, serialize

_OUTPUTS = ("table", "wide", "json", "yaml", "yml")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(nsprobe.__version__, prog_name="nsprobe")
def main() -> None:
    """nsprobe: what backs /tmp, page cache vs real memory, and which namespaces a container shares."""


@main.command()
@click.option("-o", "--output", type=click.Choice(_OUTPUTS), default="table", show_default=True)
@click.option("--pid", type=int, default=None, help="Report only this process (as its own container).")
@click.option("--proc-root", default="/proc", show_default=True, help="The host's /proc (e.g. /host/proc).")
@click.option("--cgroup-root", default="/sys/fs/cgroup", show_default=True, help="The host's cgroupfs.")
@click.option("--no-headers", is_flag=True, help="Omit the table header.")
@click.option("--no-ipc", is_flag=True, help="Skip SysV IPC counts (they need setns and CAP_SYS_ADMIN).")
@click.option(
    "--group-by",
    type=click.Choice(["auto", "kubepods", "nsset"]),
    default="auto",
    show_default=True,
    help="kubepods: containers from cgroup paths; nsset: processes by namespace set, as lsns does; "
    "auto: kubepods when the host has any.",
)
def scan(
    *,
    output: str,
    pid: int | None,
    proc_root: str,
    cgroup_root: str,
    no_headers: bool,
    no_ipc: bool,
    group_by: scanner.GroupBy,
) -> None:
    """Scan this host and report every container (or namespace set, without Kubernetes)."""
    probe = scanner.Scanner(
        host.Host(proc_root=proc_root, cgroup_root=cgroup_root), read_ipc=not no_ipc, group_by=group_by
    )
    try:
        result = probe.scan(only_pid=pid)
    except scanner.RootsUnreadableError as exc:
        raise click.ClickException(f"cannot scan: {exc}") from exc
    if pid is not None and not result.containers:
        raise click.ClickException(f"process {pid} not found (it may have exited)")
    out = sys.stdout
    if output in ("json", "yaml", "yml"):
        data = serialize.scan_to_dict(result)
        if output == "json":
            out.write(json.dumps(data, indent=2) + "\n")
        else:
            out.write(yaml.safe_dump(data, sort_keys=False))
        return
    if not no_headers:
        out.write(render.describe_node(result.node))
    if not result.containers:
        mode = "kubepods containers" if result.kubernetes else "processes outside the host's namespaces"
        out.write(f"No {mode} found.\n")
    else:
        out.write(render.table(result, wide=output == "wide", headers=not no_headers))
    for error in result.errors[:5]:
        click.echo(f"warning: {error.reason}: {error.detail}", err=True)
    if len(result.errors) > 5:
        click.echo(f"warning: {len(result.errors) - 5} more (see -o json)", err=True)


@main.command()
@click.option(
    "--node-name", envvar="NODE_NAME", required=True, help="This node's name (downward API: NODE_NAME)."
)
@click.option(
    "--proc-root", default="/proc", show_default=True, help="The host's /proc (in a pod: /host/proc)."
)
@click.option("--cgroup-root", default="/sys/fs/cgroup", show_default=True, help="The host's cgroupfs.")
@click.option(
    "--interval", type=click.FloatRange(1, 3600), default=30, show_default=True, help="Seconds between scans."
)
@click.option(
    "--heartbeat",
    type=click.FloatRange(10, 86400),
    default=300,
    show_default=True,
    help="Refresh the NodeProbe at least this often (seconds), even when nothing changed.",
)
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=9808, show_default=True)
@click.option(
    "--metrics-listen", default="0.0.0.0", show_default=True, help="Address for /metrics and /healthz."
)
@click.option("--kubeconfig", default=None, help="Kubeconfig file (default: in-cluster, else $KUBECONFIG).")
@click.option(
    "--include-namespace", "include", multiple=True, help="Only these namespaces (globs; repeatable)."
)
@click.option(
    "--exclude-namespace", "exclude", multiple=True, help="Never these namespaces (globs; repeatable)."
)
@click.option("--no-ipc", is_flag=True, help="Skip SysV IPC counts (they need setns and CAP_SYS_ADMIN).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
def agent(
    *,
    node_name: str,
    proc_root: str,
    cgroup_root: str,
    interval: float,
    heartbeat: float,
    metrics_port: int,
    metrics_listen: str,
    kubeconfig: str | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    no_ipc: bool,
    log_level: str,
) -> None:
    """Run the node agent: scan this node and write its PodProbe / NodeProbe status."""
    from nsprobe.agent import main as agent_main  # imported late: `nsprobe scan` needs no client

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    agent_main.run(
        agent_main.Options(
            node_name=node_name,
            proc_root=proc_root,
            cgroup_root=cgroup_root,
            interval=interval,
            heartbeat=heartbeat,
            metrics_port=metrics_port,
            metrics_listen=metrics_listen,
            kubeconfig=kubeconfig,
            include=include,
            exclude=exclude,
            read_ipc=not no_ipc,
        )
    )


@main.command("operator")
@click.option(
    "--namespace",
    envvar="NSPROBE_NAMESPACE",
    required=True,
    help="The operator's own namespace, where it keeps the agent DaemonSet (env NSPROBE_NAMESPACE).",
)
@click.option(
    "--agent-service-account",
    envvar="NSPROBE_AGENT_SERVICE_ACCOUNT",
    default="nsprobe-agent",
    show_default=True,
    help="ServiceAccount the agent DaemonSet runs as (env NSPROBE_AGENT_SERVICE_ACCOUNT).",
)
@click.option("--kubeconfig", default=None, help="Kubeconfig file (default: in-cluster, else $KUBECONFIG).")
@click.option(
    "--liveness",
    "liveness",
    default="http://0.0.0.0:8080/healthz",
    show_default=True,
    help="kopf's liveness endpoint URL ('' turns it off).",
)
@click.option(
    "--metrics-port", type=click.IntRange(0, 65535), default=0, help="Operator metrics port (0: off)."
)
@click.option(
    "--peering", default="nsprobe", show_default=True, help="kopf peering name: one active replica."
)
@click.option("--standalone", is_flag=True, help="No peering (a single replica, or tests).")
@click.option("--quiet", "level", flag_value="warning", help="Log warnings and errors only.")
@click.option("--verbose", "level", flag_value="info", default=True, help="Log each reconcile (default).")
@click.option("--debug", "level", flag_value="debug", help="Log everything, API calls included.")
def operator_(
    *,
    namespace: str,
    agent_service_account: str,
    kubeconfig: str | None,
    liveness: str,
    metrics_port: int,
    peering: str,
    standalone: bool,
    level: str,
) -> None:
    """Run the operator: the agent DaemonSet, one PodProbe per pod, one NodeProbe per node, a summary."""
    from nsprobe.handlers import main as operator_main  # imported late: it registers kopf handlers

    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    operator_main.run(
        namespace=namespace,
        agent_service_account=agent_service_account,
        kubeconfig=kubeconfig,
        liveness=liveness or None,
        metrics_port=metrics_port,
        peering=None if standalone else peering,
    )


@main.command()
def version() -> None:
    """Print the version."""
    click.echo(f"nsprobe {nsprobe.__version__}")


main.add_command(exporter.command)


if __name__ == "__main__":
    main()
