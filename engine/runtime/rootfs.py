"""The container's root filesystem, set up from inside its new mount namespace:
the overlay, the spec's mounts, /dev, pivot_root, masked and read-only paths.

Every mount target is resolved inside the rootfs component by component, with
the rootfs as the boundary (`secure_join`, as filepath-securejoin does), then
opened O_PATH|O_NOFOLLOW and mounted on through /proc/self/fd/N: a malicious
image cannot send a mount outside its root, nor onto a symlink.

Here: the spec's mounts, /dev, pivot_root and the steps after it. The
targets and options: rootfs_target; the overlay: rootfs_overlay;
/sys/fs/cgroup: rootfs_cgroup (their names are importable from here too).

Standard library only; runs in a forked child of the monitor."""
import os
import stat

from . import syscalls as sc
from .rootfs_cgroup import cgroup_v2_only, cgroup_view, cgroup_view_for, mount_cgroup
from .rootfs_overlay import MOUNT_DATA_MAX, mount_overlay
from .rootfs_target import SetupError, Target, _mkdirs_inside, kept_flags, parse_options, remount_bind, secure_join

__all__ = ["SetupError", "Target", "parse_options", "secure_join", "kept_flags", "remount_bind",
           "MOUNT_DATA_MAX", "mount_overlay", "cgroup_view", "cgroup_view_for", "cgroup_v2_only", "mount_cgroup",
           "mount_one", "make_devices", "DEV_SYMLINKS", "dev_symlinks", "bind_console", "pivot",
           "NAMESPACED_SYSCTLS", "write_sysctls", "open_devnull", "mask_paths", "readonly_paths", "readonly_root"]


def mount_one(root: str, m: dict, bundle: str, cgroup_view) -> None:
    dest = m.get("destination") or ""
    if not dest.startswith("/"):
        raise SetupError(f"mount destination {dest!r} must be an absolute path")
    mtype = m.get("type") or ""
    flags, prop, data = parse_options(m.get("options"))
    source = m.get("source") or mtype or "none"
    if mtype == "bind" or flags & sc.MS_BIND:
        if not source.startswith("/"):
            source = os.path.join(bundle, source)
        try:
            st = os.stat(source)
        except OSError as e:
            raise SetupError(f"bind mount source {source}: {e.strerror}") from None
        with Target(root, dest, file=not stat.S_ISDIR(st.st_mode)) as t:
            t.mount(source, None, sc.MS_BIND | (flags & sc.MS_REC))
            if flags & ~(sc.MS_BIND | sc.MS_REC):
                remount_bind(t.proc, flags, dest)
            if prop:
                sc.mount(None, t.proc, None, prop)
        return
    if mtype == "cgroup":
        mount_cgroup(root, dest, flags, data, cgroup_view)
        return
    with Target(root, dest) as t:
        t.mount(source, mtype, flags, data)
        if prop:
            sc.mount(None, t.proc, None, prop)


def make_devices(root: str, devices) -> None:
    """mknod the spec's linux.devices (a bind of the host's node where mknod is refused)."""
    kinds = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
    for d in devices or ():
        dest = d["path"]
        kind = kinds.get(d.get("type", "c"))
        if kind is None:
            raise SetupError(f"device {dest}: unknown type {d.get('type')!r}")
        path = secure_join(root, dest)
        _mkdirs_inside(root, os.path.dirname(path))
        if os.path.lexists(path):
            if os.path.isdir(path) and not os.path.islink(path):
                raise SetupError(f"device {dest}: a directory is in the way")
            os.unlink(path)
        mode = d.get("fileMode", 0o666) & 0o7777
        dev = os.makedev(d.get("major", 0), d.get("minor", 0))
        try:
            os.mknod(path, kind | mode, dev)
        except PermissionError:
            host = f"/dev/{os.path.relpath(dest, '/dev')}"
            with Target(root, dest, file=True) as t:
                t.mount(host, None, sc.MS_BIND)
            continue
        os.chmod(path, mode, follow_symlinks=False)
        os.chown(path, d.get("uid", 0), d.get("gid", 0), follow_symlinks=False)


