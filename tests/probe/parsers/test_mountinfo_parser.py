"""mountinfo: fields, octal decoding, separator search, mount lookup and cgroup layout."""

from __future__ import annotations

import json

import pytest

from nsprobe.probe.parsers import errors, mountinfo
from tests.probe.parsers import fixture_files


def _mounts(name: str) -> tuple[mountinfo.Mount, ...]:
    return mountinfo.parse_mountinfo(fixture_files.read("mountinfo", name))


@pytest.mark.parametrize("name", fixture_files.names("mountinfo"))
def test_every_captured_mountinfo_parses_one_mount_per_line(name: str) -> None:
    text = fixture_files.read("mountinfo", name)
    mounts = mountinfo.parse_mountinfo(text)
    assert len(mounts) == text.count("\n")
    for mount in mounts:
        assert mount.mount_point.startswith("/")
        assert mount.fstype


def test_host_mountinfo_fields_are_in_place() -> None:
    mounts = _mounts("host_hybrid_v1.txt")
    memory = next(m for m in mounts if m.mount_point == "/sys/fs/cgroup/memory")
    assert (memory.mount_id, memory.parent_id, memory.major, memory.minor) == (35, 31, 0, 32)
    assert memory.root == "/"
    assert memory.options == ("rw", "relatime")
    assert (memory.fstype, memory.source, memory.super_options) == ("cgroup", "cgroup", ("rw", "memory"))
    assert memory.optional_fields == ()


@pytest.mark.parametrize(
    ("mount_point", "source"),
    [
        ("/tmp/with space", "none"),
        ("/tmp/back\\slash", "none"),
        ("/tmp/tab\tx", "none"),
    ],
)
def test_escaped_mount_points_are_octal_decoded(mount_point: str, source: str) -> None:
    mounts = _mounts("unshare_stacked_tmpfs.txt")
    assert [m.source for m in mounts if m.mount_point == mount_point] == [source]


def test_optional_propagation_fields_are_skipped_but_kept() -> None:
    mounts = {m.mount_point: m for m in _mounts("unshare_stacked_tmpfs.txt")}
    assert mounts["/tmp/sh"].optional_fields == ("shared:1",)
    assert mounts["/tmp/sl"].optional_fields == ("master:1",)
    assert mounts["/tmp/sl"].fstype == "tmpfs"
    assert mounts["/tmp/sl"].source == "shsrc"


def test_hybrid_node_lines_with_shared_tags_keep_fstype_and_controllers() -> None:
    mounts = {m.mount_point: m for m in _mounts("kube_node_hybrid_cgroup_lines.txt")}
    assert mounts["/sys/fs/cgroup/unified"].fstype == "cgroup2"
    assert mounts["/sys/fs/cgroup/cpu,cpuacct"].super_options == ("rw", "cpu", "cpuacct")
    assert mounts["/sys/fs/cgroup/net_cls,net_prio"].optional_fields == ("shared:22",)


def test_a_cgroup_bind_mount_keeps_its_root_inside_the_hierarchy() -> None:
    mounts = {m.mount_point: m for m in _mounts("k8s_docker_pod_cgroup_v1_excerpt.txt")}
    systemd = mounts["/sys/fs/cgroup/systemd"]
    assert systemd.root.startswith("/kubepods/besteffort/pod85401dd3-38cd-47b6-a90a-e16c0e1c06e6/")
    assert "release_agent=/usr/lib/systemd/systemd-cgroups-agent" in systemd.super_options


def test_chroot_without_mount_namespace_has_empty_mountinfo() -> None:
    assert fixture_files.read("mountinfo", "chroot_no_mountns_empty.txt") == ""
    assert mountinfo.parse_mountinfo("") == ()


def test_empty_source_field_is_kept_as_empty_string() -> None:
    (mount,) = mountinfo.parse_mountinfo("50 20 0:60 / /mnt rw,relatime - tmpfs  rw,inode64\n")
    assert (mount.fstype, mount.source, mount.super_options) == ("tmpfs", "", ("rw", "inode64"))


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("/a\\040b", "/a b"),
        ("/a\\011b\\012c", "/a\tb\nc"),
        ("/a\\134b", "/a\\b"),
        ("\\134040", "\\040"),  # decoded once, never twice
        ("/a\\08", "/a\\08"),  # not three octal digits: kept
        ("/a\\400", "/a\\400"),  # above \377: kept
        ("/plain", "/plain"),
    ],
)
def test_decode_octal(raw: str, decoded: str) -> None:
    assert mountinfo.decode_octal(raw) == decoded


