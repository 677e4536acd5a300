"""The krew manifest follows krew's rules, and the archive it names is reproducible and runs the plugin."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import tarfile
import types

import pytest
import yaml

import kubectl_nsprobe
from tests.plugin import objects

KREW = objects.ROOT / "plugin" / "krew"
MANIFEST = KREW / "nsprobe.yaml"


def _builder() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("build_archive", KREW / "build_archive.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_manifest_follows_krew_rules() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert manifest["kind"] == "Plugin"
    name = manifest["metadata"]["name"]
    assert name == MANIFEST.stem == "nsprobe"
    # Naming guide: lowercase, no kubectl/kube prefix, hyphen-separated words.
    assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name) and not name.startswith(("kubectl", "kube-"))
    spec = manifest["spec"]
    assert spec["version"] == f"v{kubectl_nsprobe.__version__}"
    assert spec["homepage"].startswith("https://")
    assert len(spec["shortDescription"]) <= 50
    assert spec["description"].strip() and spec["caveats"].strip()
    selectors = set()
    for platform in spec["platforms"]:
        labels = platform["selector"]["matchLabels"]
        selectors.add((labels["os"], labels["arch"]))
        assert platform["bin"] == "kubectl-nsprobe"
        assert re.fullmatch(r"[0-9a-f]{64}", platform["sha256"])
        assert platform["uri"].startswith("https://")
        assert platform["uri"].endswith(f"/v{kubectl_nsprobe.__version__}/{_builder().archive_name()}")
    assert len(selectors) == len(spec["platforms"])  # no overlapping selectors
    assert {os_ for os_, _ in selectors} == {"linux", "darwin"}  # the launcher is POSIX sh
    assert not re.search(r"TODO|FIXME|<[a-z-]+>|example\.com|0{64}", MANIFEST.read_text())


def test_archive_is_reproducible_and_holds_what_the_manifest_names(tmp_path: pathlib.Path) -> None:
    builder = _builder()
    first = builder.build(tmp_path / "a")
    second = builder.build(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert {"kubectl-nsprobe", "nsprobe.pyz", "requirements.txt"} <= set(members)
    assert members["kubectl-nsprobe"].mode & 0o111
    assert all(m.mtime == 0 and m.uid == 0 for m in members.values())
    with tarfile.open(first) as tar:
        extracted = tar.extractfile("requirements.txt")
        assert extracted is not None
        pins = extracted.read().decode().split()
    assert pins == [f"{n}=={importlib.metadata.version(n)}" for n in ("click", "PyYAML", "kubernetes")]


def test_update_manifest_writes_the_archives_sha256(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builder = _builder()
    copy = tmp_path / "nsprobe.yaml"
    copy.write_text(MANIFEST.read_text())
    monkeypatch.setattr(builder, "MANIFEST", copy)
    archive = builder.build(tmp_path / "dist")
    builder.update_manifest(archive)
    platforms = yaml.safe_load(copy.read_text())["spec"]["platforms"]
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert {p["sha256"] for p in platforms} == {digest}
    assert copy.read_text().startswith("# Krew plugin manifest")  # comments survive


def test_launcher_runs_the_bundled_plugin_through_a_symlink(tmp_path: pathlib.Path) -> None:
    archive = _builder().build(tmp_path / "dist")
    store = tmp_path / "store"
    with tarfile.open(archive) as tar:
        tar.extractall(store, filter="data")
    # The launcher makes its virtualenv on first run from PyPI; reuse this test run's instead.
    (store / "venv").symlink_to(pathlib.Path(sys.prefix))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl-nsprobe").symlink_to(store / "kubectl-nsprobe")  # as krew links it
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        ["kubectl-nsprobe", "explain", "--no-headers"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].split()[0] == "HOST_MOUNT_NAMESPACE"
    version = subprocess.run(
        ["kubectl-nsprobe", "version"], env=env, capture_output=True, text=True, check=False
    )
    assert version.stdout == f"kubectl-nsprobe {kubectl_nsprobe.__version__}\n"
