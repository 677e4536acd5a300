"""`python -m nsprobe.testing.controlplane up/down` starts a detached bed, reuses it, and stops it by pid."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from nsprobe.testing import controlplane

pytestmark = [pytest.mark.controlplane, pytest.mark.slow]


def _cli(args: list[str], *, base: pathlib.Path, bin_dir: pathlib.Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **{controlplane.BASE_ENV: str(base), controlplane.BIN_ENV: str(bin_dir)})
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.run(
        [sys.executable, "-m", "nsprobe.testing.controlplane", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _exports(stdout: str) -> dict[str, str]:
    pairs = [line.removeprefix("export ").split("=", 1) for line in stdout.splitlines()]
    return {key: value for key, value in pairs}


def test_up_reuses_running_bed_up_new_adds_one_and_down_stops_them(
    control_plane: controlplane.ControlPlane, tmp_path: pathlib.Path
) -> None:
    base = tmp_path / "beds"
    first = _cli(["up"], base=base, bin_dir=control_plane.bin_dir)
    assert first.returncode == 0, first.stderr
    kubeconfig = _exports(first.stdout)["KUBECONFIG"]
    assert _exports(first.stdout)["PATH"] == f"{control_plane.bin_dir}:$PATH"
    bed = controlplane.ControlPlane.attach(pathlib.Path(kubeconfig).parent)
    try:
        # The CLI process has exited; the bed it started must keep running.
        assert all(bed.running().values())
        readyz = subprocess.run(
            [str(control_plane.bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", "get", "--raw", "/readyz"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert readyz.stdout.strip() == "ok"

        again = _cli(["up"], base=base, bin_dir=control_plane.bin_dir)
        assert again.returncode == 0, again.stderr
        assert _exports(again.stdout)["KUBECONFIG"] == kubeconfig
        assert "already running" in again.stderr

        extra = _cli(["up", "--new"], base=base, bin_dir=control_plane.bin_dir)
        assert extra.returncode == 0, extra.stderr
        extra_bed = controlplane.ControlPlane.attach(
            pathlib.Path(_exports(extra.stdout)["KUBECONFIG"]).parent
        )
        assert extra_bed.root != bed.root
        assert extra_bed.ports.apiserver != bed.ports.apiserver
        status = _cli(["status"], base=base, bin_dir=control_plane.bin_dir)
        assert status.stdout.count("  running  ") == 2

        down_extra = _cli(["down", "--dir", str(extra_bed.root)], base=base, bin_dir=control_plane.bin_dir)
        assert down_extra.returncode == 0, down_extra.stderr
        assert not any(extra_bed.running().values())
        assert all(bed.running().values())

        down = _cli(["down"], base=base, bin_dir=control_plane.bin_dir)
        assert down.returncode == 0, down.stderr
        assert not any(bed.running().values())
        assert not bed.root.exists()
        assert _cli(["env"], base=base, bin_dir=control_plane.bin_dir).returncode == 1
    finally:
        # Detached beds outlive this process: stop whatever an assertion above left running.
        for state in base.glob(f"{controlplane.DIR_PREFIX}*/{controlplane.STATE_FILE}"):
            controlplane.ControlPlane.attach(state.parent).stop()
