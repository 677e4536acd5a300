"""Every captured fixture says where it came from."""

from __future__ import annotations

import pathlib

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"


def test_every_fixture_has_a_non_empty_source_sidecar() -> None:
    data_files = [
        path
        for path in FIXTURES.rglob("*")
        if path.is_file()
        and not path.name.endswith(".source")
        and not path.name.endswith(".stat_oracle.json")
    ]
    assert len(data_files) >= 40
    for path in data_files:
        sidecar = path.with_name(path.name + ".source")
        assert sidecar.is_file(), f"{path} has no sidecar"
        text = sidecar.read_text(encoding="utf-8")
        assert text.startswith(("captured on the nsprobe CI VM", "public:")), sidecar
