"""The controller-manager's garbage collector deletes an object whose owner was deleted."""

from __future__ import annotations

import kubernetes.client
import kubernetes.client.exceptions
import pytest

from nsprobe.testing import controlplane

pytestmark = pytest.mark.controlplane


def _config_map(
    name: str, owner: kubernetes.client.V1ConfigMap | None = None
) -> kubernetes.client.V1ConfigMap:
    refs = None
    if owner is not None:
        assert owner.metadata is not None and owner.metadata.name and owner.metadata.uid
        refs = [
            kubernetes.client.V1OwnerReference(
                api_version="v1", kind="ConfigMap", name=owner.metadata.name, uid=owner.metadata.uid
            )
        ]
    return kubernetes.client.V1ConfigMap(
        metadata=kubernetes.client.V1ObjectMeta(name=name, owner_references=refs), data={"k": "v"}
    )


def _gone(core: kubernetes.client.CoreV1Api, name: str, namespace: str) -> bool:
    try:
        core.read_namespaced_config_map(name, namespace)
    except kubernetes.client.exceptions.ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


def test_dependent_with_owner_reference_is_collected_after_owner_deletion(
    kube_api: kubernetes.client.ApiClient, test_namespace: str
) -> None:
    core = kubernetes.client.CoreV1Api(kube_api)
    owner = core.create_namespaced_config_map(test_namespace, _config_map("owner"))
    core.create_namespaced_config_map(test_namespace, _config_map("dependent", owner))
    core.create_namespaced_config_map(test_namespace, _config_map("bystander"))

    core.delete_namespaced_config_map("owner", test_namespace)

    controlplane.wait_for(
        lambda: _gone(core, "dependent", test_namespace), timeout=60, what="garbage collection of dependent"
    )
    assert not _gone(core, "bystander", test_namespace)
