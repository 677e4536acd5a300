"""Turns reports into JSON-able dicts with camelCase keys; `nsprobe scan -o json` and CRD status share it."""

from __future__ import annotations

import dataclasses
import typing

from nsprobe.probe import model

JSON = typing.Any  # a value json.dumps accepts


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def to_dict(value: object) -> JSON:
    """Dataclasses become dicts. A whole section that is Unknown becomes {"unknown": reason}; a single
    unknown field becomes null and its reason is listed under the section's "unknown" key."""
    if isinstance(value, model.Unknown):
        return {"unknown": value.reason}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, JSON] = {}
        unknown: list[str] = []
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            key = camel(field.name)
            if isinstance(item, model.Unknown) and _is_scalar_field(field):
                out[key] = None
                unknown.append(f"{key}: {item.reason}")
            else:
                out[key] = to_dict(item)
        if unknown:
            out["unknown"] = "; ".join(unknown)
        return out
    if isinstance(value, tuple | list):
        return [to_dict(item) for item in value]
    if isinstance(value, dict):
        return {str(k): to_dict(v) for k, v in value.items()}
    return value


def _is_scalar_field(field: dataclasses.Field[typing.Any]) -> bool:
    # Section fields are typed "SomeReport | Unknown"; scalar ones "int | Unknown" / "str | Unknown".
    annotation = str(field.type)
    return not any(word in annotation for word in ("Report", "tuple["))


def scan_to_dict(result: model.ScanResult) -> JSON:
    return {
        "kind": "NodeScan",
        "kubernetes": result.kubernetes,
        "scannedAt": result.scanned_at,
        "durationSeconds": round(result.duration_seconds, 6),
        "node": to_dict(result.node),
        "containers": [to_dict(c) for c in result.containers],
        "errors": [to_dict(e) for e in result.errors],
    }
