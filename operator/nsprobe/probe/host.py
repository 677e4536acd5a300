"""The one module that touches the host: every file the probe reads is opened here, under injected roots.

Callers (probe.scanner) get text or numbers back, or a typed ``HostError`` that says why a fact is
unknown. Nothing here interprets content; parsers do. Two rules hold for every path:

- It is built from ``proc_root`` or ``cgroup_root``, so tests and the agent (``/host/proc``) choose what
  is read.
- ``cmdline`` and ``environ`` are never opened: they hold secrets, and nsprobe needs neither.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import threading
import typing

_FORBIDDEN_PROC_FILES = frozenset({"cmdline", "environ"})
_CLONE_NEWIPC = 0x08000000
_libc: ctypes.CDLL | None = None
_setns_lock = threading.Lock()


class HostError(Exception):
    """A fact could not be read. ``reason`` is a bounded word used in metrics and status."""

    reason: typing.ClassVar[str] = "io"

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"{detail}: {path}")
        self.path = path
        self.detail = detail


class VanishedError(HostError):
    """The process (or cgroup) went away while being read; the caller skips it."""

    reason = "vanished"


class PermissionDeniedError(HostError):
    """The kernel refused the read; the field becomes 'unknown (permission denied)'."""

    reason = "permission"


class UnavailableError(HostError):
    """The fact can't be had from this root (e.g. setns on a fixture tree, or a missing capability)."""

    reason = "unavailable"


def _raise_for(exc: OSError, path: str) -> typing.NoReturn:
    if exc.errno in (errno.ENOENT, errno.ESRCH):
        raise VanishedError(path, "no such file or process") from exc
    if exc.errno in (errno.EACCES, errno.EPERM):
        raise PermissionDeniedError(path, "permission denied") from exc
    raise HostError(path, os.strerror(exc.errno or 0) or type(exc).__name__) from exc


