"""A container's main process for kernel scenarios: fills anon memory, page cache, tmpfs and SysV shm.

Run by nsprobe.testing.scenarios inside the scenario's namespaces and cgroups. It prints READY when
every allocation is in place and then keeps its file cache warm (this VM reclaims idle cache within a
minute) until killed.
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import sys
import time

MiB = 1024 * 1024
_IPC_CREAT = 0o1000
_IPC_PRIVATE = 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--anon-mb", type=int, default=0)
    parser.add_argument("--tmp-mb", type=int, default=0, help="bytes written to /tmp/nsprobe-fill")
    parser.add_argument("--file-mb", type=int, default=0, help="a disk file kept in page cache")
    parser.add_argument("--file-path", default="")
    parser.add_argument("--shm-bytes", type=int, default=0, help="one SysV shm segment of this size")
    parser.add_argument("--keep-warm-seconds", type=float, default=5.0)
    parser.add_argument(
        "--tmpfs-options", default="", help="mount a tmpfs with these options on /tmp first (own mount ns)"
    )
    args = parser.parse_args(argv)

    if args.tmpfs_options:
        # Mounted from here, after the interpreter and this module are loaded: the tmpfs hides whatever
        # /tmp held, and that may be where this very virtualenv lives (a CI checkout under /tmp).
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        if libc.mount(b"nsprobe-tmp", b"/tmp", b"tmpfs", 0, args.tmpfs_options.encode()) != 0:
            sys.exit(f"mount tmpfs on /tmp failed: errno {ctypes.get_errno()}")

    anon = bytearray()
    if args.anon_mb:
        anon = bytearray(args.anon_mb * MiB)
        for offset in range(0, len(anon), 4096):  # touch every page so it is resident
            anon[offset] = 1
    if args.tmp_mb:
        _write_file("/tmp/nsprobe-fill", args.tmp_mb)
    if args.file_mb:
        _write_file(args.file_path, args.file_mb)
        _read_file(args.file_path)
    if args.shm_bytes:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        if libc.shmget(_IPC_PRIVATE, args.shm_bytes, _IPC_CREAT | 0o600) < 0:
            sys.exit(f"shmget failed: errno {ctypes.get_errno()}")
    print("READY", flush=True)
    while True:
        time.sleep(args.keep_warm_seconds)
        if args.file_mb:
            _read_file(args.file_path)
        if anon:
            anon[0] = (anon[0] + 1) % 256


def _write_file(path: str, megabytes: int) -> None:
    block = os.urandom(MiB)
    with open(path, "wb") as handle:
        for _ in range(megabytes):
            handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())


def _read_file(path: str) -> None:
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as mapped:
        for offset in range(0, len(mapped), 4096):
            mapped[offset]


if __name__ == "__main__":
    main()