@pytest.mark.parametrize(
    "text",
    [
        "1 2 0:3 / /x rw - tmpfs\n",  # nothing after fstype
        "1 2 0:3 / /x rw tmpfs tmpfs rw\n",  # no separator
        "1 2 3 / /x rw - tmpfs tmpfs rw\n",  # no major:minor
        "a 2 0:3 / /x rw - tmpfs tmpfs rw\n",
        "1 2 0:3 / /x rw - tmpfs tmpfs rw\n\n2 1 0:4 / /y rw - tmpfs tmpfs rw\n",  # blank line
        "1 2 0:3 /x rw - tmpfs tmpfs rw\n",  # six fields missing one: '-' taken too early
        "1 2 0:3 / /x rw - tmpfs tmpfs rw\x00\n2",
    ],
)
def test_malformed_lines_raise_parse_error(text: str) -> None:
    with pytest.raises(errors.ParseError):
        mountinfo.parse_mountinfo(text)


def test_find_mount_for_agrees_with_the_kernel_stat_oracle() -> None:
    """Each path's st_dev (captured with os.stat in the same namespace) must be the found mount's device."""
    mounts = _mounts("unshare_stacked_tmpfs.txt")
    oracle = json.loads(
        (fixture_files.FIXTURES / "mountinfo" / "unshare_stacked_tmpfs.stat_oracle.json").read_text()
    )
    assert len(oracle) >= 10
    for path, (major, minor) in oracle.items():
        found = mountinfo.find_mount_for(mounts, path)
        assert found is not None, path
        assert (found.major, found.minor) == (major, minor), path


def test_mount_hidden_under_a_later_parent_mount_is_not_returned() -> None:
    mounts = _mounts("unshare_stacked_tmpfs.txt")
    found = mountinfo.find_mount_for(mounts, "/mnt/inner/file")
    assert found is not None
    assert (found.mount_point, found.source) == ("/mnt", "over")


def test_stacked_mounts_on_tmp_resolve_to_the_last_one() -> None:
    mounts = _mounts("unshare_tmpfs_over_tmp.txt")
    found = mountinfo.find_mount_for(mounts, "/tmp/with space/x")
    assert found is not None
    assert found.source == "over"


TOY = mountinfo.parse_mountinfo(
    "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n"
    "2 1 0:30 / /tmp rw - tmpfs tmpfs rw\n"
    "3 1 0:31 / /tmpx rw - tmpfs other rw\n"
    "4 2 0:32 / /tmp/a rw - tmpfs a rw\n"
)


@pytest.mark.parametrize(
    ("path", "mount_id"),
    [
        ("/tmp", 2),
        ("/tmp/", 2),
        ("//tmp//file", 2),
        ("/tmpx/f", 3),
        ("/tmpxy", 1),
        ("/tmp/a/b", 4),
        ("/tmp/ab", 2),
        ("/", 1),
        ("/var/lib", 1),
    ],
)
def test_find_mount_for_uses_whole_path_components(path: str, mount_id: int) -> None:
    found = mountinfo.find_mount_for(TOY, path)
    assert found is not None
    assert found.mount_id == mount_id


def test_without_a_root_mount_the_longest_prefix_and_last_duplicate_win() -> None:
    mounts = mountinfo.parse_mountinfo(
        "20 10 0:30 / /tmp rw - tmpfs first rw\n"
        "21 10 0:31 / /tmp rw - tmpfs second rw\n"
        "22 10 0:32 / /var rw - tmpfs var rw\n"
    )
    found = mountinfo.find_mount_for(mounts, "/tmp/x")
    assert found is not None and found.source == "second"
    assert mountinfo.find_mount_for(mounts, "/etc") is None
    assert mountinfo.find_mount_for((), "/tmp") is None


def test_find_mount_for_rejects_relative_paths() -> None:
    with pytest.raises(errors.ParseError):
        mountinfo.find_mount_for(TOY, "tmp")


@pytest.mark.parametrize(
    ("name", "layout"),
    [
        ("host_hybrid_v1.txt", "hybrid"),
        ("kube_node_hybrid_cgroup_lines.txt", "hybrid"),
        ("k8s_containerd_pod_cgroup2_excerpt.txt", "v2"),
        ("docker_for_mac_container_cgroup2_ro.txt", "v2"),
        ("k3d_node_in_docker_cgroup_v1.txt", "v1"),
        ("k8s_docker_pod_cgroup_v1_excerpt.txt", "none"),  # only name=systemd: no controller
        ("pivot_root_tmpfs_root.txt", "none"),
    ],
)
def test_cgroup_layout(name: str, layout: str) -> None:
    assert mountinfo.cgroup_layout(_mounts(name)) == layout


def test_name_only_v1_hierarchy_next_to_cgroup2_is_v2() -> None:
    mounts = [
        m
        for m in _mounts("kube_node_hybrid_cgroup_lines.txt")
        if m.mount_point.endswith(("unified", "systemd"))
    ]
    assert len(mounts) == 2
    assert mountinfo.cgroup_layout(mounts) == "v2"
