"""Label keys and values shared by the objects nsprobe builds and the selectors that find them."""

from __future__ import annotations

import hashlib
import re

NAME = "nsprobe"
MANAGED_BY = "nsprobe-operator"
AGENT_NAME = "nsprobe-agent"
# PodProbes carry their node so an agent can watch only its own with a label selector.
NODE_LABEL = "nsprobe.io/node"
POD_UID_LABEL = "nsprobe.io/pod-uid"
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
AGENT_SELECTOR = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "agent"}


def common(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


def node_label_value(node_name: str) -> str:
    """A label value naming a node: the name itself, or a hash when the name is no valid label value."""
    if len(node_name) <= 63 and _LABEL_VALUE.fullmatch(node_name):
        return node_name
    return "sha256-" + hashlib.sha256(node_name.encode()).hexdigest()[:40]
