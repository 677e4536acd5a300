"""A CustomResourceDefinition is established and its objects honour the status subresource."""

from __future__ import annotations

import secrets
from typing import Any

import kubernetes.client
import pytest

from nsprobe.testing import controlplane

pytestmark = pytest.mark.controlplane

GROUP = "testbed.nsprobe.io"


def _json(value: object) -> dict[str, Any]:
    assert isinstance(value, dict)
    return value


def _crd(plural: str, kind: str) -> dict[str, Any]:
    schema = {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {"target": {"type": "string"}}},
            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": kind, "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                    "subresources": {"status": {}},
                }
            ],
        },
    }


def test_custom_object_status_is_written_only_through_the_status_subresource(
    kube_api: kubernetes.client.ApiClient, test_namespace: str
) -> None:
    suffix = secrets.token_hex(3)
    plural, kind = f"probes{suffix}s", f"Probe{suffix.capitalize()}"
    extensions = kubernetes.client.ApiextensionsV1Api(kube_api)
    custom = kubernetes.client.CustomObjectsApi(kube_api)
    crd = kubernetes.client.V1CustomResourceDefinition.from_dict(_crd(plural, kind))
    assert crd is not None
    extensions.create_custom_resource_definition(crd)
    try:

        def established() -> bool:
            found = extensions.read_custom_resource_definition(f"{plural}.{GROUP}")
            conditions = (found.status.conditions or []) if found.status else []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        controlplane.wait_for(established, timeout=30, what="CRD Established")
        body = {
            "apiVersion": f"{GROUP}/v1",
            "kind": kind,
            "metadata": {"name": "one"},
            "spec": {"target": "pod-a"},
            "status": {"phase": "ignored-on-create"},
        }
        created = _json(custom.create_namespaced_custom_object(GROUP, "v1", test_namespace, plural, body))
        assert "status" not in created  # status is dropped from writes to the main resource

        patched = _json(
            custom.patch_namespaced_custom_object_status(
                GROUP, "v1", test_namespace, plural, "one", {"status": {"phase": "Probed"}}
            )
        )
        assert patched["status"] == {"phase": "Probed"}
        assert patched["metadata"]["generation"] == created["metadata"]["generation"]

        # A spec write bumps generation and leaves the status alone.
        custom.patch_namespaced_custom_object(
            GROUP, "v1", test_namespace, plural, "one", {"spec": {"target": "pod-b"}}
        )
        current = _json(custom.get_namespaced_custom_object(GROUP, "v1", test_namespace, plural, "one"))
        assert current["spec"] == {"target": "pod-b"}
        assert current["status"] == {"phase": "Probed"}
        assert current["metadata"]["generation"] == created["metadata"]["generation"] + 1
    finally:
        extensions.delete_custom_resource_definition(f"{plural}.{GROUP}")
