"""Shared pytest fixtures: kernel scenarios (root only); the control plane is in conftest_controlplane."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from nsprobe.testing import scenarios as scenarios_mod

pytest_plugins = ["tests.conftest_controlplane"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="kernel scenarios need root (unshare, mount, cgroup v1 directories)")
    for item in items:
        if "kernel" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def scenarios() -> Iterator[scenarios_mod.Scenarios]:
    with scenarios_mod.Scenarios() as bed:
        yield bed
