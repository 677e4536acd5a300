"""Typed NsProbeConfig spec with defaults and validation; read by the operator's reconcilers."""

from __future__ import annotations

import dataclasses
import fnmatch
import typing

import nsprobe

SecurityProfile = typing.Literal["privileged", "minimal"]
PullPolicy = typing.Literal["Always", "IfNotPresent", "Never"]
GROUP = "nsprobe.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
DEFAULT_CONFIG_NAME = "default"
DEFAULT_IMAGE = f"ghcr.io/nsprobe/nsprobe:{nsprobe.__version__}"
DEFAULT_INTERVAL_SECONDS = 30
DEFAULT_METRICS_PORT = 9808
# Namespaces whose pods the operator never probes unless the config says otherwise: nothing by default,
# because kube-system pods are exactly the ones that share host namespaces.
DEFAULT_EXCLUDE: tuple[str, ...] = ()


class SpecError(ValueError):
    """An NsProbeConfig spec that can't be honoured; the message names the field."""


@dataclasses.dataclass(frozen=True)
class NamespaceFilter:
    """Which namespaces get PodProbes: shell-style globs; empty include means every namespace."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE

    def allows(self, namespace: str) -> bool:
        if any(fnmatch.fnmatchcase(namespace, pattern) for pattern in self.exclude):
            return False
        return not self.include or any(fnmatch.fnmatchcase(namespace, pattern) for pattern in self.include)


@dataclasses.dataclass(frozen=True)
class ConfigSpec:
    image: str = DEFAULT_IMAGE
    image_pull_policy: PullPolicy = "IfNotPresent"
    scan_interval_seconds: int = DEFAULT_INTERVAL_SECONDS
    security_profile: SecurityProfile = "privileged"
    tolerations: tuple[dict[str, typing.Any], ...] = ({"operator": "Exists"},)
    node_selector: dict[str, str] = dataclasses.field(default_factory=dict)
    resources: dict[str, typing.Any] = dataclasses.field(
        default_factory=lambda: {
            "requests": {"cpu": "20m", "memory": "64Mi"},
            "limits": {"memory": "256Mi"},
        }
    )
    namespaces: NamespaceFilter = NamespaceFilter()
    metrics_port: int = DEFAULT_METRICS_PORT
    priority_class_name: str | None = None


def parse_spec(raw: typing.Mapping[str, typing.Any] | None) -> ConfigSpec:
    """NsProbeConfig .spec (as the API returns it) to a ConfigSpec; missing fields take defaults."""
    raw = raw or {}
    defaults = ConfigSpec()
    interval = int(raw.get("scanIntervalSeconds", defaults.scan_interval_seconds))
    if not 5 <= interval <= 3600:
        raise SpecError(f"spec.scanIntervalSeconds must be within 5..3600, got {interval}")
    profile = raw.get("securityProfile", defaults.security_profile)
    if profile not in ("privileged", "minimal"):
        raise SpecError(f"spec.securityProfile must be privileged or minimal, got {profile!r}")
    pull = raw.get("imagePullPolicy", defaults.image_pull_policy)
    if pull not in ("Always", "IfNotPresent", "Never"):
        raise SpecError(f"spec.imagePullPolicy must be Always, IfNotPresent or Never, got {pull!r}")
    port = int(raw.get("metricsPort", defaults.metrics_port))
    if not 1 <= port <= 65535:
        raise SpecError(f"spec.metricsPort must be a TCP port, got {port}")
    ns = raw.get("namespaces") or {}
    tolerations = raw.get("tolerations")
    return ConfigSpec(
        image=str(raw.get("image") or defaults.image),
        image_pull_policy=pull,
        scan_interval_seconds=interval,
        security_profile=profile,
        tolerations=tuple(dict(t) for t in tolerations) if tolerations is not None else defaults.tolerations,
        node_selector={str(k): str(v) for k, v in (raw.get("nodeSelector") or {}).items()},
        resources=dict(raw["resources"]) if raw.get("resources") is not None else defaults.resources,
        namespaces=NamespaceFilter(
            include=tuple(str(n) for n in ns.get("include") or ()),
            exclude=tuple(str(n) for n in ns.get("exclude") or DEFAULT_EXCLUDE),
        ),
        metrics_port=port,
        priority_class_name=raw.get("priorityClassName") or None,
    )
