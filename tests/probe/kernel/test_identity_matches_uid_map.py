"""User namespaces on the real kernel: host root, root mapped to host root, and root mapped to 100000."""

from __future__ import annotations

import pytest

from nsprobe.probe import model
from nsprobe.testing import scenarios as sc
from tests.probe.kernel import oracles

pytestmark = pytest.mark.kernel


def _identity(container: sc.Container) -> tuple[model.ContainerReport, model.IdentityReport]:
    report = oracles.report_for(oracles.scan(), container.container_id)
    assert isinstance(report.identity, model.IdentityReport), report.identity
    return report, report.identity


def _oracle_root_host_uid(pid: int) -> int:
    with open(f"/proc/{pid}/uid_map") as handle:
        for line in handle:
            inside, outside, count = map(int, line.split())
            if inside <= 0 < inside + count:
                return outside
    raise AssertionError("uid 0 unmapped")


def test_uid0_in_host_user_namespace_is_root_in_host_userns(scenarios: sc.Scenarios) -> None:
    container = scenarios.start()
    report, identity = _identity(container)
    assert oracles.lsns(container.pid)["user"] == oracles.lsns(2)["user"]
    assert (identity.uid, identity.userns_mode, identity.root_host_uid) == (0, "host", 0)
    assert "ROOT_IN_HOST_USERNS" in {f.code for f in report.findings}


def test_map_root_user_is_private_but_maps_to_host_root(scenarios: sc.Scenarios) -> None:
    container = scenarios.start(unshare=("--user", "--map-root-user", "--mount", "--pid", "--fork"))
    report, identity = _identity(container)
    assert oracles.lsns(container.pid)["user"] != oracles.lsns(2)["user"]
    assert identity.userns_mode == "private-root-mapped-to-host-root"
    assert identity.root_host_uid == _oracle_root_host_uid(container.pid) == 0
    assert [(e.inside, e.outside, e.count) for e in identity.uid_map] == [(0, 0, 1)]
    codes = {f.code for f in report.findings}
    assert "USERNS_ROOT_MAPS_TO_HOST_ROOT" in codes
    assert "ROOT_IN_HOST_USERNS" not in codes


def test_root_mapped_to_100000_is_a_private_user_namespace(scenarios: sc.Scenarios) -> None:
    container = scenarios.start(
        unshare=("--user", "--mount", "--pid", "--fork"),
        uid_map="0 100000 65536",
        command=["/bin/sleep", "infinity"],
    )
    report, identity = _identity(container)
    assert identity.userns_mode == "private"
    assert identity.root_host_uid == _oracle_root_host_uid(container.pid) == 100000
    assert identity.uid == 0  # uid 0 inside, which is 100000 on the host
    assert identity.privileged is False
    codes = {f.code for f in report.findings}
    assert not codes & {"ROOT_IN_HOST_USERNS", "USERNS_ROOT_MAPS_TO_HOST_ROOT", "PRIVILEGED_CONTAINER"}


def test_privileged_process_holds_the_hosts_full_bounding_set(scenarios: sc.Scenarios) -> None:
    container = scenarios.start()
    _, identity = _identity(container)
    with open(f"/proc/{container.pid}/status") as handle:
        cap_eff = next(line.split()[1] for line in handle if line.startswith("CapEff:"))
    assert identity.cap_eff_hex == cap_eff
    assert "CAP_SYS_ADMIN" in identity.capabilities
    assert identity.privileged is True


def test_unprivileged_container_in_host_userns_is_a_hostusers_false_candidate(
    scenarios: sc.Scenarios,
) -> None:
    container = scenarios.start(
        command=["setpriv", "--bounding-set=-all", "--inh-caps=-all", "sleep", "infinity"],
        expect_comm="sleep",
    )
    report, identity = _identity(container)
    assert identity.cap_eff_hex == "0000000000000000"
    assert identity.privileged is False
    codes = {f.code for f in report.findings}
    assert {"ROOT_IN_HOST_USERNS", "HOSTUSERS_FALSE_CANDIDATE"} <= codes
    assert "PRIVILEGED_CONTAINER" not in codes


def test_container_sharing_the_host_pid_namespace_is_no_hostusers_false_candidate(
    scenarios: sc.Scenarios,
) -> None:
    container = scenarios.start(
        command=["setpriv", "--bounding-set=-all", "--inh-caps=-all", "sleep", "infinity"],
        expect_comm="sleep",
        unshare=("--mount", "--uts", "--net", "--ipc"),
    )
    report, _ = _identity(container)
    codes = {f.code for f in report.findings}
    assert "HOST_PID_NAMESPACE" in codes
    assert "HOSTUSERS_FALSE_CANDIDATE" not in codes
