"""RBAC is enforced: an impersonated service account is refused (403) until a Role is bound to it (200)."""

from __future__ import annotations

import collections.abc

import kubernetes.client
import kubernetes.client.exceptions
import pytest

from nsprobe.testing import controlplane, nodes

pytestmark = pytest.mark.controlplane


def _status_of_list_pods(api: kubernetes.client.ApiClient, namespace: str) -> int:
    try:
        kubernetes.client.CoreV1Api(api).list_namespaced_pod(namespace)
    except kubernetes.client.exceptions.ApiException as error:
        status: int = error.status
        return status
    return 200  # the client raises for every non-2xx answer


@pytest.fixture
def as_service_account(
    control_plane: controlplane.ControlPlane, test_namespace: str
) -> collections.abc.Iterator[kubernetes.client.ApiClient]:
    api = nodes.api_client(control_plane.kubeconfig)
    api.set_default_header("Impersonate-User", f"system:serviceaccount:{test_namespace}:probe")
    try:
        yield api
    finally:
        api.close()


def test_impersonated_service_account_gets_403_then_200_after_role_binding(
    control_plane: controlplane.ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    as_service_account: kubernetes.client.ApiClient,
    test_namespace: str,
) -> None:
    subject = f"system:serviceaccount:{test_namespace}:probe"
    assert _status_of_list_pods(as_service_account, test_namespace) == 403
    can_i = control_plane.kubectl(
        ["auth", "can-i", "list", "pods", "-n", test_namespace, f"--as={subject}"], check=False
    )
    assert can_i.stdout.strip() == "no"

    rbac = kubernetes.client.RbacAuthorizationV1Api(kube_api)
    role = kubernetes.client.V1Role.from_dict(
        {
            "metadata": {"name": "pod-reader"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
        }
    )
    binding = kubernetes.client.V1RoleBinding.from_dict(
        {
            "metadata": {"name": "probe-reads-pods"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "probe", "namespace": test_namespace}],
        }
    )
    assert role is not None and binding is not None
    rbac.create_namespaced_role(test_namespace, role)
    rbac.create_namespaced_role_binding(test_namespace, binding)

    # The RBAC authorizer reads from an informer, so the grant lands within moments, not instantly.
    controlplane.wait_for(
        lambda: _status_of_list_pods(as_service_account, test_namespace) == 200, timeout=20, what="RBAC grant"
    )
    # The grant is namespaced: elsewhere the service account is still refused.
    assert _status_of_list_pods(as_service_account, "kube-system") == 403
