"""The run() step of each command: fetch through a Cluster, judge, render, write to injected streams.

cli.py parses and validates options, builds a kube.Client (or a test double) and calls one run_* function.
Each returns the exit code or raises errors.PluginError.
"""

from __future__ import annotations

import datetime
import re
import typing

from kubectl_nsprobe import diagnose, errors, escape, options, render
from nsprobe.probe import findings

Obj = dict[str, typing.Any]
_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")


class Cluster(typing.Protocol):
    """What the commands read from the API; kube.Client implements it, tests may fake it."""

    namespace: str

    def served_resources(self) -> set[str] | None: ...
    def get_pod(self, namespace: str, name: str) -> Obj: ...
    def list_pods(self, namespace: str | None, *, selector: str | None = None) -> list[Obj]: ...
    def get_node(self, name: str) -> Obj: ...
    def get_pod_probe(self, namespace: str, name: str) -> Obj: ...
    def list_pod_probes(self, namespace: str | None) -> list[Obj]: ...
    def get_node_probe(self, name: str) -> Obj: ...
    def list_node_probes(self) -> list[Obj]: ...
    def get_config(self) -> Obj: ...


class Streams(typing.NamedTuple):
    out: typing.TextIO
    err: typing.TextIO


def _require_installed(cluster: Cluster, resource: str) -> None:
    """After a 404 on an nsprobe resource: raise NotInstalledError if the API does not serve it."""
    served = cluster.served_resources()
    if served is None or resource not in served:
        raise errors.NotInstalledError(resource)


def _write_warning(streams: Streams, message: str) -> None:
    streams.err.write(escape.text(message) + "\n")


def _emit_object(obj: Obj, *, opts: options.Options, streams: Streams) -> None:
    streams.out.write(render.serialized(render.strip_managed_fields(obj), output=opts.output))


def validate_finding_code(code: str | None) -> str | None:
    """--finding: an upper-case code. Unknown codes pass (a newer agent may send codes we do not know)."""
    if code is None:
        return None
    normal = code.strip().upper()
    if not _CODE.match(normal):
        raise errors.UsageError(
            f"invalid --finding {escape.text(code)!r}: a finding code such as ROOT_IN_HOST_USERNS "
            "(see 'kubectl nsprobe explain')"
        )
    return normal


# --- pod -------------------------------------------------------------------------------------------------


def _optional(call: typing.Callable[[], Obj]) -> tuple[Obj | None, bool]:
    """(object, known): (None, True) when it does not exist, (None, False) when it could not be read."""
    try:
        return call(), True
    except errors.NotFoundError:
        return None, True
    except errors.PluginError:
        return None, False


def run_pod(
    opts: options.Options, name: str, *, cluster: Cluster, streams: Streams, now: datetime.datetime
) -> int:
    namespace = cluster.namespace
    where = f'"{escape.text(name)}" in namespace "{escape.text(namespace)}"'
    pod: Obj | None = None
    pod_exists = True
    try:
        pod = cluster.get_pod(namespace, name)
    except errors.NotFoundError:
        pod_exists = False
    except errors.ForbiddenError as error:
        # Reading pods may be denied while reading probes is allowed: carry on without the pod.
        _write_warning(streams, f"Warning: cannot read the pod itself ({error}); showing the report only.")
    try:
        probe: Obj | None = cluster.get_pod_probe(namespace, name)
    except errors.NotFoundError:
        probe = None
        if not pod_exists:
            raise errors.NotFoundError(f"pod {where} not found", status=404, reason="NotFound") from None
        _require_installed(cluster, "podprobes")
    if not pod_exists:
        _write_warning(
            streams, f"Warning: pod {where} no longer exists; this report is left over and will be removed."
        )
    if not diagnose.has_report(probe):
        if pod is None:
            raise errors.NoReportError(f"pod {where} has no nsprobe report yet.")
        raise errors.NoReportError(
            f"pod {where} has no nsprobe report yet: " + _why(cluster, pod, probe, now)
        )
    assert probe is not None
    status = probe.get("status") or {}
    pod_uid = ((pod or {}).get("metadata") or {}).get("uid")
    if pod_uid and status.get("podUID") and status["podUID"] != pod_uid:
        _write_warning(
            streams,
            f"Warning: this report is of an earlier pod named {where} (uid {status['podUID']}, now "
            f"{pod_uid}); the new pod has not been scanned yet.",
        )
    node = status.get("nodeName") or ((pod or {}).get("spec") or {}).get("nodeName")
    node_probe = _optional(lambda: cluster.get_node_probe(str(node)))[0] if node else None
    fresh = diagnose.pod_probe_freshness(probe, now=now, node_probe=node_probe)
    if fresh.stale:
        _write_warning(streams, render.stale_warning("pod", f"{namespace}/{name}", fresh))
    if opts.output in ("json", "yaml"):
        _emit_object(probe, opts=opts, streams=streams)
    else:
        streams.out.write(render.pod_report(probe, now=now, fresh=fresh, pod=pod, color=opts.color))
    return errors.EXIT_OK


