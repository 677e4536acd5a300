"""The `kubectl-nsprobe` console script (click): parses kubectl-style flags, validates, runs commands.py."""

from __future__ import annotations

import collections.abc
import datetime
import os
import sys
import typing

import click

import kubectl_nsprobe
from kubectl_nsprobe import commands, errors, escape, options

PROG = "kubectl nsprobe"
F = typing.TypeVar("F", bound=collections.abc.Callable[..., typing.Any])
Raw = dict[str, typing.Any]

_CONNECTION_OPTIONS = (
    click.option("--kubeconfig", default=None, metavar="PATH", help="Path to the kubeconfig file."),
    click.option("--context", default=None, help="The kubeconfig context to use."),
    click.option(
        "-n", "--namespace", default=None, help="Namespace of the pod(s); default: the context's namespace."
    ),
    click.option(
        "--request-timeout",
        default=None,
        metavar="DURATION",
        help='Give up on a request after this long (e.g. 5s, 1m). "0" waits forever.',
    ),
    click.option("--as", "as_user", default=None, metavar="USER", help="Impersonate this user."),
    click.option("--as-group", "as_groups", multiple=True, metavar="GROUP", help="Impersonate this group."),
)
_OUTPUT_OPTIONS = (
    click.option(
        "-o",
        "--output",
        type=click.Choice(options.OUTPUTS, case_sensitive=False),
        default=None,
        help="Output format (default table).",
    ),
    click.option("--no-headers", is_flag=True, default=False, help="Omit table headers."),
    click.option(
        "--color",
        type=click.Choice(options.COLORS, case_sensitive=False),
        default=None,
        help="Colour output (default auto: on a terminal, unless NO_COLOR is set).",
    ),
)
_ALL_NAMESPACES = click.option(
    "-A", "--all-namespaces", is_flag=True, default=False, help="List pods in every namespace."
)


def _with(
    decorators: collections.abc.Iterable[collections.abc.Callable[[F], F]],
) -> collections.abc.Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(tuple(decorators)):
            func = decorator(func)
        return func

    return apply


common_options = _with((*_CONNECTION_OPTIONS, *_OUTPUT_OPTIONS))


def _merge(ctx: click.Context, /, raw: Raw) -> Raw:
    """Flags may come before or after the command name, as with kubectl; the later one wins."""
    merged = dict(ctx.obj or {})
    for key, value in raw.items():
        if value not in (None, (), False) or key not in merged:
            merged[key] = value
    return merged


def build_options(
    raw: Raw, *, stream: typing.TextIO, environ: collections.abc.Mapping[str, str]
) -> options.Options:
    """options -> validate: turn raw click values into a frozen Options, or raise errors.UsageError."""
    connection = options.Connection(
        kubeconfig=raw.get("kubeconfig"),
        context=raw.get("context"),
        namespace=raw.get("namespace"),
        request_timeout=options.parse_request_timeout(raw.get("request_timeout") or "0"),
        impersonate=raw.get("as_user"),
        impersonate_groups=tuple(raw.get("as_groups") or ()),
    )
    isatty = getattr(stream, "isatty", None)
    return options.Options(
        connection=connection,
        all_namespaces=bool(raw.get("all_namespaces")),
        output=options.normalize_output(raw.get("output")),
        no_headers=bool(raw.get("no_headers")),
        color=options.use_color(raw.get("color"), is_tty=bool(isatty and isatty()), environ=environ),
    )


def format_error(error: errors.PluginError) -> str:
    """kubectl's wording: 'Error from server (Reason): ...' for API answers, 'error: ...' otherwise."""
    text = str(error)
    if isinstance(error, errors.ApiError) and error.reason and error.status:
        text = f"Error from server ({error.reason}): {text}"
    else:
        text = f"error: {text}"
    return "\n".join(escape.text(line) for line in text.split("\n")) + "\n"


def _execute(
    ctx: click.Context, raw: Raw, action: collections.abc.Callable[[options.Options, commands.Streams], int]
) -> None:
    streams = commands.Streams(out=sys.stdout, err=sys.stderr)
    try:
        opts = build_options(_merge(ctx, raw), stream=streams.out, environ=os.environ)
        code = action(opts, streams)
    except errors.UsageError as error:
        raise click.UsageError(str(error), ctx) from error
    except errors.PluginError as error:
        streams.out.flush()
        streams.err.write(format_error(error))
        ctx.exit(error.exit_code)
    ctx.exit(code)