DEV_SYMLINKS = (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"))


def dev_symlinks(root: str) -> None:
    dev = secure_join(root, "/dev")
    if not os.path.isdir(dev) or os.path.islink(dev):
        return
    for name, target in DEV_SYMLINKS:
        p = os.path.join(dev, name)
        if name == "ptmx" and os.path.lexists(p) and not os.path.isdir(p):
            os.unlink(p)  # runc too replaces a ptmx node with the link to the new devpts instance
        try:
            os.symlink(target, p)
        except FileExistsError:
            pass


def bind_console(root: str, fd: int = 0) -> None:
    """The pty slave (our fd 0) bound onto /dev/console."""
    try:
        src = os.ttyname(fd)
    except OSError:
        src = f"/proc/self/fd/{fd}"
    with Target(root, "/dev/console", file=True) as t:
        t.mount(src, None, sc.MS_BIND)


def pivot(root: str) -> None:
    """pivot_root(".", "."), then detach the old root stacked on top of the new one."""
    os.chdir(root)
    try:
        sc.pivot_root(".", ".")
        # the old root, now on top: slave so that unmounting it never propagates to the host
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
    except OSError as e:
        raise SetupError(f"pivot_root into the container's root: {e.strerror}") from None
    os.chdir("/")


# ------------------------------------------------------------------ after pivot_root

NAMESPACED_SYSCTLS = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
                      "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced")


def write_sysctls(sysctl: dict, *, netns: bool, ipcns: bool, utsns: bool) -> None:
    """linux.sysctl under /proc/sys; only sysctls of a namespace the container
    has its own of (as runc: net.* needs a network namespace…)."""
    for key, value in (sysctl or {}).items():
        ok = (key.startswith("net.") and netns) or ((key in NAMESPACED_SYSCTLS or key.startswith("fs.mqueue."))
                                                   and ipcns) or (key in ("kernel.hostname", "kernel.domainname")
                                                                  and utsns)
        parts = key.replace("/", ".").split(".")
        if not ok or any(p in ("", "..", ".") for p in parts):
            raise SetupError(f"sysctl {key!r} is not allowed: it is not namespaced or the container shares that "
                             f"namespace with the host")
        path = "/proc/sys/" + "/".join(parts)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.write(fd, str(value).encode())
            finally:
                os.close(fd)
        except OSError as e:
            raise SetupError(f"sysctl {key}={value}: {e.strerror}") from None


def open_devnull() -> int:
    """/dev/null of the container, checked to be the null device (1:3), not a
    file or a symlink an image or a racing process put there (CVE-2025-31133)."""
    fd = os.open("/dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
        os.close(fd)
        raise SetupError("/dev/null in the container is not the null device (1:3): refusing to use it to mask paths")
    return fd


def mask_paths(paths) -> None:
    """A file gets the (checked) /dev/null bound over it, a directory an empty
    read-only tmpfs; missing paths are skipped."""
    devnull = -1
    try:
        for p in paths or ():
            try:
                st = os.stat(p)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                if stat.S_ISDIR(st.st_mode):
                    sc.mount("tmpfs", p, "tmpfs", sc.MS_RDONLY, None)
                else:
                    if devnull < 0:
                        devnull = open_devnull()
                    src = f"/proc/self/fd/{devnull}" if os.path.isdir("/proc/self/fd") else "/dev/null"
                    sc.mount(src, p, None, sc.MS_BIND)
            except OSError as e:
                raise SetupError(f"mask {p}: {os.strerror(e.errno)}") from None
    finally:
        if devnull >= 0:
            os.close(devnull)


def readonly_paths(paths) -> None:
    for p in paths or ():
        if not os.path.lexists(p):
            continue
        try:
            sc.mount(p, p, None, sc.MS_BIND | sc.MS_REC)
        except OSError as e:
            raise SetupError(f"make {p} read-only: {os.strerror(e.errno)}") from None
        remount_bind(p, sc.MS_RDONLY, p)


def readonly_root() -> None:
    remount_bind("/", sc.MS_RDONLY, "/")
