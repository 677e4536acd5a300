"""Node facts as metrics: the latest scan snapshot as fresh families; fed by the agent and the exporter.

The agent (nsprobe.agent) and the exporter (metrics.exporter) build a ``Snapshot`` after each scan and
hand it to ``SnapshotCollector.update``; a registry's scrape calls ``collect``, and metrics.server's
/metrics reads ``exposition``, the same families as text. Nothing here reads the host. Rules every
family follows:

- Labels are ``namespace``, ``pod``, ``container``, ``node`` plus a bounded word (``kind``, ``type``,
  ``backing``, ``fstype``, ``code``, ``severity``, ``collector``). Never pids, paths, images or free text.
- A section the probe could not read (``model.Unknown``) produces no series, never a fake 0, and turns
  ``nsprobe_collector_success{collector=<section>}`` to 0. A section that vanished with its process
  (pod churn) is no failure. A collector switched off (``Unknown("disabled")``) has no success series,
  as node_exporter does for disabled collectors.
- "Unlimited" (no memory limit, no CPU quota) and "uid 0 unmapped" have no series either: 0 would read
  as a real limit or a real uid.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import operator
import re

from prometheus_client import core, registry, utils

from nsprobe.probe import model

CONTAINER_LABELS = ("namespace", "pod", "container", "node")
MEMORY_KINDS = ("anon", "file", "active_file", "inactive_file", "shmem", "mapped_file", "usage")
NODE_MEMORY_KINDS = ("mem_total", "mem_free", "mem_available", "cached", "shmem", "buffers")
# Sections of a ContainerReport, each reported by nsprobe_collector_success; "meminfo" is the node's.
COLLECTORS = ("tmp", "memory", "namespaces", "identity", "root", "cgroup", "ipc", "meminfo")
# Reasons that mean "the process went away while being read": churn, not a broken collector.
_CHURN_REASONS = frozenset({"vanished"})
_DISABLED_REASON = "disabled"
# fstype comes from mountinfo, where a FUSE subtype ("fuse.<anything>") is chosen by whoever mounts it.
_FSTYPE_RE = re.compile(r"[A-Za-z0-9._-]{1,32}")


@dataclasses.dataclass(frozen=True)
class ContainerName:
    """The Kubernetes names of one container, as the agent learns them from the API (or a fallback)."""

    namespace: str
    pod: str
    container: str


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """One scan, ready to export: the node name, the scan, and names by ``ContainerRef.key``."""

    node: str
    result: model.ScanResult
    names: collections.abc.Mapping[str, ContainerName]


def name_from_probe(ref: model.ContainerRef) -> ContainerName:
    """Names without a cluster (exporter mode, or a container the agent has not matched to a pod yet).

    namespace is empty (Prometheus treats it as absent), pod is the pod UID from the cgroup path, and
    container is the container id's first 12 characters (as `crictl ps` shows it). A namespace-set group
    (no kubepods cgroups) has no pod, and its container is the group key ("nsset-<hash>"), never the
    process's comm, which any process can set to any text.
    """
    container = ref.container_id[:12] if ref.container_id else ref.key
    return ContainerName(namespace="", pod=ref.pod_uid or "", container=container)


def fstype_label(fstype: str) -> str:
    """fstype as a bounded label: kernel filesystem names pass, anything else is "other"."""
    return fstype if _FSTYPE_RE.fullmatch(fstype) else "other"


def label_value(text: str) -> str:
    """A label value that always encodes: probe text is decoded with surrogateescape, and a lone surrogate
    would make the whole /metrics response fail to encode. Escaping quotes, backslashes and newlines is
    client_python's job."""
    if text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def _failed(unknown: model.Unknown) -> bool:
    word = unknown.reason.split(":", 1)[0].strip()
    return word not in _CHURN_REASONS and word != _DISABLED_REASON


def _disabled(unknown: model.Unknown) -> bool:
    return unknown.reason.strip() == _DISABLED_REASON


