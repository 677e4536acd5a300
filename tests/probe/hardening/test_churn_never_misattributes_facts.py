"""Process churn on the real kernel: scans racing thousands of short-lived processes, execs and pid reuse."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
import traceback

import pytest

from nsprobe.probe import host, model, scanner
from nsprobe.testing import scenarios as sc
from tests.probe.hardening import pidreuse

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

PROCESSES = int(os.environ.get("NSPROBE_CHURN_PROCESSES", "1200"))
MIN_SCANS = 20
DEADLINE_SECONDS = 240.0
_ALL_NAMESPACES = ("--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--fork")
# Three processes per round: a sleep that exits on its own, one that is killed, and mv(1), which puts the
# running count on the container's tmpfs.
_CHURN = (
    "i=0; while :; do sleep 0.02 & sleep 60 & kill $!; wait; i=$((i + 3)); echo $i > /tmp/n.new;"
    " mv /tmp/n.new /tmp/n; done"
)
# The init re-execs itself through env(1) and sh each round (same pid and start time, two new programs)
# and starts two short-lived children (sleep, mv) per round; the count is of rounds.
_EXEC = (
    "echo ${N:-0} > /tmp/n.new; mv /tmp/n.new /tmp/n; sleep 0.05;"
    ' exec env N=$((${N:-0} + 1)) /bin/sh -c "$0" "$0"'
)


@dataclasses.dataclass(frozen=True)
class _Expected:
    """What a scenario container was created with: each differs, so misattribution is detectable."""

    pid: int  # the container's first process: the one every report must name
    start_time: int
    namespaces: dict[str, int]
    uid_map: tuple[tuple[int, int, int], ...] | None  # None for the host user namespace
    tmp_bytes: int | None  # tmpfs size, None when /tmp is not a tmpfs of its own


def _memory_cgroup(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cgroup") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return path
    return None


def _describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read()[:80]
    except OSError:
        return "gone"


def _namespaces(pid: int) -> dict[str, int]:
    return {t: os.stat(f"/proc/{pid}/ns/{t}").st_ino for t in model.NAMESPACE_TYPES}


def _counter(container: sc.Container) -> int:
    try:
        with open(f"/proc/{container.pid}/root/tmp/n") as handle:
            return int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _wait_for_counter(container: sc.Container) -> None:
    deadline = time.monotonic() + 15
    while not os.path.exists(f"/proc/{container.pid}/root/tmp/n"):
        assert time.monotonic() < deadline, f"scenario {container.pid} never started churning"
        time.sleep(0.02)


def _user_namespace(base: int) -> dict[str, object]:
    """A private user namespace whose uid_map is unique to ``base``.

    Root inside stays host root (the first line), and --keep-caps keeps the gate's capabilities across
    its exec, so the gate can still mount its tmpfs /tmp: a root that maps elsewhere can't be set up
    without newuidmap and /etc/subuid entries for root.
    """
    return {"uid_map": f"0 0 1\n1 {base} 65535\n"}


def _map_of(base: int) -> tuple[tuple[int, int, int], ...]:
    return ((0, 0, 1), (1, base, 65535))


def _expect(
    pid: int, *, uid_map: tuple[tuple[int, int, int], ...] | None, tmp_bytes: int | None
) -> _Expected:
    start = pidreuse.start_time(pid)
    assert start is not None
    return _Expected(pid, start, _namespaces(pid), uid_map, tmp_bytes)


class _Checker:
    """Checks each scan right after it ran, while the reported processes still live."""

    def __init__(self) -> None:
        self.expected: dict[str, _Expected] = {}
        self.lock = threading.Lock()
        self.failures: list[str] = []
        self.verified = 0
        self.missed = {"fresh": 0, "steady": 0}

    def check(self, result: model.ScanResult, *, fresh: bool, live_before: set[str]) -> None:
        with self.lock:
            expected = dict(self.expected)
        seen = set()
        for report in result.containers:
            seen.add(report.ref.key)
            self._check_owner(report)
            mine = expected.get(report.ref.key)
            if mine is not None:
                self._check_facts(report, mine)
        # A container alive through the whole scan must be in it; a steady scan is allowed to lag only
        # through the known stale-pid cache (counted and printed, see the pid reuse test).
        for key in live_before - seen:
            mine = expected.get(key)
            if mine is not None and pidreuse.start_time(mine.pid) == mine.start_time:
                self.missed["fresh" if fresh else "steady"] += 1

    def _fail(self, report: model.ContainerReport, message: str) -> None:
        self.failures.append(f"{report.ref.key[:12]} pid {report.pid}: {message}")

    def _check_owner(self, report: model.ContainerReport) -> None:
        """Whoever the container is, its reported pid (at that start time) lives in its cgroup."""
        path = _memory_cgroup(report.pid)
        if pidreuse.start_time(report.pid) != report.start_time_ticks or path is None:
            return  # exited (or reused) since the scan: nothing to check against
        if report.ref.container_id is None or report.ref.container_id not in path:
            self._fail(
                report, f"reported as {report.ref.container_id} but lives in {path} ({_describe(report.pid)})"
            )
        elif report.ref.pod_uid is not None and f"pod{report.ref.pod_uid}" not in path:
            self._fail(report, f"reported in pod {report.ref.pod_uid} but lives in {path}")
        else:
            self.verified += 1

    def _check_facts(self, report: model.ContainerReport, mine: _Expected) -> None:
        if (report.pid, report.start_time_ticks) != (mine.pid, mine.start_time):
            return  # another member (a helper on its way out): the owner check covers it
        alive = pidreuse.start_time(mine.pid) == mine.start_time
        facts = (report.namespaces, report.identity, report.tmp)
        if any(isinstance(f, model.Unknown) for f in facts):
            if alive:
                self._fail(report, f"unknown facts of a live container: {facts}")
            return
        assert isinstance(report.namespaces, tuple)
        assert isinstance(report.identity, model.IdentityReport)
        assert isinstance(report.tmp, model.TmpReport)
        inodes = {ns.type: ns.inode for ns in report.namespaces}
        if inodes != {t: mine.namespaces[t] for t in inodes}:
            self._fail(report, f"namespaces {inodes} are not the container's {mine.namespaces}")
        uid_map = tuple((e.inside, e.outside, e.count) for e in report.identity.uid_map)
        if mine.uid_map is None:
            if report.identity.userns_mode != "host":
                self._fail(report, f"host user namespace reported as {report.identity.userns_mode}")
        elif uid_map != mine.uid_map:
            self._fail(report, f"uid_map {uid_map}, not {mine.uid_map}")
        if isinstance(report.tmp.size_bytes, model.Unknown):
            if alive:
                self._fail(report, f"unknown /tmp size of a live container: {report.tmp.size_bytes}")
        elif mine.tmp_bytes is not None and report.tmp.size_bytes != mine.tmp_bytes:
            self._fail(report, f"/tmp size {report.tmp.size_bytes}, not {mine.tmp_bytes}")


def _scan_loop(checker: _Checker, stop: threading.Event, errors: list[str], counts: dict[str, int]) -> None:
    persistent = scanner.Scanner(host.Host(), full_every=10)
    while not stop.is_set():
        fresh = counts["scans"] % 4 == 3
        probe = scanner.Scanner(host.Host()) if fresh else persistent
        with checker.lock:
            live_before = {
                key for key, e in checker.expected.items() if pidreuse.start_time(e.pid) == e.start_time
            }
        try:
            result = probe.scan()
            checker.check(result, fresh=fresh, live_before=live_before)
        except BaseException:
            errors.append(traceback.format_exc())
            return
        counts["scans"] += 1


def test_scans_racing_process_churn_raise_nothing_and_attribute_every_fact_to_its_own_container(
    scenarios: sc.Scenarios,
) -> None:
    checker = _Checker()
    churners = []
    for index in range(2):
        base = 200000 + index * 65536
        container = scenarios.start(
            command=["/bin/sh", "-c", _CHURN],
            unshare=("--user", "--keep-caps", *_ALL_NAMESPACES),
            **_user_namespace(base),  # type: ignore[arg-type]
            tmpfs_tmp=f"size={16 + index}m",
            expect_comm="sh",
        )
        _wait_for_counter(container)
        churners.append(container)
        checker.expected[container.container_id] = _expect(
            container.pid, uid_map=_map_of(base), tmp_bytes=(16 + index) << 20
        )
    execer = scenarios.start(
        command=["/bin/sh", "-c", _EXEC, _EXEC],
        unshare=_ALL_NAMESPACES,
        tmpfs_tmp="size=20m",
        expect_comm="sh",
    )
    _wait_for_counter(execer)
    checker.expected[execer.container_id] = _expect(execer.pid, uid_map=None, tmp_bytes=20 << 20)

    stop = threading.Event()
    errors: list[str] = []
    counts = {"scans": 0}
    thread = threading.Thread(target=_scan_loop, args=(checker, stop, errors, counts), daemon=True)
    started_at = time.monotonic()
    thread.start()
    ephemeral = {"started": 0, "reused_pids": 0}
    try:
        # Whole containers churn too: kill one's init, then start the next, the first time on the dead
        # init's very pid (clone3 set_tid), so a new container inherits a pid the scanner has cached.
        while time.monotonic() - started_at < DEADLINE_SECONDS and not errors:
            churned = sum(_counter(c) for c in churners) + 2 * _counter(execer)
            if churned + ephemeral["started"] >= PROCESSES and counts["scans"] >= MIN_SCANS:
                break
            index = ephemeral["started"]
            base = 400000 + index * 65536
            container = scenarios.start(
                unshare=("--user", "--keep-caps", "--mount", "--uts", "--ipc", "--pid", "--fork"),
                **_user_namespace(base),  # type: ignore[arg-type]
                tmpfs_tmp=f"size={32 + index}m",
            )
            with checker.lock:
                checker.expected[container.container_id] = _expect(
                    container.pid, uid_map=_map_of(base), tmp_bytes=(32 + index) << 20
                )
            ephemeral["started"] += 1
            time.sleep(0.3)
            old_pid = container.pid
            os.kill(old_pid, signal.SIGKILL)
            scenarios.kill(container)
            scenarios.containers.remove(container)
            with pidreuse.reused_pid_container(scenarios, old_pid) as (reused, reused_pid):
                ephemeral["reused_pids"] += reused_pid == old_pid
                with checker.lock:
                    checker.expected[reused.container_id] = _expect(reused_pid, uid_map=None, tmp_bytes=None)
                ephemeral["started"] += 1
                time.sleep(0.3)
    finally:
        stop.set()
        thread.join(timeout=60)
    rounds = _counter(execer)
    churned = sum(_counter(c) for c in churners) + 2 * rounds
    print(
        f"\nchurn: {counts['scans']} scans in {time.monotonic() - started_at:.1f}s over "
        f"{churned + ephemeral['started']} processes started ({churned} short-lived, "
        f"{2 * rounds} execs of a live init) and {ephemeral['started']} containers "
        f"({ephemeral['reused_pids']} on a reused pid); {checker.verified} reports verified; "
        f"stable containers missed by fresh scans {checker.missed['fresh']}, "
        f"by steady scans {checker.missed['steady']}"
    )
    assert not thread.is_alive()
    assert not errors, errors[0]
    assert not checker.failures, checker.failures[:10]
    assert churned + ephemeral["started"] >= PROCESSES
    assert counts["scans"] >= MIN_SCANS
    assert checker.missed["fresh"] == 0
