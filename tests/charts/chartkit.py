"""Helpers for the chart tests: find helm, render charts/nsprobe, and pick documents out of the output."""

from __future__ import annotations

import collections.abc
import os
import pathlib
import shutil
import subprocess
import typing

import yaml

from nsprobe.testing import controlplane

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "nsprobe"
CI_DIR = CHART / "ci"
SCENARIOS = tuple(sorted(path.name.removesuffix("-values.yaml") for path in CI_DIR.glob("*-values.yaml")))
# `helm template` defaults to an old Kubernetes; the chart needs >= 1.30 (ValidatingAdmissionPolicy v1).
KUBE_VERSION = "1.37.2"
Doc = dict[str, typing.Any]


class HelmMissingError(RuntimeError):
    """helm is neither in the test bed's bin directory nor on PATH."""


def helm_binary() -> pathlib.Path:
    """The test bed's helm (hack/build-testbed.sh builds it next to kubectl), else one on PATH."""
    try:
        candidate = controlplane.find_bin_dir() / "helm"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    except (controlplane.ControlPlaneError, subprocess.CalledProcessError, OSError):
        pass
    found = shutil.which("helm")
    if found is None:
        raise HelmMissingError("helm not found: build it with hack/build-testbed.sh (make testbed)")
    return pathlib.Path(found)


def scenario_file(name: str) -> pathlib.Path:
    return CI_DIR / f"{name}-values.yaml"


def helm(
    helm_bin: pathlib.Path, args: collections.abc.Sequence[str], *, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(helm_bin), *args], check=check, capture_output=True, text=True, timeout=timeout
    )


def render_text(
    helm_bin: pathlib.Path,
    *,
    scenario: str | None = None,
    sets: collections.abc.Sequence[str] = (),
    namespace: str = "nsprobe-system",
    release: str = "nsprobe",
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`helm template` of the chart (templates only: crds/ are left out, as `helm install` applies them)."""
    args = ["template", release, str(CHART), "--namespace", namespace, "--kube-version", KUBE_VERSION]
    if scenario is not None:
        args += ["--values", str(scenario_file(scenario))]
    for item in sets:
        args += ["--set", item]
    return helm(helm_bin, args, check=check)


def render(
    helm_bin: pathlib.Path,
    *,
    scenario: str | None = None,
    sets: collections.abc.Sequence[str] = (),
    namespace: str = "nsprobe-system",
    release: str = "nsprobe",
) -> list[Doc]:
    text = render_text(helm_bin, scenario=scenario, sets=sets, namespace=namespace, release=release).stdout
    return [doc for doc in yaml.safe_load_all(text) if doc]


def kinds(docs: collections.abc.Iterable[Doc]) -> collections.Counter[str]:
    return collections.Counter(doc["kind"] for doc in docs)


def one(docs: collections.abc.Iterable[Doc], kind: str, name: str | None = None) -> Doc:
    found = [doc for doc in docs if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def all_of(docs: collections.abc.Iterable[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def values() -> Doc:
    data: Doc = yaml.safe_load((CHART / "values.yaml").read_text())
    return data


def scenario_values(name: str) -> Doc:
    """values.yaml with the scenario's file merged over it, as Helm merges (maps deep, lists replaced)."""

    def merge(base: Doc, over: Doc) -> Doc:
        merged = dict(base)
        for key, value in over.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merge(merged[key], value)
            else:
                merged[key] = value
        return merged

    data: Doc = yaml.safe_load(scenario_file(name).read_text()) or {}
    return merge(values(), data)


# --- the test bed ------------------------------------------------------------------------------------------

CRD_DIR = CHART / "crds"
MONITORING_CRDS = pathlib.Path(__file__).resolve().parent / "fixtures" / "monitoring-coreos-crds.yaml"


def crd_names(path: pathlib.Path) -> list[str]:
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return [
        doc["metadata"]["name"]
        for file in files
        for doc in yaml.safe_load_all(file.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]


def apply_crds(bed: controlplane.ControlPlane, path: pathlib.Path) -> list[str]:
    """Server-side apply CRDs (a file or a directory) and wait until every one is Established."""
    bed.kubectl(["apply", "--server-side", "--force-conflicts", "-f", str(path)])
    names = crd_names(path)
    bed.kubectl(["wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{name}" for name in names)])
    return names


def token_kubeconfig(bed: controlplane.ControlPlane, token: str, path: pathlib.Path) -> pathlib.Path:
    """A kubeconfig that speaks to the bed with a bearer token only (no client certificate as fallback)."""
    admin = yaml.safe_load(bed.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": "token", "user": {"token": token}}],
        "contexts": [{"name": "token", "context": {"cluster": cluster["name"], "user": "token"}}],
        "current-context": "token",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def kubectl_as(
    bed: controlplane.ControlPlane, kubeconfig: pathlib.Path, args: collections.abc.Sequence[str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bed.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
