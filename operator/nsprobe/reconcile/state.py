"""The operator's working state, built at start-up and kept in kopf's memo; used by reconcilers."""

from __future__ import annotations

import dataclasses
import threading

from nsprobe import kube
from nsprobe.models import spec as spec_mod

FIELD_MANAGER = "nsprobe-operator"
AGENT_SERVICE_ACCOUNT = "nsprobe-agent"


@dataclasses.dataclass
class OperatorState:
    """``pod_probes`` maps 'namespace/name' to the pod uid of each PodProbe this operator knows exists:
    two short strings per pod, never the PodProbe bodies, so it stays small at cluster scale."""

    client: kube.Kube
    namespace: str  # the operator's own namespace: where the agent DaemonSet lives
    agent_service_account: str = AGENT_SERVICE_ACCOUNT
    config_name: str = spec_mod.DEFAULT_CONFIG_NAME
    config: spec_mod.ConfigSpec = dataclasses.field(default_factory=spec_mod.ConfigSpec)
    pod_probes: dict[str, str] = dataclasses.field(default_factory=dict)
    node_probes: set[str] = dataclasses.field(default_factory=set)
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
