"""Pod uid, container id, runtime, QoS and driver from kubelet cgroup paths (cgroupfs and systemd)."""

from __future__ import annotations

import typing

import pytest

from nsprobe.probe.parsers import kubepods, proc_cgroup
from tests.probe.parsers import fixture_files

CID = "7aa076569f75780fdfbf2169a328867bb953e6c6ed68c0529c46a0afdaebc30a"
UID = "3f1a9c2e-7b44-4d0a-9e51-2c8d6b7f0a13"

# (path, pod_uid, container_id, runtime, qos, driver, is_conmon). Paths marked "public" are copied from the
# issue named in tests/probe/fixtures/proc_cgroup/*.source or cited inline.
CASES = [
    (f"/kubepods/burstable/pod{UID}/{CID}", UID, CID, None, "burstable", "cgroupfs", False),
    (f"/kubepods/besteffort/pod{UID}/{CID}", UID, CID, None, "besteffort", "cgroupfs", False),
    (f"/kubepods/pod{UID}/{CID}", UID, CID, None, "guaranteed", "cgroupfs", False),
    (f"/kubepods/burstable/pod{UID}", UID, None, None, "burstable", "cgroupfs", False),
    (f"/kubepods/burstable/pod{UID}/crio-{CID}", UID, CID, "crio", "burstable", "cgroupfs", False),
    (f"/kubepods/burstable/pod{UID}/crio-conmon-{CID}", UID, None, "crio", "burstable", "cgroupfs", True),
    (
        f"/nsprobe-fixture-ef5c0e92/kubepods/burstable/pod{UID}/{CID}",
        UID,
        CID,
        None,
        "burstable",
        "cgroupfs",
        False,
    ),
    (f"/docker/{CID}/kubepods/besteffort/pod{UID}/{CID}", UID, CID, None, "besteffort", "cgroupfs", False),
    (f"/kubepods/burstable/pod{UID}/{CID}/init.scope", UID, CID, None, "burstable", "cgroupfs", False),
    # public: opencontainers/runc#4620
    (
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poda5c1f8d5_1919_434d_add7_4afaafdaef89.slice/"
        "crio-5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c.scope",
        "a5c1f8d5-1919-434d-add7-4afaafdaef89",
        "5eed917563583925ffdbd40a64efb2aaffe58638e57add8becaf460fe74f5b1c",
        "crio",
        "burstable",
        "systemd",
        False,
    ),
    # public: opencontainers/runc#4620 (systemctl status of the conmon scope)
    (
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod207aaad1_659f_4db8_88e0_46e0cdcc3004.slice/"
        "crio-conmon-32da98c8522068be05a7510a3eddb09cad6ed2f03286180d0e931d0d0b6224a6.scope",
        "207aaad1-659f-4db8-88e0-46e0cdcc3004",
        None,
        "crio",
        "burstable",
        "systemd",
        True,
    ),
    # public: lxc/lxc#3890
    (
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7d4424e6_bb13_42f4_a47a_45a4828bf54d.slice/"
        "docker-d0b3604b67ac7930dd34ba3a796627e3e4717d12309e90a4afe3f38b6816ac98.scope",
        "7d4424e6-bb13-42f4-a47a-45a4828bf54d",
        "d0b3604b67ac7930dd34ba3a796627e3e4717d12309e90a4afe3f38b6816ac98",
        "docker",
        "burstable",
        "systemd",
        False,
    ),
    # public: containerd/nri#227 (kind node, kubelet-prefixed slices)
    (
        "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
        "kubelet-kubepods-besteffort-pod1e597579_417e_482f_bf65_5fe170c3aebd.slice/"
        "cri-containerd-d7dfb4a21fe1703a8537e60d5af248af729315d187b24a538102d14874c8117d.scope",
        "1e597579-417e-482f-bf65-5fe170c3aebd",
        "d7dfb4a21fe1703a8537e60d5af248af729315d187b24a538102d14874c8117d",
        "containerd",
        "besteffort",
        "systemd",
        False,
    ),
    # public: netdata/netdata#4868 (static pod: config-hash uid, guaranteed slice shape adapted)
    (
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod187bff14cccb94f179e943eacce55bb3.slice/"
        "cri-containerd-c203a2647ef1ad78e990157c50331f3b6ef0b03336cf08535d6bf7faa5421415.scope",
        "187bff14cccb94f179e943eacce55bb3",
        "c203a2647ef1ad78e990157c50331f3b6ef0b03336cf08535d6bf7faa5421415",
        "containerd",
        "burstable",
        "systemd",
        False,
    ),
    (
        f"/kubepods.slice/kubepods-pod{UID.replace('-', '_')}.slice/cri-containerd-{CID}.scope",
        UID,
        CID,
        "containerd",
        "guaranteed",
        "systemd",
        False,
    ),
    (
        f"/kubepods.slice/kubepods-pod{UID.replace('-', '_')}.slice",
        UID,
        None,
        None,
        "guaranteed",
        "systemd",
        False,
    ),
    # public: open-telemetry/opentelemetry-java#4507 (systemd notation written literally by containerd)
    (
        "/system.slice/containerd.service/kubepods-besteffort-pod0125ec2f_b64a_4868_8f5b_94b56cbab864.slice:"
        "cri-containerd:ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459",
        "0125ec2f-b64a-4868-8f5b-94b56cbab864",
        "ee4b20e90ac7f42a10bd004d05646b13d8ab5e2c5e7cbc01abf8006bac016459",
        "containerd",
        "besteffort",
        "systemd",
        False,
    ),
]


@pytest.mark.parametrize(("path", "uid", "cid", "runtime", "qos", "driver", "conmon"), CASES)
def test_parse_kubepods_path(
    path: str, uid: str, cid: str | None, runtime: str | None, qos: str, driver: str, conmon: bool
) -> None:
    identity = kubepods.parse_kubepods_path(path)
    assert identity == kubepods.KubepodsIdentity(
        pod_uid=uid,
        container_id=cid,
        runtime=runtime,
        qos_class=qos,
        driver=typing.cast(kubepods.Driver, driver),
        is_conmon=conmon,
    )


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/system.slice/containerd.service",
        "/kubepods",
        "/kubepods/burstable",
        "/kubepods.slice/kubepods-burstable.slice",
        "/kubepods/burstable/notapod",
        "/user.slice/user-1000.slice/session-2.scope",
        "/process_api/d152842df9c5310736e490b06eb2d819",
        "/mykubepods/pod3f1a9c2e-7b44-4d0a-9e51-2c8d6b7f0a13/x",
    ],
)
def test_non_pod_paths_give_none(path: str) -> None:
    assert kubepods.parse_kubepods_path(path) is None


def test_captured_cgroupns_file_identifies_the_container_from_every_line() -> None:
    entries = proc_cgroup.parse_proc_cgroup(
        fixture_files.read("proc_cgroup", "v1_cgroupfs_kubepods_burstable_cgroupns.txt")
    )
    identities = {kubepods.parse_kubepods_path(entry.path) for entry in entries}
    assert identities == {kubepods.KubepodsIdentity(UID, CID, None, "burstable", "cgroupfs")}


@pytest.mark.parametrize(
    ("name", "expected_prefix"),
    [
        ("v1_cgroupfs_kubepods_burstable_cgroupns.txt", "/kubepods/burstable/"),
        ("v1_cgroupfs_kubepods_under_prefix.txt", "/nsprobe-fixture-ef5c0e92/kubepods/"),
        ("crio_systemd_v1_excerpt.txt", "/kubepods.slice/"),
        ("containerd_systemd_notation_in_cgroupfs_excerpt.txt", "/kubepods-besteffort-"),
    ],
)
def test_pick_container_path_from_captured_files(name: str, expected_prefix: str) -> None:
    entries = proc_cgroup.parse_proc_cgroup(fixture_files.read("proc_cgroup", name))
    picked = kubepods.pick_container_path(entries)
    assert picked is not None and picked.startswith(expected_prefix)


def test_pick_container_path_prefers_v2_then_memory_then_name_systemd() -> None:
    a, b, c = (f"/kubepods/burstable/pod{UID}/{x * 64}" for x in "abc")
    v2 = proc_cgroup.CgroupEntry(0, (), a)
    memory = proc_cgroup.CgroupEntry(4, ("memory",), b)
    systemd = proc_cgroup.CgroupEntry(1, ("name=systemd",), c)
    cpu = proc_cgroup.CgroupEntry(2, ("cpu", "cpuacct"), c)
    assert kubepods.pick_container_path([cpu, systemd, memory, v2]) == a
    assert kubepods.pick_container_path([cpu, systemd, memory]) == b
    assert kubepods.pick_container_path([cpu, systemd]) == c
    root_v2 = proc_cgroup.CgroupEntry(0, (), "/")
    assert kubepods.pick_container_path([root_v2, memory]) == b


def test_pick_container_path_is_none_off_kubernetes() -> None:
    for name in ("host_hybrid_v1.txt", "centos7_host_v1_no_unified.txt"):
        entries = proc_cgroup.parse_proc_cgroup(fixture_files.read("proc_cgroup", name))
        assert kubepods.pick_container_path(entries) is None
    assert kubepods.pick_container_path([]) is None
