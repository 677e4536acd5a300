"""The Dockerfile builds with no container registry (podman + a debootstrap base, hack/build-image.sh) and
the image runs `nsprobe` as a non-root user: one image for operator, agent and plugin."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import time

import pytest

from tests.charts import chartkit

pytestmark = pytest.mark.slow
BUILD_SCRIPT = chartkit.ROOT / "hack" / "build-image.sh"
TAG = "localhost/nsprobe:image-test"


def _required() -> bool:
    return os.environ.get("NSPROBE_REQUIRE_CONTROLPLANE", "").strip().lower() not in ("", "0", "false", "no")


@dataclasses.dataclass(frozen=True)
class Podman:
    command: list[str]
    env: dict[str, str]

    def run(self, args: list[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args], capture_output=True, text=True, timeout=timeout, check=False, env=self.env
        )


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    missing = [tool for tool in ("podman", "runc", "debootstrap") if shutil.which(tool) is None]
    if missing or os.geteuid() != 0:
        needs = ", ".join(missing) or "nothing else"
        reason = f"image build needs root and {needs} (apt-get install podman runc debootstrap)"
        if _required():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    # Private storage: the build is real every time (pip reaches PyPI); only the debootstrap base is cached.
    root = tmp_path_factory.mktemp("podman")
    conf_dir = root / "conf"
    subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--print-conf", str(conf_dir)], check=True, capture_output=True
    )
    env = {
        **os.environ,
        "CONTAINERS_CONF": str(conf_dir / "containers.conf"),
        "NSPROBE_PODMAN_ROOT": str(root),
    }
    command = [
        "podman",
        "--root",
        str(root / "storage"),
        "--runroot",
        str(root / "run"),
        "--storage-driver",
        "overlay",
    ]
    return Podman(command=command, env=env)


@pytest.fixture(scope="module")
def image(podman: Podman) -> str:
    started = time.monotonic()
    result = subprocess.run(
        ["bash", str(BUILD_SCRIPT), "--tag", TAG],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        env=podman.env,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    summary = [line for line in result.stdout.splitlines() if line.startswith("build-image:")]
    print(f"\nimage build: {seconds:.0f}s; " + " | ".join(summary))
    return TAG


def _run(podman: Podman, image: str, *args: str, entrypoint: str | None = None) -> str:
    command = ["run", "--rm", "--network=none"]
    if entrypoint:
        command.append(f"--entrypoint={entrypoint}")
    result = podman.run([*command, image, *args])
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_nsprobe_version_runs_in_the_image(podman: Podman, image: str) -> None:
    import nsprobe

    assert _run(podman, image, "--version").strip() == f"nsprobe, version {nsprobe.__version__}"


def test_nsprobe_scan_help_runs_in_the_image(podman: Podman, image: str) -> None:
    out = _run(podman, image, "scan", "--help")
    assert "Usage: nsprobe scan" in out
    assert "--proc-root" in out


def test_operator_agent_and_plugin_are_in_the_one_image(podman: Podman, image: str) -> None:
    assert "Usage: nsprobe operator" in _run(podman, image, "operator", "--help")
    assert "Usage: nsprobe agent" in _run(podman, image, "agent", "--help")
    assert "kubectl nsprobe" in _run(podman, image, "--help", entrypoint="kubectl-nsprobe")


def test_image_runs_as_non_root_and_carries_oci_labels(podman: Podman, image: str) -> None:
    assert _run(podman, image, "-u", entrypoint="id").strip() == "65532"
    inspect = podman.run(["image", "inspect", image])
    assert inspect.returncode == 0, inspect.stderr
    (info,) = json.loads(inspect.stdout)
    config = info["Config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["nsprobe"]
    labels = config["Labels"]
    for key in ("title", "description", "version", "revision", "created", "licenses", "base.name"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.title"] == "nsprobe"


def test_runtime_image_holds_the_venv_but_not_the_build_inputs(podman: Podman, image: str) -> None:
    out = _run(
        podman,
        image,
        "-c",
        "import os, sys; print(sys.prefix, os.path.exists('/src'), os.path.exists('/opt/build-ca'))",
        entrypoint="/opt/venv/bin/python",
    )
    assert out.split() == ["/opt/venv", "False", "False"]


def test_dockerignore_keeps_the_context_small() -> None:
    ignore = (chartkit.ROOT / ".dockerignore").read_text().split()
    assert ignore[ignore.index("*")] == "*"
    assert {"!pyproject.toml", "!operator/", "!plugin/"} <= set(ignore)
    assert pathlib.Path(chartkit.ROOT / "Dockerfile").read_text().count("FROM ${BASE_IMAGE}") == 2