def _connected(
    run: collections.abc.Callable[[options.Options, commands.Cluster, commands.Streams], int],
) -> collections.abc.Callable[[options.Options, commands.Streams], int]:
    """Wrap a command's run() with a client built from the validated options; closed afterwards."""

    def action(opts: options.Options, streams: commands.Streams) -> int:
        from kubectl_nsprobe import (
            kube,
        )  # the Kubernetes client loads only for commands that talk to a cluster

        client = kube.connect(opts.connection)
        try:
            return run(opts, client, streams)
        finally:
            client.close()

    return action


def _now() -> datetime.datetime:
    return datetime.datetime.now(tz=datetime.UTC)


@click.group(
    invoke_without_command=True,
    subcommand_metavar="COMMAND [ARGS]...",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    epilog="Run 'kubectl nsprobe COMMAND --help' for a command's flags.",
)
@common_options
@_ALL_NAMESPACES
@click.pass_context
def cli(ctx: click.Context, /, **raw: typing.Any) -> None:
    """Kernel truth about your pods from nsprobe: what backs /tmp, page cache vs real memory, and which
    namespaces (and which root) a container shares with the node.

    \b
    Examples:
      kubectl nsprobe pod my-pod -n shop
      kubectl nsprobe pods -A --finding ROOT_IN_HOST_USERNS
      kubectl nsprobe node worker-1
      kubectl nsprobe explain TMP_ON_NODE_DISK
    """
    ctx.obj = raw
    if ctx.invoked_subcommand is None:  # bare `kubectl nsprobe`: help, and success, as kubectl itself does
        click.echo(ctx.get_help())
        ctx.exit(0)


@cli.command()
@click.argument("name")
@common_options
@click.pass_context
def pod(ctx: click.Context, /, name: str, **raw: typing.Any) -> None:
    """Report one pod, container by container: /tmp, memory, namespaces, identity, root, limits, IPC,
    findings."""
    _execute(
        ctx,
        raw,
        _connected(
            lambda opts, cluster, streams: commands.run_pod(
                opts, name, cluster=cluster, streams=streams, now=_now()
            )
        ),
    )


@cli.command()
@click.option(
    "-l", "--selector", default=None, help="Only pods whose labels match this selector (e.g. app=web)."
)
@click.option("--finding", default=None, metavar="CODE", help="Only pods with this finding (see explain).")
@_ALL_NAMESPACES
@common_options
@click.pass_context
def pods(ctx: click.Context, /, selector: str | None, finding: str | None, **raw: typing.Any) -> None:
    """One row per pod: /tmp backing, working set, cache, shmem, host namespaces, root, findings."""

    def run(opts: options.Options, cluster: commands.Cluster, streams: commands.Streams) -> int:
        return commands.run_pods(
            opts, selector=selector, finding=code, cluster=cluster, streams=streams, now=_now()
        )

    try:
        code = commands.validate_finding_code(finding)
    except errors.UsageError as error:
        raise click.BadParameter(str(error), ctx, param_hint="--finding") from error
    _execute(ctx, raw, _connected(run))


@cli.command()
@click.argument("name")
@common_options
@click.pass_context
def node(ctx: click.Context, /, name: str, **raw: typing.Any) -> None:
    """Report one node: the free -w answer, the node's own /tmp, kernel, cgroups, user namespaces, agent."""
    _execute(
        ctx,
        raw,
        _connected(
            lambda opts, cluster, streams: commands.run_node(
                opts, name, cluster=cluster, streams=streams, now=_now()
            )
        ),
    )


@cli.command()
@click.argument("code", required=False)
@common_options
@click.pass_context
def explain(ctx: click.Context, /, code: str | None, **raw: typing.Any) -> None:
    """Explain a finding CODE (offline); without CODE, list every code."""
    _execute(ctx, raw, lambda opts, streams: commands.run_explain(opts, code, streams=streams))


@cli.command()
@common_options
@click.pass_context
def version(ctx: click.Context, /, **raw: typing.Any) -> None:
    """Print the plugin's version."""
    _execute(
        ctx,
        raw,
        lambda opts, streams: commands.run_version(
            opts, version=kubectl_nsprobe.__version__, streams=streams
        ),
    )


def main(argv: collections.abc.Sequence[str] | None = None) -> None:
    """Console-script entry point (kubectl runs it as `kubectl nsprobe ...`)."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name=PROG)
    except BrokenPipeError:
        # `kubectl nsprobe pods | head`: the reader went away; that is not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(errors.EXIT_FAILURE)
    except KeyboardInterrupt:
        sys.exit(130)
