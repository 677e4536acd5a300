"""The `nsprobe` console script: `scan` (this host, no cluster), `agent`, `operator` and `version`."""

from __future__ import annotations

import json
import sys
import typing

import click
import yaml

import nsprobe
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
def scan(*, output: str, pid: int | None, proc_root: str, cgroup_root: str, no_headers: bool, no_ipc: bool) -> None:
    """Scan this host and report every container (or namespace set, without Kubernetes)."""
    probe = scanner.Scanner(host.Host(proc_root=proc_root, cgroup_root=cgroup_root), read_ipc=not no_ipc)
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
def version() -> None:
    """Print the version."""
    click.echo(f"nsprobe {nsprobe.__version__}")


def run() -> typing.NoReturn:
    sys.exit(main())
