"""Namespace link targets: 'type:[inode]'."""

from __future__ import annotations

import os

import pytest

from nsprobe.probe.parsers import errors, nsfs
from tests.probe.parsers import fixture_files


def test_every_captured_host_link_parses_to_its_type_and_inode() -> None:
    lines = fixture_files.read("nsfs", "host_ns_links.txt").splitlines()
    assert len(lines) == 10
    for line in lines:
        link_name, target = line.split(" ", 1)
        kind, inode = nsfs.parse_ns_link(target)
        assert link_name.removesuffix("_for_children") == kind
        assert inode > 4026531000


def test_live_link_of_this_process() -> None:
    target = os.readlink("/proc/self/ns/net")
    kind, inode = nsfs.parse_ns_link(target)
    assert kind == "net"
    assert inode == os.stat("/proc/self/ns/net").st_ino


@pytest.mark.parametrize("text", ["net:4026531840", "net:[]", "net:[x]", ":[1]", "NET:[1]", "net:[1] ", ""])
def test_malformed_links_raise_parse_error(text: str) -> None:
    with pytest.raises(errors.ParseError):
        nsfs.parse_ns_link(text)
