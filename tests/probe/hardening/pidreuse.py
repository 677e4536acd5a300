"""Forces pid reuse without touching pid_max, for the churn tests: clone3(2) with set_tid picks the pid.

``reused_pid_container`` starts a scenario container whose only process has a chosen host pid (one that
a dead process just freed), like a new container's init that the kernel happened to give a recycled pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator

from nsprobe.testing import scenarios as scenarios_mod

_PF_EXITING = 0x4  # include/linux/sched.h, stat's ninth field

# `python -c HELPER PID -- ARGV...`, exec'd by a scenario gate inside the container's cgroups. It clones
# a child with host pid PID (clone3 set_tid; Linux 5.5+, needs CAP_SYS_ADMIN) and CLONE_PARENT (which
# takes exit_signal 0), so the child, which execs ARGV, is the test process's own child and stays in the
# container's cgroups while the helper exits: nothing ever migrates between cgroups. If PID was taken
# meanwhile, any pid will do. The helper outlives its READY line until the scenario has read it.
HELPER = r"""
import ctypes, os, struct, sys, time
sep = sys.argv.index("--")
pid, argv = int(sys.argv[1]), sys.argv[sep + 1:]
libc = ctypes.CDLL(None, use_errno=True)
tid = (ctypes.c_int * 1)(pid)
CLONE_PARENT, SYS_CLONE3 = 0x8000, 435
for size in (1, 0):
    args = struct.pack("10Q", CLONE_PARENT, 0, 0, 0, 0, 0, 0, 0, ctypes.addressof(tid), size)
    child = libc.syscall(SYS_CLONE3, ctypes.create_string_buffer(args, len(args)), len(args))
    if child == 0:
        os.execvp(argv[0], argv)
    if child > 0:
        break
else:
    sys.exit(f"clone3: {os.strerror(ctypes.get_errno())}")
print("READY", flush=True)
time.sleep(0.5)
"""


def start_time(pid: int) -> int | None:
    """Start time (clock ticks after boot) of a live process; None once it is exiting or exited: an
    exiting task (PF_EXITING, zombies too) already reads "/" in /proc/<pid>/cgroup on cgroup v1."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    exiting = int(fields[6]) & _PF_EXITING or fields[0] in ("Z", "X")
    return None if exiting else int(fields[19])


def _only_member(container: scenarios_mod.Container, *, timeout: float = 10.0) -> int:
    """The container's one process once the helper has gone (its cgroup.procs is authoritative)."""
    deadline = time.monotonic() + timeout
    while True:
        with open(f"{container.cgroup_dir('memory')}/cgroup.procs") as handle:
            pids = [int(p) for p in handle.read().split()]
        if len(pids) == 1 and pids[0] != container.pid:
            return pids[0]
        if time.monotonic() > deadline:
            raise TimeoutError(f"reuse helper left {pids} in {container.cgroup_path}")
        time.sleep(0.01)


@contextlib.contextmanager
def reused_pid_container(
    bed: scenarios_mod.Scenarios, pid: int, argv: tuple[str, ...] = ("sleep", "infinity")
) -> Iterator[tuple[scenarios_mod.Container, int]]:
    """A container whose only process runs ``argv`` with host pid ``pid`` if it is free; yields
    (container, the pid it got). Everything is killed, reaped and removed on exit."""
    container = bed.start(
        command=[sys.executable, "-c", HELPER, str(pid), "--", *argv], unshare=(), wait_for_ready=True
    )
    child: int | None = None
    try:
        child = _only_member(container)
        yield container, child
    finally:
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(child, 0)  # CLONE_PARENT made it our child: reap it, or it stays a zombie
        bed.kill(container)
        bed.containers.remove(container)
