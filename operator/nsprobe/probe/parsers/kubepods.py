"""Finds the pod uid, container id, runtime and QoS class in a kubelet cgroup path; called by discovery.

The kubelet puts every pod under a "kubepods" cgroup whose layout depends on its cgroup driver
(pkg/kubelet/cm/cgroup_manager_linux.go in Kubernetes; the runtime names the container level):

cgroupfs driver (plain directories)::

    /kubepods/pod<uid>/<id>                          guaranteed
    /kubepods/burstable/pod<uid>/<id>                burstable
    /kubepods/besteffort/pod<uid>/<id>               besteffort

  ``<id>`` is the 64-hex container id for containerd and docker (which runtime is not written anywhere in
  the path, so runtime is None), and ``crio-<id>`` / ``crio-conmon-<id>`` for CRI-O.

systemd driver (slices and scopes; a dash in a unit name means nesting, so the uid's dashes become
underscores)::

    /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/
        cri-containerd-<id>.scope | crio-<id>.scope | docker-<id>.scope | crio-conmon-<id>.scope
    /kubepods.slice/kubepods-pod<uid>.slice/...                                guaranteed

  kind and other nested setups add a prefix to every unit name (``/kubelet.slice/kubelet-kubepods.slice/
  kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod<uid>.slice/...``).

containerd with a systemd-driver kubelet but ``SystemdCgroup = false`` writes the systemd notation
``slice:prefix:name`` literally as one cgroupfs directory, often under containerd's own cgroup::

    /system.slice/containerd.service/kubepods-besteffort-pod<uid>.slice:cri-containerd:<id>

  This is reported as driver "systemd" (the kubelet's naming) with runtime "containerd".

Anything may come before the kubepods level: ``/docker/<id>/kubepods/..`` (a v1 node inside docker),
``/system.slice/docker-<id>.scope/kubelet.slice/..`` (kind seen from its host), or a cgroup-namespace
relative prefix. The first kubepods level in the path is the one used. Levels below the container
(a container that creates its own sub-cgroups) are ignored.

CRI-O's ``crio-conmon-<id>`` cgroup holds conmon, the monitor process, not the container: for it
container_id is None and is_conmon is True, so callers can skip it. Static (mirror) pods have a 32-hex
config hash as uid instead of a UUID; both are accepted. Pod uids are returned with dashes.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Sequence

from nsprobe.probe.parsers import proc_cgroup

Driver = typing.Literal["cgroupfs", "systemd"]

_HEX = "[0-9a-fA-F]"
_UID = rf"(?:{_HEX}{{8}}(?:[-_]{_HEX}{{4}}){{3}}[-_]{_HEX}{{12}}|{_HEX}{{32}})"
_ID = r"[0-9a-fA-F]{12,128}"
_QOS = r"(?P<qos>burstable|besteffort)"

_FS_ROOT = re.compile(r"kubepods", re.ASCII)
_FS_QOS = re.compile(_QOS, re.ASCII)
_FS_POD = re.compile(rf"pod(?P<uid>{_UID})", re.ASCII)
_FS_CONTAINER = re.compile(
    rf"(?:(?P<prefix>crio-conmon|crio|cri-containerd|docker)-)?(?P<id>{_ID})", re.ASCII
)

_SD_ROOT = re.compile(r"(?:[^/]*-)?kubepods\.slice", re.ASCII)
_SD_QOS = re.compile(rf"(?:[^/]*-)?kubepods-{_QOS}\.slice", re.ASCII)
_SD_POD = re.compile(rf"(?:[^/]*-)?kubepods(?:-{_QOS})?-pod(?P<uid>{_UID})\.slice", re.ASCII)
_SD_CONTAINER = re.compile(
    rf"(?P<prefix>crio-conmon|crio|cri-containerd|docker)-(?P<id>{_ID})\.scope", re.ASCII
)
# containerd's "slice:prefix:name" written literally as a directory name.
_SD_INLINE = re.compile(
    rf"(?:[^/]*-)?kubepods(?:-{_QOS})?-pod(?P<uid>{_UID})\.slice:(?P<prefix>[a-z-]+):(?P<id>{_ID})", re.ASCII
)

_RUNTIMES = {
    "cri-containerd": "containerd",
    "crio": "crio",
    "crio-conmon": "crio",
    "docker": "docker",
}


@dataclasses.dataclass(frozen=True)
class KubepodsIdentity:
    """Who a kubepods cgroup path belongs to."""

    pod_uid: str  # with dashes, as the API server shows it
    container_id: str | None  # None for a pod-level path and for CRI-O's conmon cgroup
    runtime: str | None  # containerd | crio | docker; None when the path does not say (cgroupfs hex ids)
    qos_class: str  # guaranteed | burstable | besteffort
    driver: Driver
    is_conmon: bool = False  # the cgroup of CRI-O's conmon monitor, not of the container


def _uid(raw: str) -> str:
    return raw.replace("_", "-").lower()


def _container(match: re.Match[str] | None) -> tuple[str | None, str | None, bool]:
    """(container_id, runtime, is_conmon) from a container-level match."""
    if match is None:
        return None, None, False
    prefix = match.group("prefix")
    runtime = _RUNTIMES.get(prefix) if prefix else None
    if prefix == "crio-conmon":
        return None, runtime, True
    return match.group("id").lower(), runtime, False


def _parse_cgroupfs(parts: list[str], start: int) -> KubepodsIdentity | None:
    index = start + 1
    qos = "guaranteed"
    if index < len(parts) and (qos_match := _FS_QOS.fullmatch(parts[index])) is not None:
        qos = qos_match.group("qos")
        index += 1
    if index >= len(parts) or (pod := _FS_POD.fullmatch(parts[index])) is None:
        return None
    index += 1
    container = _FS_CONTAINER.fullmatch(parts[index]) if index < len(parts) else None
    container_id, runtime, is_conmon = _container(container)
    return KubepodsIdentity(
        pod_uid=_uid(pod.group("uid")),
        container_id=container_id,
        runtime=runtime,
        qos_class=qos,
        driver="cgroupfs",
        is_conmon=is_conmon,
    )


def _parse_systemd(parts: list[str], start: int) -> KubepodsIdentity | None:
    index = start + 1
    if index < len(parts) and _SD_QOS.fullmatch(parts[index]) is not None:
        index += 1
    if index >= len(parts) or (pod := _SD_POD.fullmatch(parts[index])) is None:
        return None
    index += 1
    container = _SD_CONTAINER.fullmatch(parts[index]) if index < len(parts) else None
    container_id, runtime, is_conmon = _container(container)
    return KubepodsIdentity(
        pod_uid=_uid(pod.group("uid")),
        container_id=container_id,
        runtime=runtime,
        qos_class=pod.group("qos") or "guaranteed",
        driver="systemd",
        is_conmon=is_conmon,
    )


def _parse_inline(match: re.Match[str]) -> KubepodsIdentity:
    prefix = match.group("prefix")
    is_conmon = prefix == "crio-conmon"
    return KubepodsIdentity(
        pod_uid=_uid(match.group("uid")),
        container_id=None if is_conmon else match.group("id").lower(),
        runtime=_RUNTIMES.get(prefix),
        qos_class=match.group("qos") or "guaranteed",
        driver="systemd",
        is_conmon=is_conmon,
    )


def parse_kubepods_path(path: str) -> KubepodsIdentity | None:
    """The pod and container a cgroup path belongs to, or None when it is not under a kubepods pod."""
    parts = [part for part in path.split("/") if part]
    for index, part in enumerate(parts):
        if _FS_ROOT.fullmatch(part) is not None:
            return _parse_cgroupfs(parts, index)
        if _SD_ROOT.fullmatch(part) is not None:
            return _parse_systemd(parts, index)
        if (inline := _SD_INLINE.fullmatch(part)) is not None:
            return _parse_inline(inline)
        if _SD_POD.fullmatch(part) is not None:
            # A pod slice without its parents (a cgroup namespace rooted at the QoS slice).
            return _parse_systemd(parts, index - 1)
    return None


def pick_container_path(entries: Sequence[proc_cgroup.CgroupEntry]) -> str | None:
    """The cgroup path to use for discovery, or None when no entry is under a kubepods pod.

    Preference: the v2 ``0::`` entry, then the v1 memory controller, then name=systemd, then the first
    other entry; each only if it parses as a kubepods path.
    """

    def rank(entry: proc_cgroup.CgroupEntry) -> int:
        if entry.is_v2:
            return 0
        if "memory" in entry.controllers:
            return 1
        if "name=systemd" in entry.controllers:
            return 2
        return 3

    ordered = sorted(enumerate(entries), key=lambda pair: (rank(pair[1]), pair[0]))
    for _, entry in ordered:
        if parse_kubepods_path(entry.path) is not None:
            return entry.path
    return None
