"""Fixtures for the chart tests: the helm binary (skipped, or failed in CI, when it is not built)."""

from __future__ import annotations

import os
import pathlib

import pytest

from tests.charts import chartkit


@pytest.fixture(scope="session")
def helm_bin() -> pathlib.Path:
    try:
        return chartkit.helm_binary()
    except chartkit.HelmMissingError as error:
        if os.environ.get("NSPROBE_REQUIRE_CONTROLPLANE", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(f"NSPROBE_REQUIRE_CONTROLPLANE is set but {error}", pytrace=False)
        pytest.skip(str(error))
