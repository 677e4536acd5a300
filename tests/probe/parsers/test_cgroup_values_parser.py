"""Single-value cgroup files: v1 unlimited sentinel, v2 'max', CFS quota/period and cpu.max."""

from __future__ import annotations

import pytest

from nsprobe.probe.parsers import cgroup_values, errors
from tests.probe.parsers import fixture_files


def _read(name: str) -> str:
    return fixture_files.read("cgroup_values", name)


def test_v1_memory_limit() -> None:
    assert cgroup_values.parse_memory_limit_v1(_read("v1_memory_limit_in_bytes_unlimited.txt")) is None
    assert cgroup_values.parse_memory_limit_v1(_read("v1_memory_limit_in_bytes_512m.txt")) == 536870912
    assert cgroup_values.parse_memory_limit_v1("9223372036854710272\n") is None  # 64 KiB pages
    assert cgroup_values.parse_memory_limit_v1(f"{2**62 - 1}\n") == 2**62 - 1


def test_v2_memory_max() -> None:
    assert cgroup_values.parse_memory_max_v2(_read("v2_memory_max_unlimited.txt")) is None
    assert cgroup_values.parse_memory_max_v2(_read("v2_memory_max_42m.txt")) == 44040192


def test_v1_cfs_quota() -> None:
    period = _read("v1_cpu_cfs_period_us_default.txt")
    unlimited = cgroup_values.parse_cfs_quota(_read("v1_cpu_cfs_quota_us_unlimited.txt"), period)
    assert unlimited == cgroup_values.CpuQuota(quota_us=None, period_us=100000)
    assert unlimited.cores is None
    limited = cgroup_values.parse_cfs_quota(_read("v1_cpu_cfs_quota_us_150000.txt"), period)
    assert limited == cgroup_values.CpuQuota(quota_us=150000, period_us=100000)
    assert limited.cores == pytest.approx(1.5)


def test_v2_cpu_max() -> None:
    assert cgroup_values.parse_cpu_max(_read("v2_cpu_max_default.txt")) == cgroup_values.CpuQuota(
        None, 100000
    )
    quota = cgroup_values.parse_cpu_max(_read("v2_cpu_max_0_42_cpus.txt"))
    assert quota == cgroup_values.CpuQuota(42000, 100000)
    assert quota.cores == pytest.approx(0.42)


def test_pids_max() -> None:
    assert cgroup_values.parse_pids_max(_read("pids_max_unlimited.txt")) is None
    assert cgroup_values.parse_pids_max(_read("pids_max_4096.txt")) == 4096


def test_int_value_allows_negative() -> None:
    assert cgroup_values.parse_int_value("-1\n") == -1
    assert cgroup_values.parse_int_value("395513856\n") == 395513856


@pytest.mark.parametrize(
    ("func", "text"),
    [
        (cgroup_values.parse_memory_limit_v1, "max\n"),
        (cgroup_values.parse_memory_limit_v1, "-1\n"),
        (cgroup_values.parse_memory_max_v2, "1G\n"),
        (cgroup_values.parse_memory_max_v2, ""),
        (cgroup_values.parse_memory_max_v2, "1\n2\n"),
        (cgroup_values.parse_cpu_max, "max\n"),
        (cgroup_values.parse_cpu_max, "max 0\n"),
        (cgroup_values.parse_cpu_max, "0 100000\n"),
        (cgroup_values.parse_cpu_max, "50000 100000 1\n"),
        (cgroup_values.parse_pids_max, "unlimited\n"),
        (cgroup_values.parse_int_value, "1e3\n"),
        (cgroup_values.parse_int_value, "1_000\n"),
        (cgroup_values.parse_int_value, "9" * 40 + "\n"),
    ],
)
def test_malformed_values_raise_parse_error(func: object, text: str) -> None:
    assert callable(func)
    with pytest.raises(errors.ParseError):
        func(text)


@pytest.mark.parametrize(("quota", "period"), [("-2\n", "100000\n"), ("0\n", "100000\n"), ("-1\n", "0\n")])
def test_bad_cfs_pairs_raise_parse_error(quota: str, period: str) -> None:
    with pytest.raises(errors.ParseError):
        cgroup_values.parse_cfs_quota(quota, period)
