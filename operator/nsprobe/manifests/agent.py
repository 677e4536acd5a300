"""Builds the agent DaemonSet from an NsProbeConfig spec; called by nsprobe.reconcile.agent."""

from __future__ import annotations

import typing

from nsprobe.manifests import labels
from nsprobe.models import spec as spec_mod

Manifest = dict[str, typing.Any]
HOST_PROC = "/host/proc"
HOST_CGROUP = "/host/sys/fs/cgroup"
# What the minimal profile needs: SYS_PTRACE to read other processes' /proc entries (ns links, root,
# mountinfo), DAC_READ_SEARCH to traverse directories root doesn't own, SYS_ADMIN to setns into a
# container's IPC namespace for SysV IPC counts.
MINIMAL_CAPABILITIES = ("SYS_PTRACE", "DAC_READ_SEARCH", "SYS_ADMIN")


def security_context(profile: spec_mod.SecurityProfile) -> Manifest:
    if profile == "privileged":
        return {"privileged": True, "runAsUser": 0}
    return {
        "runAsUser": 0,
        "runAsNonRoot": False,
        "privileged": False,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": list(MINIMAL_CAPABILITIES)},
    }


def agent_args(config: spec_mod.ConfigSpec) -> list[str]:
    args = [
        "agent",
        "--node-name=$(NODE_NAME)",
        f"--proc-root={HOST_PROC}",
        f"--cgroup-root={HOST_CGROUP}",
        f"--interval={config.scan_interval_seconds}",
        f"--metrics-port={config.metrics_port}",
    ]
    args += [f"--include-namespace={pattern}" for pattern in config.namespaces.include]
    args += [f"--exclude-namespace={pattern}" for pattern in config.namespaces.exclude]
    return args


def build_daemonset(
    config: spec_mod.ConfigSpec,
    *,
    namespace: str,
    owner: typing.Mapping[str, str] | None = None,
    service_account: str = labels.AGENT_NAME,
) -> Manifest:
    """The agent DaemonSet. ``owner`` is the NsProbeConfig (apiVersion, kind, name, uid), so deleting the
    config garbage-collects the agents."""
    pod_labels = {**labels.common("agent")}
    container: Manifest = {
        "name": "agent",
        "image": config.image,
        "imagePullPolicy": config.image_pull_policy,
        "command": ["nsprobe"],
        "args": agent_args(config),
        "env": [
            {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "NSPROBE_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        ],
        "ports": [{"name": "metrics", "containerPort": config.metrics_port, "protocol": "TCP"}],
        "livenessProbe": {
            "httpGet": {"path": "/healthz", "port": "metrics"},
            "initialDelaySeconds": 10,
            "periodSeconds": 20,
            "failureThreshold": 3,
        },
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "metrics"}, "periodSeconds": 10},
        "resources": config.resources,
        "securityContext": security_context(config.security_profile),
        "volumeMounts": [
            {"name": "host-proc", "mountPath": HOST_PROC, "readOnly": True},
            {"name": "host-cgroup", "mountPath": HOST_CGROUP, "readOnly": True},
        ],
    }
    pod_spec: Manifest = {
        "serviceAccountName": service_account,
        "hostPID": True,
        "containers": [container],
        "volumes": [
            {"name": "host-proc", "hostPath": {"path": "/proc", "type": "Directory"}},
            {"name": "host-cgroup", "hostPath": {"path": "/sys/fs/cgroup", "type": "Directory"}},
        ],
        "tolerations": [dict(t) for t in config.tolerations],
    }
    if config.node_selector:
        pod_spec["nodeSelector"] = dict(config.node_selector)
    if config.priority_class_name:
        pod_spec["priorityClassName"] = config.priority_class_name
    metadata: Manifest = {"name": labels.AGENT_NAME, "namespace": namespace, "labels": labels.common("agent")}
    if owner is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": owner["name"],
                "uid": owner["uid"],
                "controller": True,
                "blockOwnerDeletion": False,
            }
        ]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": metadata,
        "spec": {
            "selector": {"matchLabels": dict(labels.AGENT_SELECTOR)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {"metadata": {"labels": pod_labels}, "spec": pod_spec},
        },
    }
