"""Builds PodProbe and NodeProbe objects owned by their Pod / Node; called by nsprobe.reconcile.probes."""

from __future__ import annotations

import typing

from nsprobe.manifests import labels
from nsprobe.models import spec as spec_mod

Manifest = dict[str, typing.Any]
POD_PROBE_PLURAL = "podprobes"
NODE_PROBE_PLURAL = "nodeprobes"
CONFIG_PLURAL = "nsprobeconfigs"


def _owner(api_version: str, kind: str, meta: typing.Mapping[str, typing.Any]) -> Manifest:
    # Not a controller reference: the Pod's own controller (ReplicaSet, Job ...) keeps that role.
    return {"apiVersion": api_version, "kind": kind, "name": meta["name"], "uid": meta["uid"]}


def build_pod_probe(pod: typing.Mapping[str, typing.Any]) -> Manifest:
    """A PodProbe named after the pod, in its namespace, labelled with its node for the agent's selector."""
    meta = pod["metadata"]
    node_name = pod["spec"]["nodeName"]
    return {
        "apiVersion": spec_mod.API_VERSION,
        "kind": "PodProbe",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": {
                **labels.common("podprobe"),
                labels.NODE_LABEL: labels.node_label_value(node_name),
                labels.POD_UID_LABEL: meta["uid"],
            },
            "ownerReferences": [_owner("v1", "Pod", meta)],
        },
        "spec": {"podName": meta["name"], "podUID": meta["uid"], "nodeName": node_name},
    }


def build_node_probe(node: typing.Mapping[str, typing.Any]) -> Manifest:
    meta = node["metadata"]
    return {
        "apiVersion": spec_mod.API_VERSION,
        "kind": "NodeProbe",
        "metadata": {
            "name": meta["name"],
            "labels": {
                **labels.common("nodeprobe"),
                labels.NODE_LABEL: labels.node_label_value(meta["name"]),
            },
            "ownerReferences": [_owner("v1", "Node", meta)],
        },
        "spec": {"nodeName": meta["name"]},
    }
