"""Pure text rendering of PodProbe/NodeProbe objects and the finding catalogue; called by commands.py.

Every function takes plain JSON-like objects as the API returns them and returns text. Cluster strings are
escaped on the way in (escape.deep), so nothing a pod or node is named can repaint the terminal.
"""

from __future__ import annotations

import collections.abc
import datetime
import json
import textwrap
import typing

import yaml

from kubectl_nsprobe import diagnose, escape
from nsprobe.probe import assemble, findings

Obj = dict[str, typing.Any]

SEVERITIES = ("critical", "high", "medium", "low", "info")
WIDTH = 100
_LABEL = 12  # width of the label column in the pod and node reports
_STYLES = {
    "critical": "1;31",
    "high": "31",
    "medium": "33",
    "low": "36",
    "info": "2",
    "warn": "1;33",
    "bold": "1",
    "ok": "32",
}
_NAMESPACE_TYPES = ("mnt", "pid", "net", "ipc", "uts", "user", "cgroup", "time")
_SHARING_WORDS = {
    "host": "host (the node's own)",
    "pod": "pod (shared with the pod's other containers)",
    "private": "private",
}
_USERNS_WORDS = {
    "host": "host (no user namespace of its own)",
    "private-root-mapped-to-host-root": "private, but its root maps to host root",
    "private": "private",
}
_ROOT_WORDS = {
    "pivot_root": "pivot_root (the old root is detached)",
    "chroot": "chroot only (ESCAPABLE: the node's root is still in its mount namespace)",
    "host": "the node's own root directory",
}
_NO_REPORT = "<no report>"
_BODY = WIDTH - _LABEL - 2  # width of the text right of a report's label column


# --- small helpers ---------------------------------------------------------------------------------------


def paint(text: str, style: str, *, color: bool) -> str:
    """Wrap already-escaped text in an SGR colour when colour is on."""
    code = _STYLES.get(style)
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


def severity_rank(severity: object) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def fmt_bytes(value: object) -> str:
    """Bytes in binary units; '?' for an unknown (null) figure."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "?"
    return assemble.fmt_bytes(int(value))


def yes_no(value: object, *, yes: str = "yes", no: str = "no") -> str:
    return yes if value is True else no if value is False else "unknown"


def fmt_limit(value: object) -> str:
    return "none" if value is None else fmt_bytes(value)


def age(timestamp: object, *, now: datetime.datetime) -> str:
    when = diagnose.parse_time(timestamp)
    return "<unknown>" if when is None else diagnose.human_duration((now - when).total_seconds())


def format_rows(rows: collections.abc.Sequence[collections.abc.Sequence[str]], *, gap: int = 3) -> str:
    """Left-aligned columns as kubectl prints them (three spaces between columns)."""
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    sep = " " * gap
    lines = [sep.join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines) + "\n"


def _wrap(text: str, *, indent: int, first: str = "", width: int = WIDTH) -> list[str]:
    pad = " " * indent
    return textwrap.wrap(
        text,
        width=width,
        initial_indent=first.ljust(indent) if first else pad,
        subsequent_indent=pad,
        break_on_hyphens=False,
        break_long_words=False,
    ) or [first.rstrip()]


def _section(value: object) -> tuple[Obj | None, str | None]:
    """A status section and its 'unknown' note. A whole-unknown section is ({...} without facts)."""
    if not isinstance(value, dict):
        return None, "not reported"
    note = value.get("unknown")
    facts = {k: v for k, v in value.items() if k != "unknown"}
    return (facts or None), (str(note) if note else None)


def _unknown(note: str | None) -> str:
    return f"unknown: {note}" if note else "unknown"


def _not_known(note: str) -> list[str]:
    return _wrap(f"(not known: {note})", indent=0, width=_BODY)


def _labelled(label: str, lines: collections.abc.Sequence[str]) -> list[str]:
    out = []
    for i, line in enumerate(lines):
        head = ("  " + label).ljust(_LABEL + 2) if i == 0 else " " * (_LABEL + 2)
        out.append(head + line)
    return out


# --- serialised output -------------------------------------------------------------------------------------


def strip_managed_fields(obj: Obj) -> Obj:
    """A copy of an object without metadata.managedFields (kubectl's -o json/yaml keeps them; we do not)."""
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k != "managedFields"}
    return {**obj, "metadata": metadata} if "metadata" in obj else dict(obj)


