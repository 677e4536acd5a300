"""/proc/sysvipc/*: header-located columns, signed keys, object counts."""

from __future__ import annotations

import pytest

from nsprobe.probe.parsers import errors, sysvipc
from tests.probe.parsers import fixture_files


def test_shm_segments_match_ipcs_in_the_same_namespace() -> None:
    segments = sysvipc.parse_sysvipc_shm(fixture_files.read("sysvipc", "shm_two_segments.txt"))
    # `ipcs -m` listed keys 0x57f29d91 and 0x053a3939 with sizes 1000 and 1048576 (see the .source sidecar).
    assert [(s.key, s.size) for s in segments] == [(0x57F29D91, 1000), (0x053A3939, 1048576)]
    assert [s.nattch for s in segments] == [1, 0]
    assert [s.shmid for s in segments] == [0, 1]
    assert segments[0].cpid == 9442 and segments[0].uid == 0


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("msg_three_queues.txt", 3),
        ("sem_one_set.txt", 1),
        ("msg_empty_ns.txt", 0),
        ("sem_empty_ns.txt", 0),
        ("shm_empty_ns.txt", 0),
        ("shm_two_segments.txt", 2),
    ],
)
def test_object_counts(name: str, count: int) -> None:
    assert sysvipc.parse_sysvipc_count(fixture_files.read("sysvipc", name)) == count


def test_negative_keys_are_signed() -> None:
    text = fixture_files.read("sysvipc", "msg_three_queues.txt")
    assert "-1707918099" in text
    assert sysvipc.parse_sysvipc_count(text) == 3


def test_columns_are_found_by_name_not_position() -> None:
    text = (
        "       key      shmid  uid perms  size cpid nattch\n"
        "        17          3  1000   600  4096   42      2\n"
    )
    (segment,) = sysvipc.parse_sysvipc_shm(text)
    assert (segment.key, segment.shmid, segment.uid, segment.size, segment.cpid, segment.nattch) == (
        17,
        3,
        1000,
        4096,
        42,
        2,
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1 2 3\n",
        "       key      shmid perms\n 1 2\n",
        "       key      semid perms      nsems\n",  # shm parser needs size etc.
        "       key      shmid perms                  size  cpid  lpid nattch   uid\n 1 0 644 x 1 1 1 0\n",
    ],
)
def test_malformed_shm_raises_parse_error(text: str) -> None:
    with pytest.raises(errors.ParseError):
        sysvipc.parse_sysvipc_shm(text)
