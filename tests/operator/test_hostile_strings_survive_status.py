"""Hostile strings from the node pass through PodProbe status exactly and reach a terminal only escaped.

The API validates pod, namespace and container names and label values (DNS labels, no control characters),
so the hostile strings a status can carry come from the node. A tmpfs mount's source is whatever the
mounter passed: a container mounts its /tmp with a source holding spaces, a backslash, a tab, a newline,
ANSI escapes, CR, BEL, bidi overrides and isolates, '#', and 3000 bytes of UTF-8. The kernel shows it in
mountinfo (octal-escaping only space, tab, newline, backslash and '#'); it reaches the status as
status.containers[].tmp.source. A second container's source holds bytes that are not UTF-8 at all.

Checked on the real control plane, with the operator (KopfRunner) and the agent (a process over /proc):
the status read back through the API (our client and the bed's real kubectl) equals the kernel's string;
`kubectl nsprobe pod` prints it escaped (no raw ESC, CR, BEL or bidi control; the newline does not start a
line of its own) and `-o json` round-trips it exactly in pure ASCII.
"""

from __future__ import annotations

import calendar
import collections.abc
import contextlib
import dataclasses
import json
import os
import pathlib
import re
import secrets
import subprocess
import sys
import time
import typing

import kopf.testing
import kubernetes.client
import pytest

from kubectl_nsprobe import escape
from nsprobe import kube
from nsprobe.testing import controlplane, nodes
from nsprobe.testing import scenarios as sc
from tests.operator import conftest

pytestmark = [pytest.mark.kernel, pytest.mark.controlplane, pytest.mark.slow]
INTERVAL = 3
VENV_BIN = pathlib.Path(sys.executable).parent
POD = "hostile"
HOSTILE = (
    "evil src\\back\ttab\nnl\x1b[31mred\x1b]0;owned\x07\rcr\u202eexe\u2066iso\u200f #hash "
    "\u00e9\u2713\U0001f600 " + "\u00fc" * 1500
)
# Not UTF-8: the agent reads /proc with surrogateescape, so these bytes arrive as lone surrogates.
NOT_UTF8 = "bad\udcff\udcfebytes\udce2\udc80"
# A terminal must never receive these raw: C0 (but the line feeds the plugin's own lines are), DEL, C1,
# and the Unicode bidi / line-separator controls.
UNSAFE_IN_OUTPUT = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
Json = dict[str, typing.Any]


@dataclasses.dataclass
class World:
    bed: controlplane.ControlPlane
    admin: kube.Kube
    ns: str
    agent: conftest.AgentProcess
    agent_user: str
    containers: dict[str, sc.Container]


def _mount_tmp_as(source: str) -> dict[str, typing.Any]:
    """Scenario options: a container (own mount namespace) that mounts a tmpfs /tmp with ``source``."""
    script = 'mount -t tmpfs -o size=4m "$1" /tmp && exec sleep infinity'
    return {"command": ["/bin/sh", "-c", script, "sh", source], "expect_comm": "sleep"}


@pytest.fixture(scope="module")
def world(
    control_plane: controlplane.ControlPlane,
    kube_api: kubernetes.client.ApiClient,
    admin: kube.Kube,
    node: nodes.NodeHeartbeat,
    system_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> collections.abc.Iterator[World]:
    logs = tmp_path_factory.mktemp("hostile")
    ns = f"hostile-{secrets.token_hex(3)}"
    agent_user = conftest.prepare_world(control_plane, admin, namespace=ns, system_namespace=system_namespace)
    with contextlib.ExitStack() as stack:
        stack.callback(conftest.delete_quietly, admin, f"/api/v1/namespaces/{ns}")
        bed = stack.enter_context(sc.Scenarios())
        stack.enter_context(
            kopf.testing.KopfRunner(["run", "-A", "--standalone", "-m", "nsprobe.handlers.operator"])
        )
        options = {"odd": _mount_tmp_as(HOSTILE), "bytes": _mount_tmp_as(NOT_UTF8)}
        pod = nodes.create_bound_pod(
            kube_api, namespace=ns, node_name=node.name, name=POD, containers=tuple(options)
        )
        containers = {
            name: bed.start(pod_uid=pod["metadata"]["uid"], **opts) for name, opts in options.items()
        }
        nodes.mark_pod_running(
            kube_api,
            namespace=ns,
            name=POD,
            container_ids={name: "containerd://" + c.container_id for name, c in containers.items()},
        )
        agent = conftest.start_agent(
            stack,
            control_plane,
            kube_api,
            system_namespace=system_namespace,
            node_name=node.name,
            logs=logs,
            interval=INTERVAL,
        )
        world = World(control_plane, admin, ns, agent, agent_user, containers)
        conftest.wait_until(lambda: _reason(world) == "Scanned", timeout=90, what="hostile pod Scanned")
        yield world


def _probe(world: World) -> Json:
    return world.admin.get(f"/apis/nsprobe.io/v1alpha1/namespaces/{world.ns}/podprobes/{POD}")


def _reason(world: World) -> str | None:
    conditions = (_probe(world).get("status") or {}).get("conditions") or []
    return next((c["reason"] for c in conditions if c["type"] == "Reported"), None)


def _tmp(status: Json, container: str) -> Json:
    entry = next(c for c in status["containers"] if c["name"] == container)
    tmp: Json = entry["tmp"]
    return tmp


def _kernel_tmp_source(pid: int) -> bytes:
    """The oracle: the source field of /tmp's mount in the raw mountinfo, octal escapes undone, as bytes."""
    with open(f"/proc/{pid}/mountinfo", "rb") as handle:
        lines = handle.read().split(b"\n")
    for line in reversed(lines):  # the last mount on /tmp is the one on top
        fields = line.split(b" ")
        if len(fields) > 4 and fields[4] == b"/tmp":
            tail = fields[fields.index(b"-", 6) + 1 :]
            return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), tail[1])
    raise AssertionError(f"no /tmp mount in /proc/{pid}/mountinfo")