def as_list(items: collections.abc.Sequence[Obj]) -> Obj:
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": list(items)}


def serialized(obj: object, *, output: str) -> str:
    """JSON or YAML with non-ASCII escaped (\\uXXXX), so no control or bidi character reaches a terminal."""
    if output == "json":
        return json.dumps(obj, indent=4, ensure_ascii=True) + "\n"
    return yaml.safe_dump(obj, sort_keys=False, allow_unicode=False, default_flow_style=False)


# --- pod -----------------------------------------------------------------------------------------------


def _tmp_lines(value: object) -> list[str]:
    tmp, note = _section(value)
    if tmp is None:
        return [_unknown(note)]
    backing = tmp.get("backing") or "?"
    where = f"{tmp.get('fstype') or '?'} {tmp.get('source') or '?'} on {tmp.get('mountPoint') or '?'}"
    counts = tmp.get("countsAgainstMemoryLimit")
    counts_word = yes_no(counts, yes="yes (memory-backed)", no="no (disk-backed)")
    lines = [
        f"{backing}  ({where})",
        f"{fmt_bytes(tmp.get('usedBytes'))} used of {fmt_bytes(tmp.get('sizeBytes'))}; "
        f"counts against the memory limit: {counts_word}",
    ]
    if note:
        lines.extend(_not_known(note))
    return lines


def _memory_lines(value: object) -> list[str]:
    memory, note = _section(value)
    if memory is None:
        return [_unknown(note)]
    active, inactive = memory.get("activeFile"), memory.get("inactiveFile")
    cache = active + inactive if isinstance(active, int) and isinstance(inactive, int) else None
    lines = [
        f"anon {fmt_bytes(memory.get('anon'))}   cache {fmt_bytes(cache)} (active {fmt_bytes(active)}, "
        f"inactive {fmt_bytes(inactive)})   shmem {fmt_bytes(memory.get('shmem'))}",
        f"working set {fmt_bytes(memory.get('workingSet'))} (what kubectl top shows)   usage "
        f"{fmt_bytes(memory.get('usage'))}   limit {fmt_limit(memory.get('limit'))}",
    ]
    explanation = memory.get("explanation")
    if explanation:
        lines.extend(_wrap(f"why: {explanation}", indent=0, width=_BODY))
    if note:
        lines.extend(_not_known(note))
    return lines


def _namespace_lines(value: object) -> list[str]:
    if isinstance(value, dict):
        return [_unknown(str(value.get("unknown") or "") or None)]
    if not isinstance(value, list):
        return [_unknown(None)]
    by_type = {entry.get("type"): entry for entry in value if isinstance(entry, dict)}
    order = [t for t in _NAMESPACE_TYPES if t in by_type] + sorted(
        str(t) for t in by_type if t not in _NAMESPACE_TYPES
    )
    rows = [["TYPE", "SHARING", "SHARED WITH"]]
    for ns_type in order:
        entry = by_type.get(ns_type) or by_type.get(str(ns_type)) or {}
        sharing = entry.get("sharing") or "?"
        others = entry.get("sharedWith") or []
        rows.append(
            [str(ns_type), _SHARING_WORDS.get(sharing, str(sharing)), ", ".join(map(str, others)) or "-"]
        )
    return format_rows(rows, gap=2).splitlines()


def _identity_lines(value: object) -> list[str]:
    identity, note = _section(value)
    if identity is None:
        return [_unknown(note)]
    root_host = identity.get("rootHostUid")
    if root_host is None:
        root_words = "container root is not mapped on the node" if "rootHostUid" not in (note or "") else "?"
    else:
        root_words = f"container root is host uid {root_host}"
    mode = identity.get("usernsMode")
    uid, gid = identity.get("uid"), identity.get("gid")
    first = f"uid {'?' if uid is None else uid}, gid {'?' if gid is None else gid}"
    if identity.get("privileged"):
        first += "; privileged (every capability the node grants)"
    lines = [
        first,
        f"{root_words}; user namespace: {_USERNS_WORDS.get(str(mode), str(mode) if mode else '?')}",
    ]
    caps = identity.get("capabilities")
    if isinstance(caps, list):
        head = f"capabilities ({len(caps)}): " if caps else "capabilities: none"
        body = ", ".join(str(c) for c in caps)
        wrapped = _wrap(head + body, indent=2, width=_BODY)
        lines.extend([wrapped[0].lstrip(), *wrapped[1:]])
    elif identity.get("capEffHex"):
        lines.append(f"capabilities: CapEff {identity['capEffHex']}")
    if note:
        lines.extend(_not_known(note))
    return lines


