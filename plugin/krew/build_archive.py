"""Builds the krew archive of kubectl-nsprobe reproducibly; run at release time (not imported by anything).

    python plugin/krew/build_archive.py [--out DIR] [--update-manifest]

The archive holds the project's LICENSE, the POSIX launcher, nsprobe.pyz (the plugin and the pure probe
library it reads the finding catalogue from) and requirements.txt (the tested versions of click, PyYAML and
kubernetes, which the launcher installs into a private virtualenv on first run). The same bytes serve every
listed platform: everything in it is pure Python. Timestamps, owners and file order are fixed, so a rebuild
of the same tree gives the same sha256. --update-manifest writes that sha256, the version and the uri into
nsprobe.yaml.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.metadata
import io
import pathlib
import re
import tarfile
import zipfile

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MANIFEST = HERE / "nsprobe.yaml"
LICENSE = ROOT / "LICENSE"
REQUIREMENTS = ("click", "PyYAML", "kubernetes")
_EPOCH = (1980, 1, 1, 0, 0, 0)
# The plugin and only the parts of the nsprobe package it imports (no operator, agent or Kubernetes code).
_SOURCES = (
    (ROOT / "plugin", "kubectl_nsprobe"),
    (ROOT / "operator", "nsprobe/__init__.py"),
    (ROOT / "operator", "nsprobe/py.typed"),
    (ROOT / "operator", "nsprobe/probe"),
)


def version() -> str:
    text = (ROOT / "operator" / "nsprobe" / "__init__.py").read_text()
    found = re.search(r'__version__ = "([^"]+)"', text)
    if not found:
        raise SystemExit("no __version__ in operator/nsprobe/__init__.py")
    return found.group(1)


def archive_name() -> str:
    return f"kubectl-nsprobe_v{version()}.tar.gz"


def _pyz() -> bytes:
    files: list[tuple[str, pathlib.Path]] = []
    for base, rel in _SOURCES:
        path = base / rel
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        for item in candidates:
            if item.is_file() and "__pycache__" not in item.parts and item.suffix in (".py", ".typed", ""):
                files.append((item.relative_to(base).as_posix(), item))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as pyz:
        for name, item in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            pyz.writestr(info, item.read_bytes())
    return buffer.getvalue()


def _requirements() -> bytes:
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in REQUIREMENTS]
    return ("\n".join(pins) + "\n").encode()


def build(out_dir: pathlib.Path) -> pathlib.Path:
    members = [
        ("kubectl-nsprobe", (HERE / "kubectl-nsprobe").read_bytes(), 0o755),
        ("nsprobe.pyz", _pyz(), 0o644),
        ("requirements.txt", _requirements(), 0o644),
    ]
    if LICENSE.exists():  # krew refuses an archive without a LICENSE; --update-manifest insists on it
        members.insert(0, ("LICENSE", LICENSE.read_bytes(), 0o644))
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, mode in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / archive_name()
    with target.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(tar_bytes.getvalue())
    return target


def sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def update_manifest(archive: pathlib.Path) -> None:
    """Set spec.version, every platform's sha256 and the release file name in its uri (text edit, so the
    manifest's comments and layout survive)."""
    text = MANIFEST.read_text()
    text = re.sub(r'(?m)^(  version: )"v[^"]*"', rf'\1"v{version()}"', text)
    text = re.sub(r"(?m)^(    sha256: )[0-9a-f]{64}$", rf"\g<1>{sha256(archive)}", text)
    text = re.sub(
        r"/download/v[^/]+/kubectl-nsprobe_v[^/\s]+\.tar\.gz", f"/download/v{version()}/{archive.name}", text
    )
    MANIFEST.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "dist")
    parser.add_argument("--update-manifest", action="store_true")
    args = parser.parse_args()
    if args.update_manifest and not LICENSE.exists():
        raise SystemExit(f"{LICENSE} is missing: krew installs only archives that carry a LICENSE file")
    archive = build(args.out)
    if args.update_manifest:
        update_manifest(archive)
    print(f"{archive} sha256 {sha256(archive)}")


if __name__ == "__main__":
    main()
