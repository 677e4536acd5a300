"""/proc/<pid>/status: ids, capability masks, NSpid, NoNewPrivs, Seccomp, and fields absent on old kernels."""

from __future__ import annotations

import pytest

from nsprobe.probe.parsers import errors, status
from tests.probe.parsers import fixture_files


def _status(name: str) -> status.ProcStatus:
    return status.parse_status(fixture_files.read("status", name))


@pytest.mark.parametrize("name", fixture_files.names("status"))
def test_every_captured_status_parses(name: str) -> None:
    parsed = _status(name)
    assert parsed.pid > 0 or parsed.name == "systemd"
    assert parsed.cap_bnd != 0


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        ("host_root_no_sys_resource.txt", "cap_eff", 0x1FFFEFFFFFF),
        ("host_root_no_sys_resource.txt", "uids", (0, 0, 0, 0)),
        ("host_root_no_sys_resource.txt", "no_new_privs", False),
        ("userns_map_root_user.txt", "cap_eff", 0x1FFFFFFFFFF),
        ("userns_after_exec_no_caps.txt", "cap_bnd", 0x1FFFFFFFFFF),
        ("userns_after_exec_no_caps.txt", "cap_eff", 0),
        ("no_new_privs_uid1000.txt", "uids", (1000, 1000, 1000, 1000)),
        ("no_new_privs_uid1000.txt", "gids", (1000, 1000, 1000, 1000)),
        ("no_new_privs_uid1000.txt", "no_new_privs", True),
        ("seccomp_strict.txt", "seccomp", 1),
        ("seccomp_filter.txt", "seccomp", 2),
        ("seccomp_filter.txt", "no_new_privs", True),
        ("comm_with_parens.txt", "name", "a) b (c)"),
        ("pidns_child_seen_from_host.txt", "nspid", (9038, 2)),
        ("kthreadd.txt", "ppid", 0),
        ("kthreadd.txt", "pid", 2),
        ("ubuntu_6_2_systemd_pid1_excerpt.txt", "cap_amb", 0),
        ("ubuntu_6_2_systemd_pid1_excerpt.txt", "nspid", (1,)),
    ],
)
def test_status_field_values(name: str, field: str, value: object) -> None:
    assert getattr(_status(name), field) == value


def test_pre_4_3_status_reports_absent_fields_as_none() -> None:
    parsed = _status("firefox_pre_4_3_no_capamb_spaces.txt")
    assert (parsed.name, parsed.pid, parsed.ppid) == ("firefox", 3038, 2514)
    assert parsed.cap_bnd == 0x3FFFFFFFFF
    assert (parsed.cap_amb, parsed.nspid, parsed.no_new_privs) == (None, None, None)
    assert parsed.seccomp == 0


def test_seccomp_absent_is_none() -> None:
    text = "\n".join(
        line
        for line in fixture_files.read("status", "kthreadd.txt").splitlines()
        if not line.startswith("Seccomp")
    )
    assert status.parse_status(text).seccomp is None


def test_name_keeps_leading_and_inner_spaces() -> None:
    base = fixture_files.read("status", "kthreadd.txt").replace("Name:\tkthreadd", "Name:\t x: y ")
    assert status.parse_status(base).name == " x: y "


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("CapEff:\t000001ffffffffff", "CapEff:\tzz"),
        ("Uid:\t0\t0\t0\t0", "Uid:\t0\t0\t0"),
        ("Pid:\t2", "Pid:\t-2"),
        ("NoNewPrivs:\t0", "NoNewPrivs:\t2"),
        ("NSpid:\t2", "NSpid:\t"),
        ("Pid:\t2", "Pid2"),
        ("Pid:\t2", "Pid:\t2\nPid:\t3"),
        ("PPid:\t0\n", ""),
        ("Pid:\t2", "Pid:\t\u0663"),  # Arabic-Indic digit: not an ASCII number
    ],
)
def test_malformed_status_raises_parse_error(old: str, new: str) -> None:
    text = fixture_files.read("status", "kthreadd.txt")
    assert old in text
    with pytest.raises(errors.ParseError):
        status.parse_status(text.replace(old, new, 1))