def _root_lines(value: object) -> list[str]:
    root, note = _section(value)
    if root is None:
        return [_unknown(note)]
    kind = root.get("kind")
    words = _ROOT_WORDS.get(str(kind), str(kind) if kind else "?")
    lines = [words]
    if root.get("explanation") and kind != "host":
        lines.extend(_wrap(str(root["explanation"]), indent=0, width=_BODY))
    return lines


def cpu_limit(cores: object) -> str:
    if cores is None:
        return "unlimited"
    if isinstance(cores, bool) or not isinstance(cores, int | float):
        return "?"
    return f"{cores * 100:.0f}% ({cores:g} cores)"


def _cgroup_lines(value: object) -> list[str]:
    cgroup, note = _section(value)
    if cgroup is None:
        return [_unknown(note)]
    pids = cgroup.get("pidsLimit")
    memory_limit = cgroup.get("memoryLimitBytes")
    line = (
        f"v{cgroup.get('version', '?')}; CPU {cpu_limit(cgroup.get('cpuQuotaCores'))}; memory "
        f"{'unlimited' if memory_limit is None else fmt_bytes(memory_limit)}; pids "
        f"{'unlimited' if pids is None else pids}"
    )
    return [line] + (_not_known(note) if note else [])


def _plural(count: object, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _ipc_lines(value: object) -> list[str]:
    ipc, note = _section(value)
    if ipc is None:
        return [_unknown(note)]
    line = (
        f"{_plural(ipc.get('shmSegments', '?'), 'shm segment')} ({fmt_bytes(ipc.get('shmBytes'))}), "
        f"{_plural(ipc.get('msgQueues', '?'), 'message queue')}, "
        f"{_plural(ipc.get('semaphoreSets', '?'), 'semaphore set')}"
    )
    return [line] + (_not_known(note) if note else [])


def _container_block(container: Obj) -> list[str]:
    name = container.get("name") or "?"
    cid = str(container.get("containerID") or "")
    runtime, _, digest = cid.partition("://")
    ident = f"{runtime}://{digest[:12]}" if digest else (cid or "?")
    facts = [ident]
    if container.get("pid") is not None:
        facts.append(f"pid {container['pid']}")
    if container.get("processCount") is not None:
        facts.append(_plural(container["processCount"], "process").replace("processs", "processes"))
    if container.get("qosClass"):
        facts.append(f"QoS {container['qosClass']}")
    lines = [f"Container {name}", *_labelled("id", [", ".join(facts)])]
    lines += _labelled("/tmp", _tmp_lines(container.get("tmp")))
    lines += _labelled("Memory", _memory_lines(container.get("memory")))
    lines += _labelled("Namespaces", _namespace_lines(container.get("namespaces")))
    lines += _labelled("Identity", _identity_lines(container.get("identity")))
    lines += _labelled("Root", _root_lines(container.get("root")))
    lines += _labelled("Cgroup", _cgroup_lines(container.get("cgroup")))
    lines += _labelled("IPC", _ipc_lines(container.get("ipc")))
    return lines


def findings_lines(items: object, *, color: bool) -> list[str]:
    if not isinstance(items, list) or not items:
        return ["Findings: none"]
    ordered = sorted(
        (f for f in items if isinstance(f, dict)), key=lambda f: severity_rank(f.get("severity"))
    )
    lines = [f"Findings ({len(ordered)})"]
    for finding in ordered:
        severity = str(finding.get("severity") or "?")
        code = str(finding.get("code") or "?")
        head = f"  {paint(severity.upper().ljust(9), severity, color=color)} {code}"
        if finding.get("container"):
            head += f"  (container {finding['container']})"
        lines.append(head)
        if finding.get("message"):
            lines.extend(_wrap(str(finding["message"]), indent=12))
        remedy = finding.get("remedy") or getattr(findings.CATALOGUE.get(code), "remedy", "")
        if remedy:
            lines.extend(_wrap(f"remedy: {remedy}", indent=12))
    return lines


def _summary_line(summary: object) -> str | None:
    if not isinstance(summary, dict) or not summary:
        return None
    count = summary.get("findings", 0)
    worst = summary.get("worstSeverity")
    finding_words = _plural(count, "finding") + (f" (worst {worst})" if count and worst else "")
    root = yes_no(summary.get("rootInHostUserns"))
    return (
        f"/tmp {summary.get('tmp', '?')}; working set {fmt_bytes(summary.get('workingSetBytes'))}, cache "
        f"{fmt_bytes(summary.get('cacheBytes'))}, shmem {fmt_bytes(summary.get('shmemBytes'))}; host "
        f"namespaces {summary.get('hostNamespaces') or '-'}; root in host userns {root}; {finding_words}"
    )


def freshness_words(fresh: diagnose.Freshness, *, color: bool) -> str:
    """'current: agent heartbeat 1m ago (every 5m)' or a STALE sentence, from a diagnose.Freshness."""
    if fresh.age_seconds is None:
        return f"unknown (no {fresh.basis} time)"
    when = f"{fresh.basis} {diagnose.human_duration(fresh.age_seconds)} ago"
    if fresh.interval_seconds is None:
        return f"unknown: {when}, interval not reported"
    every = diagnose.human_duration(fresh.interval_seconds)
    if fresh.stale:
        return paint(
            f"STALE: {when}, more than {diagnose.STALE_INTERVALS} intervals of {every}", "warn", color=color
        )
    return f"current: {when} (every {every})"


def stale_warning(kind: str, name: str, fresh: diagnose.Freshness) -> str:
    age_words = "?" if fresh.age_seconds is None else diagnose.human_duration(fresh.age_seconds)
    interval = "?" if fresh.interval_seconds is None else diagnose.human_duration(fresh.interval_seconds)
    return (
        f"Warning: the {kind} report for {escape.text(name)} is stale: {fresh.basis} {age_words} ago, more "
        f"than {diagnose.STALE_INTERVALS} intervals of {interval}. The nsprobe agent on its node may be "
        "down; the figures may be out of date."
    )


def pod_report(
    probe: Obj,
    *,
    now: datetime.datetime,
    fresh: diagnose.Freshness | None = None,
    pod: Obj | None = None,
    color: bool = False,
) -> str:
    """The `kubectl nsprobe pod NAME` report: header, one block per container, then findings.

    `fresh` says whether the report is current (diagnose.pod_probe_freshness with the node's NodeProbe);
    without it the report's own observedAt and scan interval decide.
    """
    fresh = fresh or diagnose.pod_probe_freshness(probe, now=now)
    probe = escape.deep(probe)
    pod = escape.deep(pod) if pod is not None else None
    metadata = probe.get("metadata") or {}
    status = probe.get("status") or {}
    header = [
        ("Pod", f"{metadata.get('namespace', '?')}/{metadata.get('name', '?')}"),
        ("Node", status.get("nodeName") or ((pod or {}).get("spec") or {}).get("nodeName") or "?"),
    ]
    if pod is not None:
        header.append(("Phase", (pod.get("status") or {}).get("phase") or "?"))
    observed = status.get("observedAt")
    observed_age = age(observed, now=now)
    header.append(("Observed", f"{observed} ({observed_age} ago)" if observed else "never"))
    header.append(("Freshness", freshness_words(fresh, color=color)))
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict):
            header.append(
                (
                    "Condition",
                    f"{condition.get('type', '?')}={condition.get('status', '?')} "
                    f"{condition.get('reason', '')}: {condition.get('message', '')}".rstrip(": "),
                )
            )
    summary = _summary_line(status.get("summary"))
    if summary:
        header.append(("Summary", summary))
    lines = []
    for label, value in header:
        lines.extend(_wrap(str(value), indent=_LABEL, first=f"{label}:"))
    containers = [c for c in status.get("containers") or [] if isinstance(c, dict)]
    if not containers:
        lines += ["", "No containers reported."]
    for container in containers:
        lines += ["", *(_paint_first(_container_block(container), color=color))]
    lines += ["", *findings_lines(status.get("findings"), color=color)]
    return "\n".join(lines) + "\n"


