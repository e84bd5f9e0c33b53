"""Linux capabilities: names ↔ numbers (linux/capability.h) and applying a
process's OCI capability sets to the current process."""
from . import syscalls as sc

CAPS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3, "CAP_FSETID": 4,
    "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_LINUX_IMMUTABLE": 9,
    "CAP_NET_BIND_SERVICE": 10, "CAP_NET_BROADCAST": 11, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
    "CAP_IPC_LOCK": 14, "CAP_IPC_OWNER": 15, "CAP_SYS_MODULE": 16, "CAP_SYS_RAWIO": 17, "CAP_SYS_CHROOT": 18,
    "CAP_SYS_PTRACE": 19, "CAP_SYS_PACCT": 20, "CAP_SYS_ADMIN": 21, "CAP_SYS_BOOT": 22, "CAP_SYS_NICE": 23,
    "CAP_SYS_RESOURCE": 24, "CAP_SYS_TIME": 25, "CAP_SYS_TTY_CONFIG": 26, "CAP_MKNOD": 27, "CAP_LEASE": 28,
    "CAP_AUDIT_WRITE": 29, "CAP_AUDIT_CONTROL": 30, "CAP_SETFCAP": 31, "CAP_MAC_OVERRIDE": 32,
    "CAP_MAC_ADMIN": 33, "CAP_SYSLOG": 34, "CAP_WAKE_ALARM": 35, "CAP_BLOCK_SUSPEND": 36, "CAP_AUDIT_READ": 37,
    "CAP_PERFMON": 38, "CAP_BPF": 39, "CAP_CHECKPOINT_RESTORE": 40,
}


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read())
    except (OSError, ValueError):
        return max(CAPS.values())


def mask(names) -> int:
    """Bit mask of capability names; unknown names raise ValueError. Names
    the running kernel does not know are kept (the kernel ignores them)."""
    m = 0
    for n in names or ():
        key = n.upper()
        if not key.startswith("CAP_"):
            key = "CAP_" + key
        if key not in CAPS:
            raise ValueError(f"unknown capability {n!r}")
        m |= 1 << CAPS[key]
    return m


def apply_bounding(bounding, last: int | None = None) -> None:
    """Drop from the bounding set every capability not in `bounding` (needs
    CAP_SETPCAP, so call it before changing uid)."""
    keep = mask(bounding)
    last = last_cap() if last is None else last
    for n in range(last + 1):
        if not keep & (1 << n):
            sc.prctl(sc.PR_CAPBSET_DROP, n)


def apply_sets(effective, permitted, inheritable, ambient=()) -> None:
    """capset (v3) then the ambient set: cleared, then the named ones raised."""
    last = last_cap()
    valid = (1 << (last + 1)) - 1
    sc.capset(mask(effective) & valid, mask(permitted) & valid, mask(inheritable) & valid)
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)
    amb = mask(ambient) & valid
    for n in range(last + 1):
        if amb & (1 << n):
            sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, n)


def apply(bounding, effective, permitted, inheritable, ambient=()) -> None:
    """All sets at once, for a process that keeps its uid."""
    apply_bounding(bounding)
    apply_sets(effective, permitted, inheritable, ambient)
