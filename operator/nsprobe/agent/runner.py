"""The agent's loop: scan the node, write the PodProbe / NodeProbe status that changed; run by nsprobe agent.

Three informers (pods bound to this node, this node's PodProbes, its NodeProbe) give the agent the
cluster's view with watches only, so a quiet node costs the API nothing. A scan runs every ``interval``
seconds and soon after a relevant event. A status is written (server-side apply to /status) only when
models.status.significant_change() says so against what the server holds; the NodeProbe also gets a
heartbeat every ``heartbeat`` seconds so readers can tell a live agent from a dead one.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import json
import logging
import re
import threading
import time
import typing

import nsprobe
from nsprobe import kube
from nsprobe.agent import informer
from nsprobe.manifests import labels
from nsprobe.manifests import probes as probe_manifests
from nsprobe.models import spec as spec_mod
from nsprobe.models import status as status_mod
from nsprobe.probe import model, scanner

log = logging.getLogger(__name__)
FIELD_MANAGER = "nsprobe-agent"
# etcd refuses objects above 1.5 MiB; a status this large is replaced by a condition before it is sent.
MAX_STATUS_BYTES = 1_000_000
_DEBOUNCE_SECONDS = 0.3  # a burst of pod events (a rollout) becomes one scan
# Kernel text is read with surrogateescape: bytes that are not UTF-8 (a mount source, a hostname) arrive as
# lone surrogates, which the apiserver's YAML/JSON decoders refuse (400) and JSON can't carry.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclasses.dataclass(frozen=True)
class ProbeState:
    """What the agent keeps of a probe object: whose it is, and the status the server holds."""

    pod_uid: str
    status: dict[str, typing.Any]


def probe_state(obj: kube.Json) -> ProbeState:
    return ProbeState(
        pod_uid=str((obj.get("spec") or {}).get("podUID") or ""), status=obj.get("status") or {}
    )


@dataclasses.dataclass
class Settings:
    node_name: str
    interval: float = 30.0
    heartbeat: float = 300.0
    namespaces: spec_mod.NamespaceFilter = dataclasses.field(default_factory=spec_mod.NamespaceFilter)
    backoff_max: float = 8.0


@dataclasses.dataclass
class Counters:
    scans: int = 0
    writes: int = 0
    write_errors: int = 0
    skipped_missing_probe: int = 0


class Agent:
    """One node's agent. ``on_scan`` is called with each scan and the names of its containers (metrics)."""

    def __init__(
        self,
        *,
        client: kube.Kube,
        probe: scanner.Scanner,
        settings: Settings,
        on_scan: collections.abc.Callable[[model.ScanResult, dict[str, status_mod.PodView]], None]
        | None = None,
    ) -> None:
        self.client = client
        self.scanner = probe
        self.settings = settings
        self.on_scan = on_scan
        self.counters = Counters()
        self.last_scan_ok: float | None = None  # monotonic time of the last scan that finished
        self._wake = threading.Event()
        self._stop = threading.Event()
        node = settings.node_name
        self.pods: informer.Informer[status_mod.PodView] = informer.Informer(
            client,
            name="pods",
            path="/api/v1/pods",
            query={"fieldSelector": f"spec.nodeName={node}"},
            transform=status_mod.pod_view,
            on_change=self.wake,
            backoff_max=settings.backoff_max,
        )
        self.pod_probes: informer.Informer[ProbeState] = informer.Informer(
            client,
            name="podprobes",
            path=kube.Kube.custom_path(probe_manifests.POD_PROBE_PLURAL),
            query={"labelSelector": f"{labels.NODE_LABEL}={labels.node_label_value(node)}"},
            transform=probe_state,
            on_change=self.wake,
            backoff_max=settings.backoff_max,
        )
        self.node_probe: informer.Informer[ProbeState] = informer.Informer(
            client,
            name="nodeprobe",
            path=kube.Kube.custom_path(probe_manifests.NODE_PROBE_PLURAL),
            query={"fieldSelector": f"metadata.name={node}"},
            transform=probe_state,
            on_change=self.wake,
            backoff_max=settings.backoff_max,
        )
        self.informers = (self.pods, self.pod_probes, self.node_probe)

    # --- lifecycle ------------------------------------------------------------------------------------
    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for inf in self.informers:
            inf.stop()

    def healthy(self) -> bool:
        """Live while scans finish; an API outage is no reason to restart (the agent rides it out)."""
        if self.last_scan_ok is None:
            return True  # still starting
        return time.monotonic() - self.last_scan_ok < 3 * self.settings.interval + 30

    def run(self) -> None:
        for inf in self.informers:
            inf.start()
        retry_in: float | None = None
        while not self._stop.is_set():
            timeout = self.settings.interval if retry_in is None else min(retry_in, self.settings.interval)
            woke = self._wake.wait(timeout)
            if self._stop.is_set():
                break
            if woke:
                time.sleep(_DEBOUNCE_SECONDS)
            self._wake.clear()
            try:
                failed = self.cycle()
            except Exception:  # the agent never dies of one bad cycle; the next one starts afresh
                log.exception("scan cycle failed")
                failed = True
            # After a failed write, try again soon (doubling up to backoff_max) rather than a full interval.
            retry_in = min((retry_in or 0.5) * 2, self.settings.backoff_max) if failed else None

    # --- one cycle ------------------------------------------------------------------------------------
    def cycle(self) -> bool:
        """Scan, then write what changed. True when some write could not reach the API (retry soon)."""
        try:
            result = self.scanner.scan()
        except scanner.RootsUnreadableError as exc:
            log.error("cannot scan: %s", exc)
            return False
        self.counters.scans += 1
        self.last_scan_ok = time.monotonic()
        pods = self.pods.items()
        pods_by_uid = {view.uid: view for view in pods.values()}
        if self.on_scan is not None:
            self.on_scan(result, pods_by_uid)
        if not (self.pods.synced.is_set() and self.pod_probes.synced.is_set()):
            return False  # without the cluster's view, any write could be wrong; the informers wake us
        failed = self._write_pods(result, pods, pods_by_uid)
        if self.node_probe.synced.is_set():
            failed |= self._write_node(result)
        return failed

    def _write_pods(
        self,
        result: model.ScanResult,
        pods: dict[str, status_mod.PodView],
        pods_by_uid: dict[str, status_mod.PodView],
    ) -> bool:
        by_pod: dict[str, list[model.ContainerReport]] = {}
        for report in result.containers:
            if report.ref.pod_uid:
                by_pod.setdefault(report.ref.pod_uid, []).append(report)
        names = status_mod.names_by_key(result.containers, pods_by_uid)
        for key, pod in sorted(pods.items()):
            if pod.deleting:
                continue
            probe = self.pod_probes.get(key)
            if probe is None or probe.pod_uid != pod.uid:
                # The operator has not created this pod's PodProbe yet (or it belongs to an older pod of
                # the same name): the PodProbe watch wakes us when it appears.
                self.counters.skipped_missing_probe += 1
                continue
            desired = valid_unicode(
                status_mod.pod_probe_status(
                    pod=pod,
                    reports=by_pod.get(pod.uid, []),
                    names=names,
                    scanned_at=result.scanned_at,
                    scan_interval_seconds=int(self.settings.interval),
                    excluded=not self.settings.namespaces.allows(pod.namespace),
                    previous=probe.status,
                )
            )
            # Compared as it would be written: a report too large to store is compared as its condition.
            desired = _fit(desired, scanned_at=result.scanned_at, previous=probe.status)
            if probe.status and not status_mod.significant_change(probe.status, desired):
                continue
            outcome = self._apply(
                probe_manifests.POD_PROBE_PLURAL,
                "PodProbe",
                name=pod.name,
                namespace=pod.namespace,
                status=desired,
                cache=self.pod_probes,
            )
            if outcome == "unavailable":
                return True  # the API is away: stop this pass, retry the lot after a back-off
        return False

    def _write_node(self, result: model.ScanResult) -> bool:
        node = self.settings.node_name
        probe = self.node_probe.get(node)
        if probe is None:
            return False
        desired = valid_unicode(
            status_mod.node_probe_status(
                result,
                agent_version=nsprobe.__version__,
                scan_interval_seconds=int(self.settings.interval),
                heartbeat_seconds=int(self.settings.heartbeat),
                previous=probe.status,
            )
        )
        due = _age(probe.status.get("heartbeatAt"), now=result.scanned_at) >= self.settings.heartbeat
        if probe.status and not due and not status_mod.significant_change(probe.status, desired):
            return False
        outcome = self._apply(
            probe_manifests.NODE_PROBE_PLURAL,
            "NodeProbe",
            name=node,
            namespace=None,
            status=desired,
            cache=self.node_probe,
        )
        return outcome == "unavailable"

    def _apply(
        self,
        plural: str,
        kind: str,
        *,
        name: str,
        namespace: str | None,
        status: kube.Json,
        cache: informer.Informer[ProbeState],
    ) -> str:
        key = f"{namespace}/{name}" if namespace else name
        for attempt in range(2):
            try:
                written = self.client.apply_status(
                    plural, name=name, namespace=namespace, status=status, kind=kind
                )
            except kube.ConflictError:
                # A forced apply without resourceVersion gets no 409 from today's apiservers (see
                # tests/operator/test_api_faults_agent_and_operator_recover.py); kept for one that does.
                log.info("conflict writing %s %s; applying again", kind, name)
                if attempt == 0:
                    continue  # another writer raced us; apply again (server-side apply is idempotent)
                self.counters.write_errors += 1
                return "error"
            except kube.NotFoundError:
                cache.forget(key)  # deleted meanwhile; the watch brings it back if the operator re-creates it
                return "missing"
            except kube.ApiUnavailableError as exc:
                self.counters.write_errors += 1
                log.warning("status of %s %s not written, API unavailable: %s", kind, key, exc)
                return "unavailable"
            except kube.KubeError as exc:
                # Forbidden (an admission policy) or invalid: retrying the same body can't help.
                self.counters.write_errors += 1
                log.error("status of %s %s refused: %s", kind, key, exc)
                return "error"
            self.counters.writes += 1
            cache.put(written)
            return "written"
        return "error"