def _paint_first(lines: list[str], *, color: bool) -> list[str]:
    return [paint(lines[0], "bold", color=color), *lines[1:]] if lines else lines


# --- pods ------------------------------------------------------------------------------------------------


def _sum_limits(containers: list[Obj]) -> str:
    limits = []
    for container in containers:
        memory = container.get("memory") or {}
        limit = memory.get("limit") if isinstance(memory, dict) else None
        if limit is None:
            return "none"
        limits.append(limit)
    return fmt_bytes(sum(limits)) if limits else "-"


def _sum_cpu(containers: list[Obj]) -> str:
    total = 0.0
    for container in containers:
        cgroup = container.get("cgroup") or {}
        cores = cgroup.get("cpuQuotaCores") if isinstance(cgroup, dict) else None
        if not isinstance(cores, int | float):
            return "none"
        total += cores
    return f"{total * 100:.0f}%" if containers else "-"


def _worst_code(items: object) -> str:
    if not isinstance(items, list) or not items:
        return "-"
    worst = min((f for f in items if isinstance(f, dict)), key=lambda f: severity_rank(f.get("severity")))
    return str(worst.get("code") or "?")


def _findings_cell(summary: Obj, items: object) -> str:
    count = summary.get("findings")
    if not isinstance(count, int):
        count = len(items) if isinstance(items, list) else 0
    worst = summary.get("worstSeverity")
    if not count:
        return "0"
    return f"{count} ({worst})" if worst and worst != "none" else str(count)


