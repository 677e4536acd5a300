"""The operator's kopf handlers; loaded by `nsprobe operator` or `kopf run -m nsprobe.handlers.operator`.

Each handler only unpacks kopf's arguments and calls one reconciler. Clients and state are built in
``startup`` and kept in ``memo.state``; nothing connects when this module is imported.
"""

from __future__ import annotations

import asyncio
import collections.abc
import itertools
import logging
import os
import typing

import kopf

from nsprobe import kube
from nsprobe.metrics import activity
from nsprobe.models import spec as spec_mod
from nsprobe.reconcile import agent as agent_reconcile
from nsprobe.reconcile import probes as probe_reconcile
from nsprobe.reconcile import state as state_mod
from nsprobe.reconcile import summary as summary_reconcile

GROUP = spec_mod.GROUP
NAMESPACE_ENV = "NSPROBE_NAMESPACE"
KUBECONFIG_ENV = "NSPROBE_KUBECONFIG"
AGENT_SA_ENV = "NSPROBE_AGENT_SERVICE_ACCOUNT"
SUMMARY_INTERVAL_ENV = "NSPROBE_SUMMARY_INTERVAL"
Kwargs = typing.Any


class PatientBackoffs:
    """Retry pauses for kopf's API calls: 1, 1, 2, 3, then 5 s for as long as the API is away.

    Re-iterable and unsized, so kopf starts afresh for every request and never escalates a retriable error
    (connection refused, 5xx, 429) into the end of the operator; the operator is back within 5 s of an
    outage ending, however long it lasted.
    """

    def __iter__(self) -> collections.abc.Iterator[float]:
        return itertools.chain((1.0, 1.0, 2.0, 3.0), itertools.repeat(5.0))


def _state(memo: kopf.Memo) -> state_mod.OperatorState:
    state: state_mod.OperatorState = memo.state
    return state


def _count(resource: str, outcome: str) -> None:
    if outcome not in ("exists", "ignored", "noted", "unchanged"):
        activity.observe_reconcile(resource)


@kopf.on.startup()
def startup(
    settings: kopf.OperatorSettings,
    memo: kopf.Memo,
    logger: logging.Logger | logging.LoggerAdapter[typing.Any],
    **_: Kwargs,
) -> None:
    # Pod events are many: post no kopf Events for them, and don't log each handler's success.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    # kopf's default pauses grow to 21 s and give up after 54 s, which ends the operator in a longer outage.
    settings.networking.error_backoffs = PatientBackoffs()
    settings.persistence.finalizer = f"{GROUP}/operator"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    client = kube.Kube(kube.connect(os.environ.get(KUBECONFIG_ENV)), field_manager=state_mod.FIELD_MANAGER)
    state = state_mod.OperatorState(
        client=client,
        namespace=os.environ[NAMESPACE_ENV],
        agent_service_account=os.environ.get(AGENT_SA_ENV) or state_mod.AGENT_SERVICE_ACCOUNT,
    )
    try:
        # The namespace filter must hold from the first pod event on, before the config's own handler runs.
        config = client.get(kube.Kube.custom_path("nsprobeconfigs", name=state.config_name))
        state.config = spec_mod.parse_spec(config.get("spec"))
    except (kube.NotFoundError, spec_mod.SpecError):
        logger.info("no valid NsProbeConfig %r yet: probing every namespace", state.config_name)
    memo.state = state


@kopf.on.login()
def login(**kwargs: Kwargs) -> kopf.ConnectionInfo | None:
    # kopf's default login goes through the client library, which read $KUBECONFIG when first imported;
    # read the environment now instead (the in-cluster service account first, as kopf does).
    if os.environ.get("KUBERNETES_SERVICE_HOST") and not os.environ.get(KUBECONFIG_ENV):
        return kopf.login_with_service_account(**kwargs)
    if os.environ.get(KUBECONFIG_ENV):
        os.environ["KUBECONFIG"] = os.environ[KUBECONFIG_ENV]
    return kopf.login_with_kubeconfig(**kwargs)


@kopf.on.cleanup()
def cleanup(memo: kopf.Memo, **_: Kwargs) -> None:
    task = memo.get("summary_task")
    if task is not None:
        task.cancel()
    state = memo.get("state")
    if state is not None:
        state.client.close()


@kopf.on.probe(id="podProbesKnown")
def pod_probes_known(memo: kopf.Memo, **_: Kwargs) -> int:
    return len(_state(memo).pod_probes)


# --- NsProbeConfig: the agent DaemonSet -------------------------------------------------------------------


def _ensure_agent(memo: kopf.Memo, body: kopf.Body) -> str:
    try:
        outcome = agent_reconcile.ensure_daemonset(_state(memo), body)
    except spec_mod.SpecError as exc:
        raise kopf.PermanentError(str(exc)) from exc
    _count("daemonset", outcome)
    return outcome


@kopf.on.create(GROUP, "nsprobeconfigs")
def config_created(memo: kopf.Memo, body: kopf.Body, **_: Kwargs) -> None:
    _ensure_agent(memo, body)


@kopf.on.resume(GROUP, "nsprobeconfigs")
def config_resumed(memo: kopf.Memo, body: kopf.Body, **_: Kwargs) -> None:
    _ensure_agent(memo, body)


@kopf.on.update(GROUP, "nsprobeconfigs", field="spec")
def config_updated(memo: kopf.Memo, body: kopf.Body, **_: Kwargs) -> None:
    # kopf would store a returned value in the object's status, which the CRD schema prunes: return None.
    _ensure_agent(memo, body)
    probe_reconcile.resync_pods(_state(memo))  # the namespace filter may now admit more pods


@kopf.on.startup()
async def start_summary(memo: kopf.Memo, **_: Kwargs) -> None:
    # Not a kopf.timer: timers put a finalizer on the config, and on `helm uninstall` the operator (and its
    # RBAC) is gone before the config, which would then never finish deleting.
    memo.summary_task = asyncio.create_task(_summary_loop(memo))


async def _summary_loop(memo: kopf.Memo) -> None:
    interval = float(os.environ.get(SUMMARY_INTERVAL_ENV, "30"))
    while True:
        await asyncio.sleep(min(interval, 5.0) if memo.get("summary_runs", 0) == 0 else interval)
        memo.summary_runs = memo.get("summary_runs", 0) + 1
        try:
            await asyncio.to_thread(summary_reconcile.refresh_current, _state(memo))
            _count("config", "refreshed")
        except Exception:  # the loop outlives any one failure, as a kopf timer would
            logging.getLogger(__name__).exception("summary refresh failed; retrying in %ss", interval)


# --- probes: one per pod and per node ---------------------------------------------------------------------


@kopf.on.event("pods")
def pod_event(memo: kopf.Memo, type: str | None, body: kopf.Body, **_: Kwargs) -> None:
    _count("podprobe", probe_reconcile.on_pod_event(_state(memo), event_type=type, pod=body))


@kopf.on.event("nodes")
def node_event(memo: kopf.Memo, type: str | None, body: kopf.Body, **_: Kwargs) -> None:
    _count("nodeprobe", probe_reconcile.on_node_event(_state(memo), event_type=type, node=body))


@kopf.on.event(GROUP, "podprobes")
def pod_probe_event(memo: kopf.Memo, type: str | None, body: kopf.Body, **_: Kwargs) -> None:
    _count("podprobe", probe_reconcile.on_pod_probe_event(_state(memo), event_type=type, probe=body))
