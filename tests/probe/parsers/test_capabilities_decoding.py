"""Capability names, decoding of masks, and the 'privileged' test against the host bounding set."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from nsprobe.probe.parsers import capabilities, errors, status
from tests.probe.parsers import fixture_files


def test_names_follow_the_kernel_bit_numbers() -> None:
    names = capabilities.CAPABILITY_NAMES
    assert len(names) == 41
    assert (names[0], names[21], names[24], names[37], names[40]) == (
        "CAP_CHOWN",
        "CAP_SYS_ADMIN",
        "CAP_SYS_RESOURCE",
        "CAP_AUDIT_READ",
        "CAP_CHECKPOINT_RESTORE",
    )
    assert len(set(names)) == len(names)


@pytest.mark.parametrize(
    ("mask", "names"),
    [
        (0, ()),
        (1, ("CAP_CHOWN",)),
        (1 << 21 | 1 << 12, ("CAP_NET_ADMIN", "CAP_SYS_ADMIN")),
        (1 << 41 | 1 << 63, ("CAP_41", "CAP_63")),
    ],
)
def test_decode_capabilities(mask: int, names: tuple[str, ...]) -> None:
    assert capabilities.decode_capabilities(mask) == names


def test_decode_rejects_negative_masks() -> None:
    with pytest.raises(errors.ParseError):
        capabilities.decode_capabilities(-1)


@pytest.mark.skipif(shutil.which("capsh") is None, reason="capsh (libcap2-bin) is not installed")
@pytest.mark.parametrize("mask", [0x1FFFEFFFFFF, 0xA80425FB, 0x3FFFFFFFFF, 1 << 40 | 1 << 38 | 1])
def test_decode_matches_capsh(mask: int) -> None:
    out = subprocess.run(["capsh", f"--decode={mask:x}"], check=True, capture_output=True, text=True).stdout
    theirs = out.strip().split("=", 1)[1].split(",")
    assert [name.lower() for name in capabilities.decode_capabilities(mask)] == theirs


def _cap(name: str, field: str) -> int:
    value = getattr(status.parse_status(fixture_files.read("status", name)), field)
    assert isinstance(value, int)
    return value


def test_privileged_container_on_this_vm_matches_the_userland_bounding_set() -> None:
    host_bnd = _cap("host_root_no_sys_resource.txt", "cap_bnd")
    assert capabilities.is_privileged(_cap("host_root_no_sys_resource.txt", "cap_eff"), host_bnd)
    assert not capabilities.is_privileged(_cap("no_new_privs_uid1000.txt", "cap_eff"), host_bnd)
    docker_default = 0xA80425FB  # CapEff of a default docker/containerd container
    assert not capabilities.is_privileged(docker_default, host_bnd)


def test_kthreadd_bounding_set_is_wider_than_userland_on_this_vm() -> None:
    """Kernel threads keep all 41 bits; userland lost CAP_SYS_RESOURCE. Use a userland reference."""
    kthread_bnd = _cap("kthreadd.txt", "cap_bnd")
    assert kthread_bnd == capabilities.ALL_KNOWN_MASK
    assert not capabilities.is_privileged(_cap("host_root_no_sys_resource.txt", "cap_eff"), kthread_bnd)


def test_without_a_host_reference_all_but_sys_resource_counts() -> None:
    assert capabilities.is_privileged(0x1FFFEFFFFFF, None)
    assert capabilities.is_privileged(capabilities.ALL_KNOWN_MASK, None)
    assert not capabilities.is_privileged(0x1FFFEFFFFFF & ~(1 << 21), None)
    assert capabilities.is_privileged(0x1FFFEFFFFFF, 0)  # a zero reference is no reference