class PodRow(typing.NamedTuple):
    """A pods-table row: the PodProbe (None when the pod has none) and the Pod (None when not listed)."""

    probe: Obj | None
    pod: Obj | None
    fresh: diagnose.Freshness | None = None  # None: judged from the report's own observedAt


def pod_row(
    row: PodRow, *, now: datetime.datetime, wide: bool, all_namespaces: bool
) -> tuple[list[str], str | None]:
    """One table row and the style of its FINDINGS cell (the worst severity), from escaped objects."""
    probe = row.probe or {}
    metadata = probe.get("metadata") or (row.pod or {}).get("metadata") or {}
    status = probe.get("status") or {}
    summary: Obj = status["summary"] if isinstance(status.get("summary"), dict) else {}
    containers = [c for c in status.get("containers") or [] if isinstance(c, dict)]
    cells = [str(metadata.get("namespace", "?"))] if all_namespaces else []
    cells.append(str(metadata.get("name", "?")))
    style = None
    if not diagnose.has_report(row.probe):
        cells += [_NO_REPORT, "-", "-", "-", "-", "-", "-"]
    else:
        root = summary.get("rootInHostUserns")
        cells += [
            str(summary.get("tmp") or "?"),
            fmt_bytes(summary.get("workingSetBytes")),
            fmt_bytes(summary.get("cacheBytes")),
            fmt_bytes(summary.get("shmemBytes")),
            str(summary.get("hostNamespaces") or "-"),
            yes_no(root),
            _findings_cell(summary, status.get("findings")),
        ]
        worst = summary.get("worstSeverity")
        style = worst if worst in SEVERITIES and summary.get("findings") else None
    cells.append(age((row.probe or row.pod or {}).get("metadata", {}).get("creationTimestamp"), now=now))
    if wide:
        node = status.get("nodeName") or ((row.pod or {}).get("spec") or {}).get("nodeName") or "-"
        if diagnose.has_report(row.probe):
            fresh = row.fresh or diagnose.pod_probe_freshness(probe, now=now)
            observed = status.get("observedAt")
            reported = age(observed, now=now) + " ago" if observed else "-"
            if fresh.stale:
                reported += " (stale)"
            anon = sum(
                int((c.get("memory") or {}).get("anon") or 0)
                for c in containers
                if isinstance(c.get("memory"), dict)
            )
            cells += [
                str(node),
                fmt_bytes(anon),
                _sum_limits(containers),
                _sum_cpu(containers),
                _worst_code(status.get("findings")),
                reported,
            ]
        else:
            cells += [str(node), "-", "-", "-", "-", "never"]
    return cells, style


POD_COLUMNS = [
    "NAME",
    "TMP",
    "WORKING-SET",
    "CACHE",
    "SHMEM",
    "HOST-NS",
    "ROOT-IN-HOST-USERNS",
    "FINDINGS",
    "AGE",
]
POD_WIDE_COLUMNS = ["NODE", "ANON", "LIMIT", "CPU", "WORST-FINDING", "REPORTED"]