class _Family:
    """One gauge family's rows. Both outputs come from these rows, so they can't disagree: ``metric()``
    for client_python registries, ``text()`` for the fast /metrics path."""

    __slots__ = ("documentation", "labels", "name", "rows")

    def __init__(self, name: str, documentation: str, *, labels: collections.abc.Sequence[str]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = tuple(labels)
        self.rows: list[tuple[tuple[str, ...], float]] = []

    def add_metric(self, values: tuple[str, ...], value: float) -> None:
        self.rows.append((values, value))

    def metric(self) -> core.Metric:
        family = core.GaugeMetricFamily(self.name, self.documentation, labels=list(self.labels))
        for values, value in self.rows:
            family.add_metric(list(values), value)
        return family

    def text(self, out: list[str], formatted: dict[float, str]) -> None:
        """Append exactly what client_python's generate_latest writes for ``metric()`` (text format 0.0.4):
        HELP, TYPE, then one line per row with label names sorted. Rows must hold escaped label values
        (``_fill(..., escape=True)``); ``formatted`` caches value strings, mostly 0 and 1, across families."""
        out.append(f"# HELP {self.name} {_escape_help(self.documentation)}\n# TYPE {self.name} gauge\n")
        order = sorted(range(len(self.labels)), key=self.labels.__getitem__)
        template = self.name + "{" + ",".join(f'{self.labels[i]}="%s"' for i in order) + "} %s\n"
        # itemgetter reorders in C; with one index it returns the item itself, hence the wrapper.
        pick = operator.itemgetter(*order) if len(order) > 1 else (lambda values: (values[order[0]],))
        for values, value in self.rows:
            number = formatted.get(value)
            if number is None:
                number = formatted[value] = _float_to_go_string(value)
            out.append(template % (*pick(values), number))


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_label_value(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _float_to_go_string(value: float) -> str:
    convert: collections.abc.Callable[[float], str] = utils.floatToGoString
    return convert(value)


class _Families:
    """Every family this collector yields, created empty; ``add_metric`` calls fill them for one snapshot."""

    def __init__(self) -> None:
        c = list(CONTAINER_LABELS)
        gauge = _Family
        self.memory = gauge(
            "nsprobe_container_memory_bytes", "cgroup memory by kind (memory.stat).", labels=[*c, "kind"]
        )
        self.working_set = gauge(
            "nsprobe_container_working_set_bytes", "usage - inactive_file: what kubectl top shows.", labels=c
        )
        self.memory_limit = gauge(
            "nsprobe_container_memory_limit_bytes", "cgroup memory limit; absent when unlimited.", labels=c
        )
        self.tmp_info = gauge(
            "nsprobe_container_tmp_info", "What backs the container's /tmp.", labels=[*c, "backing", "fstype"]
        )
        self.tmp_used = gauge(
            "nsprobe_container_tmp_used_bytes", "Bytes used on the /tmp filesystem.", labels=c
        )
        self.tmp_size = gauge("nsprobe_container_tmp_size_bytes", "Size of the /tmp filesystem.", labels=c)
        self.tmp_counts = gauge(
            "nsprobe_container_tmp_counts_against_memory",
            "1 when /tmp is memory-backed and charged to the memory cgroup.",
            labels=c,
        )
        self.host_namespace = gauge(
            "nsprobe_container_host_namespace",
            "1 when this namespace type is the host's.",
            labels=[*c, "type"],
        )
        self.root_in_host_userns = gauge(
            "nsprobe_container_root_in_host_userns",
            "1 when the container runs as uid 0 in the host's user namespace.",
            labels=c,
        )
        self.root_host_uid = gauge(
            "nsprobe_container_root_host_uid",
            "Host uid that container uid 0 maps to; absent when uid 0 is unmapped.",
            labels=c,
        )
        self.userns_root_maps = gauge(
            "nsprobe_container_userns_root_maps_to_host_root",
            "1 when a private user namespace maps its uid 0 to host uid 0.",
            labels=c,
        )
        self.finding = gauge(
            "nsprobe_container_finding",
            "One series per finding on the container.",
            labels=[*c, "code", "severity"],
        )
        self.cpu_quota = gauge(
            "nsprobe_container_cpu_quota_cores", "CPU quota in cores; absent when unlimited.", labels=c
        )
        self.privileged = gauge(
            "nsprobe_container_privileged",
            "1 when the container holds every capability of the node.",
            labels=c,
        )
        self.chroot_only = gauge(
            "nsprobe_container_chroot_only", "1 when the root is a chroot only (escapable).", labels=c
        )
        self.ipc_shm = gauge(
            "nsprobe_container_ipc_shm_bytes",
            "Bytes in SysV shared memory segments of its IPC namespace.",
            labels=c,
        )
        self.node_memory = gauge(
            "nsprobe_node_memory_bytes",
            "The node's /proc/meminfo (the free -w question).",
            labels=["node", "kind"],
        )
        self.last_scan = gauge(
            "nsprobe_last_scan_timestamp_seconds", "Unix time of the scan being exported.", labels=["node"]
        )
        self.collector_success = gauge(
            "nsprobe_collector_success",
            "1 when every fact of this collector was read in the last scan.",
            labels=["node", "collector"],
        )

    def all(self) -> list[_Family]:
        return [value for value in vars(self).values() if isinstance(value, _Family)]


class SnapshotCollector(registry.Collector):
    """A client_python custom collector over the latest snapshot.

    ``collect()`` builds fresh families from the latest snapshot at each call. ``exposition()`` is the
    same data as text, for metrics.server's /metrics: ``update`` renders it once per snapshot, in the
    caller's (scan) thread, so a scrape only copies bytes however many containers the node runs.
    """

    def __init__(self) -> None:
        self._current: tuple[Snapshot, bytes] | None = None

    @property
    def snapshot(self) -> Snapshot | None:
        current = self._current
        return current[0] if current is not None else None

    def update(self, snapshot: Snapshot) -> None:
        # One reference assignment: a scrape sees the old or the new snapshot and its text, never a mix.
        self._current = (snapshot, text(snapshot))

    def describe(self) -> collections.abc.Iterable[core.Metric]:
        return [family.metric() for family in _Families().all()]

    def collect(self) -> collections.abc.Iterable[core.Metric]:
        current = self._current
        return families(current[0]) if current is not None else []

    def exposition(self) -> bytes:
        """The latest snapshot in the text format, byte for byte what generate_latest gives for it."""
        current = self._current
        return current[1] if current is not None else b""


def families(snapshot: Snapshot) -> list[core.Metric]:
    """Fresh client_python families for one snapshot (pure)."""
    return [family.metric() for family in _fill(snapshot, escape=False)]


def text(snapshot: Snapshot) -> bytes:
    """One snapshot in the Prometheus text format 0.0.4 (pure): client_python's generate_latest spends
    ~30 µs a series, too slow for 330 containers; this renders the same bytes ~10x faster."""
    out: list[str] = []
    formatted: dict[float, str] = {}
    for family in _fill(snapshot, escape=True):
        family.text(out, formatted)
    return "".join(out).encode("utf-8")


def _fill(snapshot: Snapshot, *, escape: bool) -> list[_Family]:
    """The rows of every family. The fast text path wants label values escaped once, here, rather than
    at every row; the other label values (kind, type, code, ...) are fixed words that need no escaping."""

    def clean(text: str) -> str:
        return _escape_label_value(label_value(text)) if escape else label_value(text)

    fam = _Families()
    node = clean(snapshot.node)
    failed: set[str] = set()
    ran: set[str] = {"meminfo"}
    for report in snapshot.result.containers:
        name = snapshot.names.get(report.ref.key) or name_from_probe(report.ref)
        labels = (clean(name.namespace), clean(name.pod), clean(name.container), node)
        _add_container(fam, report, labels, failed=failed, ran=ran)
    meminfo = snapshot.result.node.meminfo
    if isinstance(meminfo, model.MemInfoReport):
        values = (meminfo.mem_total, meminfo.mem_free, meminfo.mem_available, meminfo.cached, meminfo.shmem)
        for kind, value in zip(NODE_MEMORY_KINDS, (*values, meminfo.buffers), strict=True):
            fam.node_memory.add_metric((node, kind), value)
    elif _failed(meminfo):
        failed.add("meminfo")
    if not snapshot.result.containers:
        ran.update(COLLECTORS)  # nothing to read is nothing failed
    fam.last_scan.add_metric((node,), snapshot.result.scanned_at)
    for collector in COLLECTORS:
        if collector in ran:
            fam.collector_success.add_metric((node, collector), 0.0 if collector in failed else 1.0)
    return fam.all()


def _account(report: model.ContainerReport, *, failed: set[str], ran: set[str]) -> None:
    """Record which collectors ran for this container and which of them could not read their facts."""
    sections: tuple[tuple[str, object], ...] = (
        ("tmp", report.tmp),
        ("memory", report.memory),
        ("namespaces", report.namespaces),
        ("identity", report.identity),
        ("root", report.root),
        ("cgroup", report.cgroup),
        ("ipc", report.ipc),
    )
    for collector, value in sections:
        if not isinstance(value, model.Unknown):
            ran.add(collector)
            continue
        if not _disabled(value):
            ran.add(collector)
        if _failed(value):
            failed.add(collector)


def _add_container(
    fam: _Families,
    report: model.ContainerReport,
    labels: tuple[str, str, str, str],
    *,
    failed: set[str],
    ran: set[str],
) -> None:
    _account(report, failed=failed, ran=ran)
    lv: tuple[str, ...] = labels
    memory = report.memory
    cgroup = report.cgroup
    limit: int | None = None
    if isinstance(cgroup, model.CgroupReport):
        limit = cgroup.memory_limit_bytes
        if cgroup.cpu_quota_cores is not None:
            fam.cpu_quota.add_metric(lv, cgroup.cpu_quota_cores)
    if isinstance(memory, model.MemoryReport):
        values = (memory.anon, memory.file, memory.active_file, memory.inactive_file, memory.shmem)
        rows = fam.memory.rows  # the hot loop of a 330-container render: append directly
        for kind, value in zip(MEMORY_KINDS, (*values, memory.mapped_file, memory.usage), strict=True):
            rows.append(((*lv, kind), value))
        fam.working_set.add_metric(lv, memory.working_set)
        if limit is None:
            limit = memory.limit
    if limit is not None:
        fam.memory_limit.add_metric(lv, limit)
    tmp = report.tmp
    if isinstance(tmp, model.TmpReport):
        fam.tmp_info.add_metric((*lv, tmp.backing, fstype_label(tmp.fstype)), 1)
        fam.tmp_counts.add_metric(lv, 1 if tmp.counts_against_memory_limit else 0)
        # statvfs can fail on its own (e.g. a mount the agent may not enter): only those series go.
        if isinstance(tmp.used_bytes, int):
            fam.tmp_used.add_metric(lv, tmp.used_bytes)
        elif _failed(tmp.used_bytes):
            failed.add("tmp")
        if isinstance(tmp.size_bytes, int):
            fam.tmp_size.add_metric(lv, tmp.size_bytes)
        elif _failed(tmp.size_bytes):
            failed.add("tmp")
    namespaces = report.namespaces
    if not isinstance(namespaces, model.Unknown):
        # No time namespace before Linux 5.6: then no series for it, not 0.
        rows = fam.host_namespace.rows
        for ns in namespaces:
            rows.append(((*lv, ns.type), 1 if ns.sharing == "host" else 0))
    identity = report.identity
    if isinstance(identity, model.IdentityReport):
        # The same rule as the ROOT_IN_HOST_USERNS finding, so the alert and the finding agree.
        fam.root_in_host_userns.add_metric(
            lv, 1 if identity.userns_mode == "host" and identity.uid == 0 else 0
        )
        fam.userns_root_maps.add_metric(
            lv, 1 if identity.userns_mode == "private-root-mapped-to-host-root" else 0
        )
        if identity.root_host_uid is not None:
            fam.root_host_uid.add_metric(lv, identity.root_host_uid)
        fam.privileged.add_metric(lv, 1 if identity.privileged else 0)
    root = report.root
    if isinstance(root, model.RootReport):
        fam.chroot_only.add_metric(lv, 1 if root.kind == "chroot" else 0)
    ipc = report.ipc
    if isinstance(ipc, model.IpcReport):
        fam.ipc_shm.add_metric(lv, ipc.shm_bytes)
    seen: set[str] = set()
    for finding in report.findings:
        if finding.code not in seen:
            seen.add(finding.code)
            fam.finding.add_metric((*lv, finding.code, finding.severity), 1)
