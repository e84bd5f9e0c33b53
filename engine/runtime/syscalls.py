"""Thin ctypes wrappers for the Linux calls the container init needs and the
standard library lacks. Each raises OSError(errno, "<call> <argument>: <why>").
Standard library only: this is imported by the per-container monitor."""
import ctypes
import os

_libc = ctypes.CDLL(None, use_errno=True)

# <sched.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# <sys/mount.h>
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_FORCE = 1
MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8

# <linux/prctl.h>
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

# syscall numbers of calls glibc does not wrap (or wraps only in newer versions)
_NR = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91},
    "riscv64": {"pivot_root": 41, "capget": 90, "capset": 91},
    "ppc64le": {"pivot_root": 203, "capget": 183, "capset": 184},
    "s390x": {"pivot_root": 217, "capget": 184, "capset": 185},
    "i686": {"pivot_root": 217, "capget": 184, "capset": 185},
    "armv7l": {"pivot_root": 218, "capget": 184, "capset": 185},
}.get(os.uname().machine, {})

_libc.syscall.restype = ctypes.c_long
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def _b(s) -> bytes | None:
    if s is None:
        return None
    return os.fsencode(s)


def _check(ret: int, what: str) -> int:
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return ret


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), f"unshare(0x{flags:x})")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(fd, nstype), f"setns(fd {fd}, 0x{nstype:x})")


def mount(source, target, fstype, flags: int = 0, data: str | None = None) -> None:
    ret = _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data))
    if ret < 0:
        e = ctypes.get_errno()
        what = f"mount {fstype or ''} {source or ''} on {target}".replace("  ", " ")
        if flags:
            what += f" (flags 0x{flags:x}"
            what += f", {data})" if data else ")"
        elif data:
            what += f" ({data})"
        raise OSError(e, f"{what}: {os.strerror(e)}")


def umount2(target, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), f"umount2 {target}")


def pivot_root(new_root, put_old) -> None:
    nr = _NR.get("pivot_root")
    if nr is None:
        raise OSError(38, f"pivot_root: unknown syscall number on {os.uname().machine}")
    _check(_libc.syscall(ctypes.c_long(nr), ctypes.c_char_p(_b(new_root)), ctypes.c_char_p(_b(put_old))),
           f"pivot_root {new_root} {put_old}")


def sethostname(name: str) -> None:
    b = name.encode()
    _check(_libc.sethostname(b, len(b)), f"sethostname {name!r}")


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    return _check(_libc.prctl(option, a2, a3, a4, a5), f"prctl({option}, {a2})")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _capcall(name: str, hdr, data) -> int:
    fn = getattr(_libc, name, None)
    if fn is not None:
        return fn(ctypes.byref(hdr), data)
    nr = _NR.get(name)
    if nr is None:
        ctypes.set_errno(38)
        return -1
    return _libc.syscall(ctypes.c_long(nr), ctypes.byref(hdr), data)


def capget(pid: int = 0) -> tuple[int, int, int]:
    """(effective, permitted, inheritable) as 64-bit masks."""
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_CapData * 2)()
    _check(_capcall("capget", hdr, data), f"capget({pid})")
    return tuple(getattr(data[0], f) | (getattr(data[1], f) << 32) for f in ("effective", "permitted", "inheritable"))


def capset(effective: int, permitted: int, inheritable: int) -> None:
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        data[i].effective = (effective >> (32 * i)) & 0xFFFFFFFF
        data[i].permitted = (permitted >> (32 * i)) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> (32 * i)) & 0xFFFFFFFF
    _check(_capcall("capset", hdr, data),
           f"capset(effective 0x{effective:x}, permitted 0x{permitted:x}, inheritable 0x{inheritable:x})")


# The new mount API (Linux 5.2+; the same numbers on every architecture but alpha).
_NR_MOVE_MOUNT, _NR_FSOPEN, _NR_FSCONFIG, _NR_FSMOUNT = 429, 430, 431, 432
FSCONFIG_SET_STRING, FSCONFIG_CMD_CREATE = 1, 6
MOVE_MOUNT_F_EMPTY_PATH = 4
_AT_FDCWD = -100


def _sys(nr: int, what: str, *args) -> int:
    return _check(_libc.syscall(ctypes.c_long(nr), *args), what)


def mount_overlay_fsconfig(target, lowers: list[str], upper: str | None, work: str | None,
                           options: list[tuple[str, str]]) -> None:
    """An overlay with fsopen/fsconfig/fsmount/move_mount, one "lowerdir+" per
    layer (Linux 6.8+): no limit on the length of the layer list. An option the
    kernel refuses (EINVAL) is left out."""
    fs = _sys(_NR_FSOPEN, "fsopen overlay", ctypes.c_char_p(b"overlay"), ctypes.c_uint(1))  # FSOPEN_CLOEXEC
    try:
        def cfg(key: str, value: str, optional: bool = False) -> None:
            try:
                _sys(_NR_FSCONFIG, f"fsconfig {key}={value}", ctypes.c_int(fs), ctypes.c_uint(FSCONFIG_SET_STRING),
                     ctypes.c_char_p(key.encode()), ctypes.c_char_p(_b(value)), ctypes.c_int(0))
            except OSError as e:
                if not (optional and e.errno == 22):
                    raise
        for layer in lowers:
            cfg("lowerdir+", layer)
        if upper:
            cfg("upperdir", upper)
            cfg("workdir", work)
        for key, value in options:
            cfg(key, value, optional=True)
        _sys(_NR_FSCONFIG, "fsconfig create overlay", ctypes.c_int(fs), ctypes.c_uint(FSCONFIG_CMD_CREATE),
             None, None, ctypes.c_int(0))
        mnt = _sys(_NR_FSMOUNT, "fsmount overlay", ctypes.c_int(fs), ctypes.c_uint(1), ctypes.c_uint(0))
        try:
            _sys(_NR_MOVE_MOUNT, f"move_mount overlay to {target}", ctypes.c_int(mnt), ctypes.c_char_p(b""),
                 ctypes.c_int(_AT_FDCWD), ctypes.c_char_p(_b(target)), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH))
        finally:
            os.close(mnt)
    finally:
        os.close(fs)
