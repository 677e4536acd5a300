"""The built kubectl talks to the built kube-apiserver, and both report v1.37.2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from nsprobe.testing import controlplane

pytestmark = pytest.mark.controlplane


def test_kubectl_version_reports_server_v1_37_2(control_plane: controlplane.ControlPlane) -> None:
    result = control_plane.kubectl(["version", "-o", "json"])

    versions = json.loads(result.stdout)
    assert versions["serverVersion"]["gitVersion"] == controlplane.K8S_VERSION
    assert versions["clientVersion"]["gitVersion"] == controlplane.K8S_VERSION


def test_session_path_finds_the_built_kubectl_first(control_plane: controlplane.ControlPlane) -> None:
    # /usr/bin/kubectl on these machines is an unrelated dispatcher; plugin tests rely on PATH order.
    assert shutil.which("kubectl") == str(control_plane.bin_dir / "kubectl")
    assert os.environ["KUBECONFIG"] == str(control_plane.kubeconfig)

    readyz = subprocess.run(
        ["kubectl", "get", "--raw", "/readyz"], check=True, capture_output=True, text=True
    )

    assert readyz.stdout.strip() == "ok"