def _why(cluster: Cluster, pod: Obj, probe: Obj | None, now: datetime.datetime) -> str:
    node = (pod.get("spec") or {}).get("nodeName")
    node_probe, node_known = (None, False)
    if node:
        node_probe, node_known = _optional(lambda: cluster.get_node_probe(str(node)))
    config, _ = _optional(cluster.get_config)
    return diagnose.why_no_report(
        pod=escape.deep(pod),
        probe=escape.deep(probe) if probe is not None else None,
        node_probe=node_probe,
        node_probe_known=node_known,
        config=escape.deep(config) if config is not None else None,
        now=now,
    )


# --- pods ------------------------------------------------------------------------------------------------


def _key(obj: Obj) -> tuple[str, str]:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace", "")), str(metadata.get("name", ""))


def _has_finding(probe: Obj | None, code: str) -> bool:
    items = ((probe or {}).get("status") or {}).get("findings") or []
    return any(isinstance(f, dict) and f.get("code") == code for f in items)


def run_pods(
    opts: options.Options,
    *,
    selector: str | None,
    finding: str | None,
    cluster: Cluster,
    streams: Streams,
    now: datetime.datetime,
) -> int:
    namespace = None if opts.all_namespaces else cluster.namespace
    if finding is not None and finding not in findings.CATALOGUE:
        _write_warning(
            streams, f"Warning: {finding} is not a finding code this plugin knows; filtering anyway."
        )
    try:
        probes = cluster.list_pod_probes(namespace)
    except errors.NotFoundError:
        _require_installed(cluster, "podprobes")
        probes = []
    by_key = {_key(p): p for p in probes}
    rows: list[render.PodRow]
    if selector:
        # -l selects on the pods' labels (a PodProbe carries none of them): list pods, then match probes.
        pods = cluster.list_pods(namespace, selector=selector)
        rows = [render.PodRow(probe=by_key.get(_key(pod)), pod=pod) for pod in pods]
    else:
        rows = [render.PodRow(probe=probe, pod=None) for probe in probes]
    if finding is not None:
        rows = [row for row in rows if _has_finding(row.probe, finding)]
    rows = _with_freshness(rows, cluster=cluster, now=now)
    rows.sort(key=lambda row: _key(row.probe or row.pod or {}))
    stale = [
        "/".join(_key(row.probe)) for row in rows if row.probe is not None and row.fresh and row.fresh.stale
    ]
    if opts.output in ("json", "yaml"):
        items = [render.strip_managed_fields(row.probe) for row in rows if row.probe is not None]
        streams.out.write(render.serialized(render.as_list(items), output=opts.output))
    elif not rows:
        scope = "" if namespace is None else f' in namespace "{escape.text(namespace)}"'
        streams.err.write(f"No resources found{scope}.\n")
    else:
        streams.out.write(
            render.pods_table(
                rows,
                now=now,
                wide=opts.output == "wide",
                all_namespaces=opts.all_namespaces,
                headers=not opts.no_headers,
                color=opts.color,
            )
        )
    if stale:
        shown = ", ".join(stale[:5]) + (f" and {len(stale) - 5} more" if len(stale) > 5 else "")
        _write_warning(
            streams,
            f"Warning: {len(stale)} report(s) are stale (older than {diagnose.STALE_INTERVALS} scan "
            f"intervals): {shown}",
        )
    return errors.EXIT_OK


