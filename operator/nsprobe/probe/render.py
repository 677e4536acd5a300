"""Text rendering of a scan for `nsprobe scan` (table and wide); pure functions from reports to strings."""

from __future__ import annotations

import collections.abc

from nsprobe.probe import assemble, model

_SEVERITY_ORDER: tuple[model.Severity, ...] = ("critical", "high", "medium", "low", "info")


def table(result: model.ScanResult, *, wide: bool = False, headers: bool = True) -> str:
    header = [
        "NAME",
        "POD-UID",
        "PID",
        "TMP",
        "WORKING-SET",
        "CACHE",
        "SHMEM",
        "HOST-NS",
        "USERNS",
        "ROOT->HOST",
        "FINDINGS",
    ]
    if wide:
        header += ["ANON", "LIMIT", "CPU", "ROOT", "IPC-SHM", "PROCS", "CONTAINER-ID"]
    rows = [header] if headers else []
    for report in result.containers:
        rows.append(_row(report, wide=wide))
    return format_rows(rows)


def _row(report: model.ContainerReport, *, wide: bool) -> list[str]:
    ref = report.ref
    mem = report.memory
    row = [
        ref.display_name,
        (ref.pod_uid or "-")[:8],
        str(report.pid),
        _tmp(report.tmp),
        _mem(mem, "working_set"),
        _cache(mem),
        _mem(mem, "shmem"),
        _host_ns(report.namespaces),
        _identity(report.identity, "userns_mode"),
        _root_uid(report.identity),
        summarize_findings(report.findings),
    ]
    if wide:
        cgroup = report.cgroup
        row += [
            _mem(mem, "anon"),
            _limit(mem),
            _cpu(cgroup),
            report.root.kind if isinstance(report.root, model.RootReport) else "unknown",
            f"{report.ipc.shm_segments}/{assemble.fmt_bytes(report.ipc.shm_bytes)}"
            if isinstance(report.ipc, model.IpcReport)
            else "unknown",
            str(report.process_count),
            ref.container_id or "-",
        ]
    return row


def format_rows(rows: collections.abc.Sequence[collections.abc.Sequence[str]]) -> str:
    if not rows:
        return ""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def summarize_findings(items: collections.abc.Sequence[model.Finding]) -> str:
    if not items:
        return "-"
    worst = min(items, key=lambda f: _SEVERITY_ORDER.index(f.severity))
    return f"{len(items)} ({worst.code})"


def _tmp(tmp: model.TmpReport | model.Unknown) -> str:
    return tmp.backing if isinstance(tmp, model.TmpReport) else "unknown"


def _mem(mem: model.MemoryReport | model.Unknown, field: str) -> str:
    if isinstance(mem, model.Unknown):
        return "unknown"
    value = getattr(mem, field)
    assert isinstance(value, int)
    return assemble.fmt_bytes(value)


def _cache(mem: model.MemoryReport | model.Unknown) -> str:
    if isinstance(mem, model.Unknown):
        return "unknown"
    return assemble.fmt_bytes(mem.active_file + mem.inactive_file)


def _limit(mem: model.MemoryReport | model.Unknown) -> str:
    if isinstance(mem, model.Unknown):
        return "unknown"
    return assemble.fmt_bytes(mem.limit) if mem.limit is not None else "none"


def _cpu(cgroup: model.CgroupReport | model.Unknown) -> str:
    if isinstance(cgroup, model.Unknown):
        return "unknown"
    if cgroup.cpu_quota_cores is None:
        return "none"
    return f"{cgroup.cpu_quota_cores * 100:.0f}%"


def _host_ns(namespaces: tuple[model.NamespaceReport, ...] | model.Unknown) -> str:
    if isinstance(namespaces, model.Unknown):
        return "unknown"
    shared = [ns.type for ns in namespaces if ns.sharing == "host"]
    return ",".join(shared) if shared else "-"


def _identity(identity: model.IdentityReport | model.Unknown, field: str) -> str:
    if isinstance(identity, model.Unknown):
        return "unknown"
    return str(getattr(identity, field))


def _root_uid(identity: model.IdentityReport | model.Unknown) -> str:
    if isinstance(identity, model.Unknown):
        return "unknown"
    return "unmapped" if identity.root_host_uid is None else str(identity.root_host_uid)


def describe_node(node: model.NodeReport) -> str:
    """A short header for the table: the `free -w` answer and the node's own /tmp."""
    parts = []
    if isinstance(node.kernel_release, str):
        parts.append(f"kernel {node.kernel_release}")
    parts.append(f"cgroup {node.cgroup_layout}")
    if isinstance(node.meminfo, model.MemInfoReport):
        m = node.meminfo
        parts.append(
            f"MemFree {assemble.fmt_bytes(m.mem_free)}, MemAvailable {assemble.fmt_bytes(m.mem_available)}, "
            f"Cached {assemble.fmt_bytes(m.cached)} (of it Shmem {assemble.fmt_bytes(m.shmem)})"
        )
    if isinstance(node.tmp, model.TmpReport):
        parts.append(f"node /tmp {node.tmp.backing} ({node.tmp.fstype})")
    return "# " + "; ".join(parts) + "\n"
