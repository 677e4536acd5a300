"""Names of Linux capability bits and the "privileged" test; called by report assembly for identities.

Capability sets appear in /proc/<pid>/status as 64-bit hex masks (CapEff etc.); bit n is capability n
of include/uapi/linux/capability.h. The list has grown with kernels: 0-36 by 3.16, CAP_AUDIT_READ (37)
in 3.16, CAP_PERFMON (38), CAP_BPF (39) and CAP_CHECKPOINT_RESTORE (40) in 5.8/5.9. A kernel's own
number of capabilities is /proc/sys/kernel/cap_last_cap.

"Privileged" is judged against the host's bounding set, not against all known bits: a machine may hold
fewer capabilities than the kernel knows (this CI VM lacks CAP_SYS_RESOURCE, so a privileged container
shows 000001fffeffffff), and a kernel older than 5.9 knows fewer than 41. The reference must be a USERLAND
host process (PID 1's CapBnd is readable even where its ns links are not): kernel threads keep every bit
(kthreadd shows 000001ffffffffff on this VM while PID 1 shows 000001fffeffffff), so measured against
pid 2 nothing here would ever count as privileged. Root in a new user namespace also gets a full 41-bit
bounding set of its own, so CapBnd read inside a container is no reference either.
"""

from __future__ import annotations

from nsprobe.probe.parsers import errors

CAPABILITY_NAMES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)

ALL_KNOWN_MASK = (1 << len(CAPABILITY_NAMES)) - 1
CAP_SYS_RESOURCE_BIT = CAPABILITY_NAMES.index("CAP_SYS_RESOURCE")
# Used when the host's bounding set is unknown: every known capability except CAP_SYS_RESOURCE, which
# VMs and sandboxes commonly withhold from the whole machine (as on nsprobe's CI VM).
DEFAULT_PRIVILEGED_MASK = ALL_KNOWN_MASK & ~(1 << CAP_SYS_RESOURCE_BIT)


def decode_capabilities(mask: int) -> tuple[str, ...]:
    """Names of the set bits, lowest first; bits beyond the known names come out as CAP_<n>."""
    if mask < 0:
        raise errors.ParseError(f"capability mask must not be negative, got {mask}")
    names = []
    bit = 0
    while mask >> bit:
        if (mask >> bit) & 1:
            names.append(CAPABILITY_NAMES[bit] if bit < len(CAPABILITY_NAMES) else f"CAP_{bit}")
        bit += 1
    return tuple(names)


def is_privileged(cap_eff: int, cap_bnd_host: int | None) -> bool:
    """True when the effective set holds every capability of the host's bounding set.

    cap_bnd_host: CapBnd of a userland process in the host's user namespace (PID 1; not a kernel thread,
    see the module docstring). When it is None, or 0 (no usable reference), the reference is every known
    capability except CAP_SYS_RESOURCE.
    Note that root inside a private user namespace also holds a full effective set (scoped to that
    namespace); callers decide what that means using the user-namespace facts.
    """
    reference = cap_bnd_host if cap_bnd_host else DEFAULT_PRIVILEGED_MASK
    return cap_eff & reference == reference