def valid_unicode(value: typing.Any) -> typing.Any:
    """``value`` (a status) with each lone surrogate replaced by U+FFFD, as Go writes invalid UTF-8.

    Done before the comparison with the server's copy too: otherwise a status holding such a byte would
    differ from what the server stored on every scan.
    """
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {valid_unicode(k): valid_unicode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [valid_unicode(item) for item in value]
    return value


def _age(stamp: typing.Any, *, now: float) -> float:
    if not isinstance(stamp, str):
        return float("inf")
    try:
        when = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return float("inf")
    return now - when.timestamp()


def _fit(status: kube.Json, *, scanned_at: float, previous: kube.Json | None = None) -> kube.Json:
    """The status itself, or, when it would not fit in an object, only a condition saying so.

    While the server already holds that condition (``previous``), its message (the size first measured)
    and transition time are kept, so a pod whose report stays too large is not rewritten on every scan.
    """
    size = len(json.dumps(status))
    if size <= MAX_STATUS_BYTES:
        return status
    keep = {
        k: v for k, v in status.items() if k in ("nodeName", "podUID", "observedAt", "scanIntervalSeconds")
    }
    cond = status_mod.condition(
        type_=status_mod.REPORTED,
        ok=False,
        reason=status_mod.REASON_STATUS_TOO_LARGE,
        message=f"the report is {size} bytes, above the {MAX_STATUS_BYTES} bytes a status may hold",
        now=scanned_at,
    )
    for old in (previous or {}).get("conditions") or ():
        if (old.get("type"), old.get("reason")) == (status_mod.REPORTED, status_mod.REASON_STATUS_TOO_LARGE):
            cond = {**cond, "message": old.get("message") or cond["message"]}
            cond["lastTransitionTime"] = old.get("lastTransitionTime") or cond["lastTransitionTime"]
    return {**keep, "conditions": [cond]}
