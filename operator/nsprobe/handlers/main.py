"""Runs the kopf operator in this process; called by `nsprobe operator`."""

from __future__ import annotations

import os
import secrets

import kopf

from nsprobe.handlers import operator as operator_handlers
from nsprobe.metrics import server


def run(
    *,
    namespace: str,
    kubeconfig: str | None,
    agent_service_account: str,
    liveness: str | None,
    metrics_port: int,
    peering: str | None,
) -> None:
    """Blocks until the operator stops. With ``peering``, replicas pick one active operator: each takes a
    random priority, kopf pauses every replica that sees a peer of higher priority."""
    os.environ[operator_handlers.NAMESPACE_ENV] = namespace
    os.environ[operator_handlers.AGENT_SA_ENV] = agent_service_account
    if kubeconfig:
        os.environ[operator_handlers.KUBECONFIG_ENV] = kubeconfig
        os.environ["KUBECONFIG"] = kubeconfig  # kopf's own login reads it
    if metrics_port:
        server.serve(server.build_registry(component="operator"), listen="0.0.0.0", port=metrics_port)
    kopf.run(
        clusterwide=True,
        standalone=peering is None,
        peering_name=peering,
        priority=secrets.randbelow(1_000_000) if peering else None,
        liveness_endpoint=liveness,
    )