def pods_table(
    rows: collections.abc.Sequence[PodRow],
    *,
    now: datetime.datetime,
    wide: bool = False,
    all_namespaces: bool = False,
    headers: bool = True,
    color: bool = False,
) -> str:
    """`kubectl nsprobe pods`: one row per pod, kubectl-style columns."""
    header = (["NAMESPACE"] if all_namespaces else []) + POD_COLUMNS + (POD_WIDE_COLUMNS if wide else [])
    table: list[list[str]] = [header] if headers else []
    styles: list[str | None] = [None] if headers else []
    for row in rows:
        safe = PodRow(
            probe=escape.deep(row.probe) if row.probe is not None else None,
            pod=escape.deep(row.pod) if row.pod is not None else None,
            fresh=row.fresh,
        )
        cells, style = pod_row(safe, now=now, wide=wide, all_namespaces=all_namespaces)
        table.append(cells)
        styles.append(style)
    text = format_rows(table)
    if not color:
        return text
    column = header.index("FINDINGS")
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    out = []
    for line, cells, style in zip(text.splitlines(), table, styles, strict=True):
        if style is None:
            out.append(line)
            continue
        start = sum(w + 3 for w in widths[:column])
        cell = cells[column]
        out.append(line[:start] + paint(cell, style, color=True) + line[start + len(cell) :])
    return "\n".join(out) + "\n"


# --- node ------------------------------------------------------------------------------------------------


def _free_lines(value: object) -> list[str]:
    mem, note = _section(value)
    if mem is None:
        return [_unknown(note)]
    total, free, available = mem.get("memTotal"), mem.get("memFree"), mem.get("memAvailable")
    cached, shmem, buffers = mem.get("cached"), mem.get("shmem"), mem.get("buffers")
    rows = [
        ["MemTotal", fmt_bytes(total), "all usable RAM"],
        ["MemFree", fmt_bytes(free), "not used for anything (what free calls 'free')"],
        ["MemAvailable", fmt_bytes(available), "what new workloads can get without swapping"],
        ["Buffers", fmt_bytes(buffers), "block-device cache"],
        ["Cached", fmt_bytes(cached), "page cache, mostly reclaimable; includes Shmem"],
        ["Shmem", fmt_bytes(shmem), "tmpfs and shared memory: in Cached, but NOT reclaimable"],
    ]
    lines = format_rows(rows, gap=2).splitlines()
    numbers = [free, available, cached, shmem]
    if all(isinstance(n, int) for n in numbers):
        assert isinstance(free, int) and isinstance(available, int)
        assert isinstance(cached, int) and isinstance(shmem, int)
        reclaimable = max(cached - shmem, 0)
        lines.extend(
            _wrap(
                f"answer: MemAvailable exceeds MemFree by {fmt_bytes(max(available - free, 0))}, mostly page "
                f"cache the kernel reclaims on demand ({fmt_bytes(reclaimable)} of Cached is reclaimable). "
                f"Shmem {fmt_bytes(shmem)} (tmpfs, shm) sits in Cached but cannot be reclaimed while its "
                "files exist.",
                indent=0,
                width=_BODY,
            )
        )
    if note:
        lines.extend(_not_known(note))
    return lines


def _node_tmp_lines(value: object) -> list[str]:
    tmp, note = _section(value)
    if tmp is None:
        return [_unknown(note)]
    return [
        f"{tmp.get('backing') or '?'}  ({tmp.get('fstype') or '?'} {tmp.get('source') or '?'} on "
        f"{tmp.get('mountPoint') or '?'})",
        f"{fmt_bytes(tmp.get('usedBytes'))} used of {fmt_bytes(tmp.get('sizeBytes'))}; memory-backed: "
        f"{yes_no(tmp.get('countsAgainstMemoryLimit'))}",
    ] + (_not_known(note) if note else [])