def _with_freshness(
    rows: list[render.PodRow], *, cluster: Cluster, now: datetime.datetime
) -> list[render.PodRow]:
    """Judge each report by its node's agent heartbeat (one list of NodeProbes for the whole table)."""
    if not any(diagnose.has_report(row.probe) for row in rows):
        return rows
    try:
        node_probes = {str((n.get("metadata") or {}).get("name")): n for n in cluster.list_node_probes()}
    except errors.PluginError:
        node_probes = {}  # e.g. forbidden: fall back to each report's own observedAt
    out = []
    for row in rows:
        if not diagnose.has_report(row.probe):
            out.append(row)
            continue
        assert row.probe is not None
        node = (row.probe.get("status") or {}).get("nodeName")
        fresh = diagnose.pod_probe_freshness(row.probe, now=now, node_probe=node_probes.get(str(node)))
        out.append(row._replace(fresh=fresh))
    return out


# --- node ------------------------------------------------------------------------------------------------


def run_node(
    opts: options.Options, name: str, *, cluster: Cluster, streams: Streams, now: datetime.datetime
) -> int:
    quoted = f'"{escape.text(name)}"'
    try:
        node_probe = cluster.get_node_probe(name)
    except errors.NotFoundError:
        _require_installed(cluster, "nodeprobes")
        node, known = _optional(lambda: cluster.get_node(name))
        if known and node is None:
            raise errors.NotFoundError(f"node {quoted} not found", status=404, reason="NotFound") from None
        raise errors.NoReportError(
            f"node {quoted} has no NodeProbe: no nsprobe agent has reported from it. The agent DaemonSet may "
            f"not run there (taints, nodeSelector) or may be failing; check with\n"
            f"  kubectl get pods -A -o wide --field-selector spec.nodeName={escape.text(name)}"
        ) from None
    fresh = diagnose.node_probe_freshness(node_probe, now=now)
    if fresh.stale:
        _write_warning(streams, render.stale_warning("node", name, fresh))
    if opts.output in ("json", "yaml"):
        _emit_object(node_probe, opts=opts, streams=streams)
    else:
        streams.out.write(render.node_report(node_probe, now=now, color=opts.color))
    return errors.EXIT_OK


# --- offline ---------------------------------------------------------------------------------------------


def run_explain(opts: options.Options, code: str | None, *, streams: Streams) -> int:
    if code is None:
        if opts.output in ("json", "yaml"):
            items = [render.explain_object(i) for i in findings.CATALOGUE.values()]
            streams.out.write(render.serialized(items, output=opts.output))
        else:
            streams.out.write(render.explain_list(headers=not opts.no_headers, color=opts.color))
        return errors.EXIT_OK
    info = findings.CATALOGUE.get(code.strip().upper())
    if info is None:
        raise errors.NotFoundError(
            f"unknown finding code {escape.text(code)!r}; known codes: "
            + ", ".join(sorted(findings.CATALOGUE)),
            status=0,
        )
    if opts.output in ("json", "yaml"):
        streams.out.write(render.serialized(render.explain_object(info), output=opts.output))
    else:
        streams.out.write(render.explain_code(info, color=opts.color))
    return errors.EXIT_OK


def run_version(opts: options.Options, *, version: str, streams: Streams) -> int:
    if opts.output in ("json", "yaml"):
        streams.out.write(render.serialized({"pluginVersion": version}, output=opts.output))
    else:
        streams.out.write(f"kubectl-nsprobe {version}\n")
    return errors.EXIT_OK