def _run(bed: controlplane.ControlPlane, *argv: str) -> subprocess.CompletedProcess[bytes]:
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(bed.bin_dir), str(VENV_BIN), os.environ.get("PATH", "")]),
        "KUBECONFIG": str(bed.kubeconfig),
        "NO_COLOR": "1",
    }
    return subprocess.run(
        [str(bed.bin_dir / "kubectl"), *argv], env=env, capture_output=True, timeout=60, check=False
    )


def test_the_kernel_holds_the_hostile_sources(world: World) -> None:
    assert _kernel_tmp_source(world.containers["odd"].pid) == HOSTILE.encode()
    assert _kernel_tmp_source(world.containers["bytes"].pid) == os.fsencode(NOT_UTF8)
    assert len(HOSTILE.encode()) > 3000


def test_hostile_source_round_trips_through_the_api_exactly(world: World) -> None:
    status = _probe(world)["status"]
    tmp = _tmp(status, "odd")
    assert tmp["source"] == HOSTILE and tmp["fstype"] == "tmpfs" and tmp["backing"] == "tmpfs"
    # The bed's real kubectl (Go's JSON encoder) reads back the same string.
    done = _run(world.bed, "get", "podprobe", POD, "-n", world.ns, "-o", "json")
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert _tmp(json.loads(done.stdout)["status"], "odd")["source"] == HOSTILE


def test_bytes_that_are_not_utf8_arrive_replaced_and_cause_no_write_storm(world: World) -> None:
    """JSON strings are Unicode: each byte that is not UTF-8 arrives as U+FFFD (as Go's encoder would
    write it), and the status settles: the agent does not rewrite it on every scan."""
    expected = re.sub("[\udc80-\udcff]", "\ufffd", NOT_UTF8)
    assert _tmp(_probe(world)["status"], "bytes")["source"] == expected
    time.sleep(1)
    since = time.time()
    time.sleep(4 * INTERVAL)
    writes = _agent_pod_writes(world, since=since)
    assert len(writes) <= 1, [w["stageTimestamp"] for w in writes]


def _agent_pod_writes(world: World, *, since: float) -> list[Json]:
    found = []
    with world.bed.audit_log.open() as handle:
        for line in handle:
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            if (
                event.get("stage") == "ResponseComplete"
                and event["user"]["username"] == world.agent_user
                and event["verb"] == "patch"
                and (ref.get("resource"), ref.get("namespace"), ref.get("name"))
                == ("podprobes", world.ns, POD)
                and calendar.timegm(time.strptime(event["stageTimestamp"][:19], "%Y-%m-%dT%H:%M:%S")) >= since
            ):
                found.append(event)
    return found


def test_plugin_prints_the_hostile_source_escaped(world: World) -> None:
    done = _run(world.bed, "nsprobe", "pod", POD, "-n", world.ns)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    out = done.stdout.decode("utf-8")  # strict: the plugin's output is valid UTF-8
    bad = sorted({f"U+{ord(c):04X}" for c in UNSAFE_IN_OUTPUT.findall(out)})
    assert not bad, f"raw control characters reached the terminal: {bad}"
    # The source's newline did not start a line of its own.
    assert not any(line.lstrip().startswith("nl\\x1b") or line.startswith("nl") for line in out.splitlines())
    # Every character of the source is there, escaped; only the wrapping of long lines may differ.
    flat = re.sub(r"\s+", " ", out)
    assert re.sub(r"\s+", " ", escape.text(HOSTILE)) in flat
    for shown in ("\\x1b[31mred", "\\x07", "\\r", "\\u202e", "\\u2066", "\\u200f", "\\t", "\\n"):
        assert shown in out, shown


def test_plugin_json_output_round_trips_the_source_in_ascii(world: World) -> None:
    done = _run(world.bed, "nsprobe", "pod", POD, "-n", world.ns, "-o", "json")
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert done.stdout.isascii() and not UNSAFE_IN_OUTPUT.search(done.stdout.decode())
    document = json.loads(done.stdout)
    status = document.get("status") or document["items"][0]["status"]
    assert _tmp(status, "odd")["source"] == HOSTILE
