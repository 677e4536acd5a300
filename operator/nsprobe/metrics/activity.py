"""The program's own activity (scans, scan errors, operator reconciles) and build info; called by the agent,
the exporter and the operator through ``observe_*``.

These are the only module-level instruments in nsprobe (client_python's rule: module-level Counter and
Histogram for the process's own work; node facts come from metrics.collector at scrape time). They are
created unregistered, and ``metrics.server.build_registry`` adds the ones a component needs to its own
registry, so no test or second component shares client_python's global registry by accident.
"""

from __future__ import annotations

import collections
import collections.abc
import platform

from prometheus_client import core, registry
from prometheus_client import metrics as pm

import nsprobe
from nsprobe.probe import model

# ScanError.reason words (probe.host.HostError.reason and "parse"), plus "scan_failed" for a scan that
# raised as a whole (roots unreadable). Anything else is counted as "other", so the label stays bounded.
SCAN_ERROR_REASONS = ("vanished", "permission", "parse", "io", "unavailable", "scan_failed", "other")
RECONCILE_RESOURCES = ("config", "daemonset", "podprobe", "nodeprobe", "other")
RECONCILE_ERROR_REASONS = ("api", "conflict", "forbidden", "invalid", "timeout", "other")
COMPONENTS = ("agent", "exporter", "operator")

SCAN_DURATION = pm.Histogram(
    "nsprobe_scan_duration_seconds",
    "Wall time of one scan of the node.",
    # A steady-state rescan of a quiet node takes milliseconds; a full scan of a busy one a few seconds.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=None,
)
SCAN_ERRORS = pm.Counter(
    "nsprobe_scan_errors",
    "Facts a scan could not read, or scans that failed, by reason.",
    ["reason"],
    registry=None,
)
RECONCILES = pm.Counter(
    "nsprobe_operator_reconciles", "Operator reconciles, by resource.", ["resource"], registry=None
)
RECONCILE_ERRORS = pm.Counter(
    "nsprobe_operator_reconcile_errors",
    "Operator reconciles that failed, by resource and reason.",
    ["resource", "reason"],
    registry=None,
)
SCAN_INSTRUMENTS: tuple[registry.Collector, ...] = (SCAN_DURATION, SCAN_ERRORS)
OPERATOR_INSTRUMENTS: tuple[registry.Collector, ...] = (RECONCILES, RECONCILE_ERRORS)

# Every known label value starts at 0, so rate() and increase() see the first error (a counter that
# appears with value 1 looks like no increase to Prometheus).
for _reason in SCAN_ERROR_REASONS:
    SCAN_ERRORS.labels(reason=_reason)
for _resource in RECONCILE_RESOURCES:
    RECONCILES.labels(resource=_resource)


def _bounded(word: str, allowed: collections.abc.Sequence[str]) -> str:
    return word if word in allowed else "other"


def observe_scan(result: model.ScanResult) -> None:
    """Count one finished scan: its duration and each fact it could not read, by reason."""
    SCAN_DURATION.observe(result.duration_seconds)
    counts = collections.Counter(_bounded(error.reason, SCAN_ERROR_REASONS) for error in result.errors)
    for reason, count in counts.items():
        SCAN_ERRORS.labels(reason=reason).inc(count)


def observe_scan_failure(duration_seconds: float) -> None:
    """Count a scan that raised as a whole (e.g. probe.scanner.RootsUnreadableError)."""
    SCAN_DURATION.observe(duration_seconds)
    SCAN_ERRORS.labels(reason="scan_failed").inc()


def observe_reconcile(resource: str, *, error: str | None = None) -> None:
    """Count one operator reconcile of ``resource``; ``error`` is a reason word when it failed."""
    bounded = _bounded(resource, RECONCILE_RESOURCES)
    RECONCILES.labels(resource=bounded).inc()
    if error is not None:
        RECONCILE_ERRORS.labels(resource=bounded, reason=_bounded(error, RECONCILE_ERROR_REASONS)).inc()


class BuildInfoCollector(registry.Collector):
    """``nsprobe_build_info{version,python_version,component[,node]} 1``: which build runs where.

    The agent and the exporter add ``node``, so the "agent missing on a node" alert can join it with
    kube-state-metrics' kube_node_info; the operator runs on no particular node and has no ``node``.
    """

    def __init__(self, *, component: str, node: str | None = None) -> None:
        if component not in COMPONENTS:
            raise ValueError(f"component must be one of {COMPONENTS}, not {component!r}")
        labels = {
            "version": nsprobe.__version__,
            "python_version": platform.python_version(),
            "component": component,
        }
        if node is not None:
            labels["node"] = node
        self._labels = labels

    def describe(self) -> collections.abc.Iterable[core.Metric]:
        return self.collect()

    def collect(self) -> collections.abc.Iterable[core.Metric]:
        family = core.GaugeMetricFamily(
            "nsprobe_build_info", "A constant 1, labelled with the nsprobe build.", labels=list(self._labels)
        )
        family.add_metric(list(self._labels.values()), 1)
        return [family]
