"""uid_map/gid_map: ranges, empty maps, and translation of inside ids to host ids."""

from __future__ import annotations

import pytest

from nsprobe.probe import model
from nsprobe.probe.parsers import errors, idmap
from tests.probe.parsers import fixture_files


def _map(name: str) -> tuple[model.IdMapEntry, ...]:
    return idmap.parse_id_map(fixture_files.read("idmap", name))


@pytest.mark.parametrize(
    ("name", "entries"),
    [
        ("initial_ns_uid_map.txt", ((0, 0, 4294967295),)),
        ("map_root_user_uid_map.txt", ((0, 0, 1),)),
        (
            "parent_written_three_ranges_uid_map.txt",
            ((0, 100000, 1000), (1000, 1000, 1), (1001, 101001, 64535)),
        ),
        ("parent_written_gid_map.txt", ((0, 200000, 65536),)),
        ("unwritten_uid_map_empty.txt", ()),
    ],
)
def test_parse_captured_maps(name: str, entries: tuple[tuple[int, int, int], ...]) -> None:
    assert _map(name) == tuple(model.IdMapEntry(*entry) for entry in entries)


@pytest.mark.parametrize(
    ("inside", "outside"),
    [(0, 100000), (999, 100999), (1000, 1000), (1001, 101001), (65535, 165535), (65536, None), (-1, None)],
)
def test_map_to_host_with_three_ranges(inside: int, outside: int | None) -> None:
    assert idmap.map_to_host(_map("parent_written_three_ranges_uid_map.txt"), inside) == outside


def test_unmapped_namespace_maps_nothing() -> None:
    assert idmap.map_to_host(_map("unwritten_uid_map_empty.txt"), 0) is None


def test_initial_namespace_maps_identity() -> None:
    assert idmap.map_to_host(_map("initial_ns_uid_map.txt"), 4294967294) == 4294967294


@pytest.mark.parametrize(
    "text", ["0 0\n", "0 0 0\n", "a 0 1\n", "0 0 1 2\n", "0 -1 1\n", "0 4294967296 1\n", "0 0 4294967297\n"]
)
def test_malformed_maps_raise_parse_error(text: str) -> None:
    with pytest.raises(errors.ParseError):
        idmap.parse_id_map(text)