def _agent_lines(status: Obj, fresh: diagnose.Freshness, *, now: datetime.datetime, color: bool) -> list[str]:
    last: Obj = status["lastScan"] if isinstance(status.get("lastScan"), dict) else {}
    line = f"version {status.get('agentVersion') or '?'}"
    for key, words in (("scanIntervalSeconds", "scans every"), ("heartbeatSeconds", "heartbeat every")):
        seconds = status.get(key)
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            line += f"; {words} {diagnose.human_duration(seconds)}"
    lines = [line]
    errors_count = last.get("errors")
    if last:
        when = last.get("time")
        ago = f" ({age(when, now=now)} ago)" if when else ""
        duration = last.get("durationSeconds")
        took = f", took {duration * 1000:.1f} ms" if isinstance(duration, int | float) else ""
        lines.append(
            f"last scan {when or '?'}{ago}{took}, {_plural(last.get('errors', '?'), 'error')}, "
            f"{_plural(last.get('containers', '?'), 'container')}"
        )
    if fresh.stale or fresh.age_seconds is None or fresh.interval_seconds is None:
        health = freshness_words(fresh, color=color)
    elif isinstance(errors_count, int) and errors_count > 0:
        health = paint("scanning, with read errors in the last scan", "medium", color=color)
    else:
        assert fresh.interval_seconds is not None and fresh.age_seconds is not None
        health = paint("healthy", "ok", color=color) + (
            f": {fresh.basis} {diagnose.human_duration(fresh.age_seconds)} ago "
            f"(every {diagnose.human_duration(fresh.interval_seconds)})"
        )
    lines.append(f"health: {health}")
    return lines


def node_report(node_probe: Obj, *, now: datetime.datetime, color: bool = False) -> str:
    """The `kubectl nsprobe node NAME` report: the free -w answer, node /tmp, kernel, agent health."""
    fresh = diagnose.node_probe_freshness(node_probe, now=now)
    node_probe = escape.deep(node_probe)
    status = node_probe.get("status") or {}
    name = (node_probe.get("metadata") or {}).get("name", "?")
    lines = [paint(f"Node {name}", "bold", color=color)]
    userns = status.get("usernsSupported")
    userns_words = yes_no(userns, yes="supported", no="NOT supported")
    if userns and status.get("maxUserNamespaces") is not None:
        userns_words += f" (max {status['maxUserNamespaces']})"
    lines += _labelled("Kernel", [str(status.get("kernelRelease") or "unknown")])
    lines += _labelled("Cgroup", [f"layout {status.get('cgroupLayout') or 'unknown'}"])
    lines += _labelled("User ns", [userns_words])
    lines += _labelled("Memory", _free_lines(status.get("meminfo")))
    lines += _labelled("/tmp", _node_tmp_lines(status.get("tmp")))
    lines += _labelled("Agent", _agent_lines(status, fresh, now=now, color=color))
    for condition in status.get("conditions") or []:
        if isinstance(condition, dict):
            lines += _labelled(
                "Condition",
                [
                    f"{condition.get('type')}={condition.get('status')} {condition.get('reason', '')}: "
                    f"{condition.get('message', '')}".rstrip(": ")
                ],
            )
    if isinstance(status.get("unknown"), str):
        lines += _labelled("Not known", [status["unknown"]])
    return "\n".join(lines) + "\n"


# --- explain ---------------------------------------------------------------------------------------------


def explain_list(*, headers: bool = True, color: bool = False) -> str:
    rows = [["CODE", "SEVERITY", "TITLE"]] if headers else []
    infos = sorted(findings.CATALOGUE.values(), key=lambda i: (severity_rank(i.severity), i.code))
    rows += [[i.code, i.severity, i.title] for i in infos]
    text = format_rows(rows)
    if color:
        for info in infos:
            text = text.replace(
                f"   {info.severity}", f"   {paint(info.severity, info.severity, color=True)}", 1
            )
    hint = "" if not headers else "\nRun 'kubectl nsprobe explain CODE' for the explanation and remedy.\n"
    return text + hint


def explain_code(info: findings.CodeInfo, *, color: bool = False) -> str:
    lines = [
        f"{paint(info.code, 'bold', color=color)}  ({paint(info.severity, info.severity, color=color)})",
        info.title,
        "",
        *textwrap.wrap(info.explanation, width=WIDTH),
        "",
        *textwrap.wrap(f"Remedy: {info.remedy}", width=WIDTH),
    ]
    return "\n".join(lines) + "\n"


def explain_object(info: findings.CodeInfo) -> Obj:
    return {
        "code": info.code,
        "severity": info.severity,
        "title": info.title,
        "explanation": info.explanation,
        "remedy": info.remedy,
    }