def read_text(path: str, *, limit: int = 4 << 20) -> str:
    """Read a whole small kernel file. Kernel files are not seekable by size, so read until EOF."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        _raise_for(exc, path)
    try:
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise HostError(path, f"file larger than {limit} bytes")
    except OSError as exc:
        _raise_for(exc, path)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "surrogateescape")


class Host:
    """Reads one host's /proc and cgroupfs. Holds only the roots (and the cgroup layout); safe to share."""

    def __init__(self, *, proc_root: str = "/proc", cgroup_root: str = "/sys/fs/cgroup") -> None:
        self.proc_root = proc_root.rstrip("/") or "/"
        self.cgroup_root = cgroup_root.rstrip("/") or "/"
        self._unified: bool | None = None

    # --- roots -------------------------------------------------------------------------------------
    def check_roots(self) -> None:
        """Fail early and clearly when a root is not a readable /proc or cgroupfs."""
        if not os.path.isdir(self.proc_root) or not os.access(self.proc_root, os.R_OK | os.X_OK):
            raise HostError(self.proc_root, "proc root is not a readable directory")
        if not os.path.exists(os.path.join(self.proc_root, "self")) and not self.list_pids():
            raise HostError(self.proc_root, "proc root holds no processes (is it a procfs?)")
        if not os.path.isdir(self.cgroup_root):
            raise HostError(self.cgroup_root, "cgroup root is not a directory")

    # --- /proc ---------------------------------------------------------------------------------------
    def list_pids(self) -> list[int]:
        try:
            names = os.listdir(self.proc_root)
        except OSError as exc:
            _raise_for(exc, self.proc_root)
        return sorted(int(name) for name in names if name.isdigit())

    def proc_path(self, pid: int | str, name: str) -> str:
        if name.split("/", 1)[0] in _FORBIDDEN_PROC_FILES:
            raise PermissionError(f"nsprobe never reads /proc/<pid>/{name}")
        return f"{self.proc_root}/{pid}/{name}"

    def read_proc(self, pid: int | str, name: str) -> str:
        """Read /proc/<pid>/<name> (pid may be 'self' or '' for /proc/<name> via read_proc_global)."""
        return read_text(self.proc_path(pid, name))

    def read_proc_global(self, name: str) -> str:
        """Read a file directly under the proc root, e.g. meminfo or sys/kernel/osrelease."""
        return read_text(f"{self.proc_root}/{name}")

    def namespace_inode(self, pid: int, ns_type: str) -> int:
        """The inode of /proc/<pid>/ns/<type>: equal inodes mean the same namespace."""
        path = self.proc_path(pid, f"ns/{ns_type}")
        try:
            return os.stat(path).st_ino
        except OSError as exc:
            _raise_for(exc, path)

    def statvfs_in_root(self, pid: int, path: str) -> tuple[int, int]:
        """(size, used) bytes of the filesystem holding <path> as the process sees it."""
        full = self.proc_path(pid, "root") + path
        try:
            st = os.statvfs(full)
        except OSError as exc:
            _raise_for(exc, full)
        size = st.f_blocks * st.f_frsize
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        return size, used

    def root_ancestry(self, pid: int, *, max_depth: int = 64) -> list[tuple[int, int]]:
        """(dev, ino) of the process's root, then of each '..' above it, until the walk stops moving.

        The walk starts at /proc/<pid>/root, so '..' is resolved in the process's own mount
        namespace, but without its chroot clamp: the chain shows what a chroot escape would reach.
        """
        chain: list[tuple[int, int]] = []
        base = self.proc_path(pid, "root")
        for depth in range(max_depth):
            path = base + "/.." * depth
            try:
                st = os.stat(path + "/" if depth == 0 else path)
            except OSError as exc:
                _raise_for(exc, path)
            ident = (st.st_dev, st.st_ino)
            if chain and chain[-1] == ident:
                break
            chain.append(ident)
        return chain

    def own_root_identity(self) -> tuple[int, int]:
        st = os.stat("/")
        return (st.st_dev, st.st_ino)

    def read_sysvipc(self, pid: int) -> tuple[str, str, str]:
        """Text of /proc/sysvipc/{shm,msg,sem} inside the IPC namespace of <pid>.

        /proc/sysvipc shows the *reader's* IPC namespace, so this thread joins the target's namespace
        with setns(2), reads, and returns to its own. IPC namespaces are per thread, so other threads
        are unaffected. Needs CAP_SYS_ADMIN over the target namespace's user namespace.
        """
        target_path = self.proc_path(pid, "ns/ipc")
        libc = _load_libc()
        with _setns_lock:
            try:
                own = os.open("/proc/thread-self/ns/ipc", os.O_RDONLY | os.O_CLOEXEC)
            except OSError as exc:
                raise UnavailableError("/proc/thread-self/ns/ipc", "cannot open own IPC namespace") from exc
            try:
                try:
                    target = os.open(target_path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as exc:
                    _raise_for(exc, target_path)
                try:
                    if os.fstat(target).st_ino == os.fstat(own).st_ino:
                        return self._read_sysvipc_here()
                    if libc.setns(target, _CLONE_NEWIPC) != 0:
                        err = ctypes.get_errno()
                        if err in (errno.EPERM, errno.EACCES):
                            raise UnavailableError(target_path, "unavailable (needs CAP_SYS_ADMIN for setns)")
                        raise UnavailableError(target_path, f"setns failed: {os.strerror(err)}")
                    try:
                        return self._read_sysvipc_here()
                    finally:
                        if libc.setns(own, _CLONE_NEWIPC) != 0:
                            # Staying in a foreign namespace would corrupt every later read on this thread.
                            raise SystemExit("nsprobe: could not return to its own IPC namespace")
                finally:
                    os.close(target)
            finally:
                os.close(own)

    def _read_sysvipc_here(self) -> tuple[str, str, str]:
        # /proc/sysvipc of *this* kernel: a fixture proc_root cannot stand in for the reader's namespace.
        return (
            read_text("/proc/sysvipc/shm"),
            read_text("/proc/sysvipc/msg"),
            read_text("/proc/sysvipc/sem"),
        )

    # --- cgroupfs ------------------------------------------------------------------------------------
    def cgroup_is_unified(self) -> bool:
        """True for a pure cgroup v2 host: cgroup.controllers sits at the cgroup root.

        Asked for every container; the layout of a mounted cgroupfs does not change under a running
        process, so the answer is kept after the first look.
        """
        if self._unified is None:
            self._unified = os.path.exists(os.path.join(self.cgroup_root, "cgroup.controllers"))
        return self._unified

    def cgroup_dir(self, controller: str | None, cgroup_path: str) -> str:
        """Directory of a cgroup: v2 when controller is None, else the v1 controller hierarchy."""
        rel = _strip_namespace_prefix(cgroup_path)
        base = self.cgroup_root if controller is None else os.path.join(self.cgroup_root, controller)
        return base + rel

    def read_cgroup(self, directory: str, name: str) -> str:
        return read_text(f"{directory}/{name}")

    def subdirectories(self, directory: str) -> list[str]:
        """Names of the child cgroups (subdirectories) of a cgroup directory."""
        try:
            with os.scandir(directory) as entries:
                return [entry.name for entry in entries if entry.is_dir(follow_symlinks=False)]
        except OSError as exc:
            _raise_for(exc, directory)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)


def _strip_namespace_prefix(cgroup_path: str) -> str:
    """Drop the leading '/..' parts that a reader in a private cgroup namespace sees.

    In a pod (private cgroup namespace on v2) /proc/<pid>/cgroup of other processes reads like
    '/../../kubepods.slice/...'. The host's cgroupfs mounted at /host/sys/fs/cgroup starts at the real
    root, and kubepods hangs from that root on every supported layout, so the path resumes there.
    """
    parts = [p for p in cgroup_path.split("/") if p]
    while parts and parts[0] == "..":
        parts.pop(0)
    return "/" + "/".join(parts) if parts else ""


def _load_libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc
