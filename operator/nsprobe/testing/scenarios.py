"""Real kernel scenarios: processes in kubepods-style cgroup v1 paths with chosen namespaces and roots.

Used by the kernel test tier, the benchmark and demos. Every process, mount namespace and cgroup
directory made here is recorded and removed by ``Scenarios.cleanup`` (processes by pid, cgroups
bottom-up, only directories this module created).

How a container starts: a launcher chain (``unshare``/``nsenter`` ...) ends in a ``sh`` gate that waits
on stdin. The gate's pid is moved into the container's cgroups (and given its uid_map), then released:
it execs the container's command under the same pid. So the container's first process, like a real
container's init, is inside all of its namespaces and cgroups, and its launchers are not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence

CGROUP_ROOT = "/sys/fs/cgroup"
WORKLOAD_MODULE = "nsprobe.testing.workload"
CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "cpuset", "blkio", "devices", "freezer")
_created_cgroup_dirs: list[str] = []  # shared by all Scenarios in this process: parents are shared too
_PIVOT = """
import ctypes, os, sys
libc = ctypes.CDLL("libc.so.6", use_errno=True)
new = sys.argv[1].encode()
assert libc.mount(b"none", b"/", None, 0x40000 | 0x4000, None) == 0
assert libc.mount(new, new, None, 0x1000 | 0x4000, None) == 0
os.chdir(new)
os.makedirs("old", exist_ok=True)
assert libc.syscall(155, b".", b"old") == 0, ctypes.get_errno()
os.chdir("/")
assert libc.umount2(b"/old", 2) == 0
os.rmdir("/old")
os.execv(sys.argv[2], sys.argv[2:])
"""


@dataclasses.dataclass
class Container:
    """One scenario container: its pod uid, container id, cgroup path and main pid."""

    pod_uid: str
    container_id: str
    qos: str
    cgroup_path: str  # e.g. /kubepods/burstable/pod<uid>/<id>
    pid: int
    launcher: subprocess.Popen[bytes]

    def cgroup_dir(self, controller: str) -> str:
        return f"{CGROUP_ROOT}/{controller}{self.cgroup_path}"


class Scenarios:
    """Creates scenario containers and removes everything on ``cleanup`` (also as a context manager)."""

    def __init__(self, *, kubepods: str = "/kubepods") -> None:
        self.kubepods = kubepods
        self.containers: list[Container] = []
        self._extra_pids: list[int] = []
        self._tmpdirs: list[str] = []

    def __enter__(self) -> Scenarios:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    @staticmethod
    def new_pod_uid() -> str:
        return str(uuid.uuid4())

    @staticmethod
    def new_container_id() -> str:
        return uuid.uuid4().hex + uuid.uuid4().hex

    def tempdir(self) -> str:
        # Not under /tmp: a scenario with a tmpfs /tmp could not see it, and it must stay on disk.
        path = tempfile.mkdtemp(prefix="nsprobe-scenario-", dir="/var/tmp")
        self._tmpdirs.append(path)
        return path

    def start(
        self,
        *,
        command: Sequence[str] = ("sleep", "infinity"),
        pod_uid: str | None = None,
        container_id: str | None = None,
        qos: str = "burstable",
        unshare: Sequence[str] = ("--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--fork"),
        join_pid: int | None = None,
        join: Sequence[str] = (),
        uid_map: str | None = None,
        gid_map: str | None = None,
        tmpfs_tmp: str | None = None,
        chroot_dir: str | None = None,
        pivot_root_dir: str | None = None,
        memory_limit: int | None = None,
        cpu_quota_us: int | None = None,
        cpu_period_us: int = 100000,
        pids_max: int | None = None,
        wait_for_ready: bool = False,
        expect_comm: str | None = None,
        in_cgroup: bool = True,
    ) -> Container:
        """Start one container. ``unshare`` are unshare(1) flags; ``join`` are nsenter(1) flags used with
        ``join_pid`` (pod containers share the sandbox's net/ipc/uts like this). Start-up waits until the
        main process's comm is ``expect_comm`` (default: the command's basename), or for READY."""
        pod_uid = pod_uid or self.new_pod_uid()
        container_id = container_id or self.new_container_id()
        qos_part = "" if qos == "guaranteed" else f"/{qos}"
        cgroup_path = f"{self.kubepods}{qos_part}/pod{pod_uid}/{container_id}"
        if in_cgroup:
            self._make_cgroup(
                cgroup_path,
                memory_limit=memory_limit,
                cpu_quota_us=cpu_quota_us,
                cpu_period_us=cpu_period_us,
                pids_max=pids_max,
            )
        inner = shlex.join(command)
        if chroot_dir is not None:
            inner = f"chroot {shlex.quote(chroot_dir)} {inner}"
        if pivot_root_dir is not None:
            inner = shlex.join([sys.executable, "-c", _PIVOT, pivot_root_dir, *command])
        setup = ""
        if tmpfs_tmp and list(command[1:3]) == ["-m", WORKLOAD_MODULE]:
            inner += " --tmpfs-options " + shlex.quote(tmpfs_tmp)  # see workload.py: mounts after start-up
        elif tmpfs_tmp:
            setup = f"mount -t tmpfs -o {shlex.quote(tmpfs_tmp)} nsprobe-tmp /tmp && "
        gate = ["/bin/sh", "-c", f"read _ && {setup}exec {inner}"]
        argv: list[str] = []
        if join_pid is not None:
            argv += ["nsenter", "-t", str(join_pid), *join, "--"]
        if unshare:
            needs_user = uid_map is not None and "--user" not in unshare
            argv += ["unshare", *(["--user"] if needs_user else []), *unshare, "--"]
        argv += gate
        launcher = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            gate_pid = _wait_for_gate(launcher.pid)
            if uid_map is not None:
                _write(f"/proc/{gate_pid}/uid_map", uid_map)
                _write(f"/proc/{gate_pid}/gid_map", gid_map or uid_map)
            if in_cgroup:
                for controller in CONTROLLERS:
                    _write(f"{CGROUP_ROOT}/{controller}{cgroup_path}/cgroup.procs", str(gate_pid))
            assert launcher.stdin is not None
            launcher.stdin.write(b"go\n")
            launcher.stdin.close()
            container = Container(pod_uid, container_id, qos, cgroup_path, gate_pid, launcher)
            self.containers.append(container)
            if wait_for_ready:
                _wait_ready(launcher)
            else:
                _wait_exec(gate_pid, launcher, comm=expect_comm or os.path.basename(command[0])[:15])
        except BaseException:
            _kill_tree(launcher.pid)
            launcher.wait(timeout=5)
            for stream in (launcher.stdout, launcher.stderr, launcher.stdin):
                if stream is not None and not stream.closed:
                    stream.close()
            raise
        return container

    def minimal_root(self) -> str:
        """A directory holding /bin/sleep and its libraries: enough for a chroot or pivot_root."""
        root = self.tempdir()
        sleep = shutil.which("sleep") or "/bin/sleep"
        out = subprocess.run(["ldd", sleep], capture_output=True, text=True, check=True).stdout
        libs = [part for line in out.splitlines() for part in line.split() if part.startswith("/")]
        for path in [sleep, *libs]:
            dest = root + os.path.realpath(path) if path != sleep else root + "/bin/sleep"
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.realpath(path), dest)
            if path != sleep and os.path.realpath(path) != path:
                link = root + path
                os.makedirs(os.path.dirname(link), exist_ok=True)
                if not os.path.lexists(link):
                    os.symlink(os.path.realpath(path), link)
        os.makedirs(root + "/tmp", exist_ok=True)
        return root

    def kill(self, container: Container) -> None:
        _kill_tree(container.launcher.pid, extra=[container.pid])
        with contextlib.suppress(subprocess.TimeoutExpired):
            container.launcher.wait(timeout=5)
        for stream in (container.launcher.stdout, container.launcher.stderr, container.launcher.stdin):
            if stream is not None:
                stream.close()
        self._remove_cgroup(container.cgroup_path)

    def cleanup(self) -> None:
        for container in reversed(self.containers):
            self.kill(container)
        self.containers.clear()
        for pid in self._extra_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for path in self._tmpdirs:
            shutil.rmtree(path, ignore_errors=True)
        self._tmpdirs.clear()
        _remove_created_parents()

    # --- cgroups -------------------------------------------------------------------------------------
    def _make_cgroup(
        self,
        cgroup_path: str,
        *,
        memory_limit: int | None,
        cpu_quota_us: int | None,
        cpu_period_us: int,
        pids_max: int | None,
    ) -> None:
        for controller in CONTROLLERS:
            base = f"{CGROUP_ROOT}/{controller}"
            parts = [p for p in cgroup_path.split("/") if p]
            for depth in range(1, len(parts) + 1):
                path = base + "/" + "/".join(parts[:depth])
                if not os.path.isdir(path):
                    try:
                        os.mkdir(path)
                        _created_cgroup_dirs.append(path)
                    except FileExistsError:
                        pass
                    if controller == "cpuset":
                        # A new v1 cpuset is empty; a task can't join it until cpus and mems are set.
                        parent = os.path.dirname(path)
                        for name in ("cpuset.cpus", "cpuset.mems"):
                            _write(f"{path}/{name}", _read(f"{parent}/{name}").strip() or "0")
        directory = f"{CGROUP_ROOT}/memory{cgroup_path}"
        if memory_limit is not None:
            _write(f"{directory}/memory.limit_in_bytes", str(memory_limit))
        if cpu_quota_us is not None:
            _write(f"{CGROUP_ROOT}/cpu{cgroup_path}/cpu.cfs_period_us", str(cpu_period_us))
            _write(f"{CGROUP_ROOT}/cpu{cgroup_path}/cpu.cfs_quota_us", str(cpu_quota_us))
        if pids_max is not None:
            _write(f"{CGROUP_ROOT}/pids{cgroup_path}/pids.max", str(pids_max))

    def _remove_cgroup(self, cgroup_path: str) -> None:
        for controller in CONTROLLERS:
            path = f"{CGROUP_ROOT}/{controller}{cgroup_path}"
            if path in _created_cgroup_dirs:
                _rmdir_cgroup(path)


def _remove_created_parents() -> None:
    for path in sorted(_created_cgroup_dirs, key=len, reverse=True):
        _rmdir_cgroup(path)


def _rmdir_cgroup(path: str) -> None:
    for _ in range(50):
        try:
            os.rmdir(path)
        except FileNotFoundError:
            break
        except OSError:
            # EBUSY while the kernel still tears down exiting tasks; ENOTEMPTY while another scenario
            # (this process's) still uses a shared parent, which its own cleanup will remove.
            if any(p.startswith(path + "/") for p in _created_cgroup_dirs if os.path.isdir(p)):
                return
            time.sleep(0.05)
            continue
        break
    if not os.path.isdir(path) and path in _created_cgroup_dirs:
        _created_cgroup_dirs.remove(path)


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _children(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            text = _read(f"/proc/{name}/stat")
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(name))
    return found


def _comm(pid: int) -> str:
    try:
        return _read(f"/proc/{pid}/comm").strip()
    except OSError:
        return ""


def _descendants_leaf(pid: int) -> int:
    while True:
        kids = _children(pid)
        if not kids:
            return pid
        pid = max(kids)


def _wait_for_gate(launcher_pid: int, *, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        leaf = _descendants_leaf(launcher_pid)
        if _comm(leaf) == "sh" and _read_state(leaf) == "S":
            return leaf
        time.sleep(0.01)
    raise TimeoutError(f"scenario launcher {launcher_pid} never reached its gate")


def _read_state(pid: int) -> str:
    try:
        text = _read(f"/proc/{pid}/stat")
    except OSError:
        return ""
    return text[text.rindex(")") + 2 :].split()[0]


def _wait_exec(pid: int, launcher: subprocess.Popen[bytes], *, comm: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if launcher.poll() is not None:
            raise RuntimeError(f"scenario exited early: {_stderr(launcher)}")
        if _comm(pid) == comm:
            return
        time.sleep(0.01)
    raise TimeoutError(f"scenario pid {pid} never exec'd its command")


def _wait_ready(launcher: subprocess.Popen[bytes], *, timeout: float = 120.0) -> None:
    assert launcher.stdout is not None
    os.set_blocking(launcher.stdout.fileno(), True)
    deadline = time.monotonic() + timeout
    line = b""
    while time.monotonic() < deadline and launcher.poll() is None:
        line = launcher.stdout.readline()
        if line.strip() == b"READY":
            return
        if not line:
            break
    raise RuntimeError(f"workload never became ready: {_stderr(launcher)}")


def _stderr(launcher: subprocess.Popen[bytes]) -> str:
    if launcher.poll() is None or launcher.stderr is None:
        return "(still running)"
    return launcher.stderr.read().decode(errors="replace")[-2000:]


def _kill_tree(root_pid: int, *, extra: Sequence[int] = ()) -> None:
    """SIGKILL the launcher and every descendant (children first found, then the root)."""
    pids: list[int] = []
    stack = [root_pid, *extra]
    while stack:
        pid = stack.pop()
        if pid in pids:
            continue
        pids.append(pid)
        stack.extend(_children(pid))
    for pid in reversed(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def workload_command(**options: int | str) -> list[str]:
    """argv for nsprobe.testing.workload with --name value options (underscores become dashes)."""
    argv = [sys.executable, "-m", WORKLOAD_MODULE]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


@contextlib.contextmanager
def scenarios() -> Iterator[Scenarios]:
    bed = Scenarios()
    try:
        yield bed
    finally:
        bed.cleanup()
