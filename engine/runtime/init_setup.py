"""The child's namespaces and root: for the container's init, new namespaces
(or joined ones), the overlay and the spec's mounts, /dev, the console,
pivot_root, sysctls, masked and read-only paths (rootfs.py does each step);
for an exec'd process, the running container's namespaces and root joined.
Both then go on to init_process.

Standard library only; runs in a forked child of the monitor."""
import fcntl
import gc
import os

from . import init_child as _child
from . import netns, rootfs
from . import syscalls as sc
from .init_child import _Fail, _reset_signals, _take_fds, _wait_sync
from .init_process import _finish, _reaper

# The annotations engine/containers/spec.py writes (copied, not imported: the
# monitor should not pay for importing the spec builder; a test keeps them equal).
ANN_LOWER = "org.dockyard.overlay.lowerdir"
ANN_UPPER = "org.dockyard.overlay.upperdir"
ANN_WORK = "org.dockyard.overlay.workdir"
ANN_INIT = "org.dockyard.init"

NS_FLAGS = {"mount": sc.CLONE_NEWNS, "uts": sc.CLONE_NEWUTS, "ipc": sc.CLONE_NEWIPC, "network": sc.CLONE_NEWNET,
            "cgroup": sc.CLONE_NEWCGROUP, "pid": sc.CLONE_NEWPID}


def _console_pty(root: str, sock_fd: int) -> None:
    """A terminal from the container's own devpts becomes our stdio; its master
    goes to the monitor (SCM_RIGHTS). Any failure keeps the terminal we have."""
    import _socket
    import struct
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, sock_fd)
    try:
        master = os.open(os.path.join(root, "dev/pts/ptmx"), os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        sock.close()
        return
    try:
        fcntl.ioctl(master, 0x40045431, struct.pack("i", 0))  # TIOCSPTLCK: unlock
        slave = fcntl.ioctl(master, 0x5441, os.O_RDWR | os.O_NOCTTY)  # TIOCGPTPEER
        sock.sendmsg([b"m"], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", master))])
    except OSError:
        os.close(master)
        sock.close()
        return
    for i in (0, 1, 2):
        os.dup2(slave, i, inheritable=True)
    os.close(slave)
    os.close(master)
    sock.close()


def _container_main(bundle, spec, stdio, tty, nss, joined, load_seccomp, sync_r, start_r, error_w, console=None,
                    cgview=None):
    sc.prctl(sc.PR_SET_DUMPABLE, 0)  # first: /proc/<pid>/exe is the host's python (CVE-2019-5736)
    gc.disable()  # no finalizer of a monitor object may close a fd number we reuse
    _reset_signals()
    order = list(joined)
    extra = [console] if console is not None else []
    sync_r, start_r, error_w, *jfds = _take_fds(stdio, [sync_r, start_r, error_w] + extra + [joined[t] for t in order])
    if console is not None:
        console, *jfds = jfds
    _child._error_fd = error_w  # where _run_child reports, now that the fd moved
    joined = dict(zip(order, jfds))
    if "pid" in nss and os.getpid() != 1:
        raise _Fail(f"internal error: the container's init is pid {os.getpid()}, not 1, in its pid namespace")
    # While the monitor moves us into the cgroup (a cgroup.procs write waits
    # for an RCU grace period: 1-30 ms), make the namespaces, the root and the
    # mounts. Only the cgroup namespace must wait for the move, and with it
    # /sys/fs/cgroup when the monitor could not tell us in advance what it
    # will show (`cgview`) or when it is a cgroup2 mount of that namespace.
    def join(types):
        for t in types:
            try:
                sc.setns(joined[t], NS_FLAGS[t])
            except OSError as e:
                raise _Fail(f"join the {t} namespace {nss[t]}: {os.strerror(e.errno)}") from None
            os.close(joined[t])

    cgroups = None

    def in_cgroup():
        nonlocal cgroups
        if cgroups is None:
            _wait_sync(sync_r)
            # (read before the cgroup namespace hides the paths, unless told in advance)
            cgroups = cgview if early else rootfs.cgroup_view()
            join([t for t in joined if t == "cgroup"])
            if "cgroup" in nss and nss["cgroup"] is None:
                try:
                    sc.unshare(sc.CLONE_NEWCGROUP)
                except OSError as e:
                    raise _Fail(f"create the container's cgroup namespace: {os.strerror(e.errno)}") from None
        return cgroups

    join([t for t in joined if t != "cgroup"])
    flags = 0
    for t in ("mount", "uts", "ipc", "network"):
        if t in nss and nss[t] is None:
            flags |= NS_FLAGS[t]
    if "mount" not in nss:
        raise _Fail("the spec has no mount namespace: dockyard's runtime needs one")
    try:
        sc.unshare(flags)
    except OSError as e:
        raise _Fail(f"create the container's namespaces: {os.strerror(e.errno)}") from None

    linux = spec.get("linux") or {}
    ann = spec.get("annotations") or {}
    rootpath = (spec.get("root") or {}).get("path") or "rootfs"
    root = os.path.normpath(os.path.join(bundle, rootpath))
    # our mounts never propagate to the host; the host's still reach us
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_SLAVE)
    if ann.get(ANN_LOWER):
        rootfs.mount_overlay(root, ann[ANN_LOWER], ann.get(ANN_UPPER), ann.get(ANN_WORK))
    else:  # a prepared rootfs: pivot_root needs a mount point
        sc.mount(root, root, None, sc.MS_BIND | sc.MS_REC)
    mounts = spec.get("mounts") or []
    early = cgview is not None and not rootfs.cgroup_v2_only(cgview)
    later = []  # cgroup mounts that can wait until the end: no later mount is above or below them
    for i, m in enumerate(mounts):
        if m.get("type") == "cgroup" and early:
            rootfs.mount_one(root, m, bundle, cgview)
        elif m.get("type") == "cgroup":
            if not any(_nested(m.get("destination"), x.get("destination")) for x in mounts[i + 1:]):
                later.append(m)
                continue
            rootfs.mount_one(root, m, bundle, in_cgroup())
        else:
            rootfs.mount_one(root, m, bundle, None)
    rootfs.make_devices(root, linux.get("devices"))
    rootfs.dev_symlinks(root)
    if tty and console is not None:
        _console_pty(root, console)
    if tty:
        rootfs.bind_console(root, 0)
    if spec.get("hostname"):
        if "uts" not in nss:
            raise _Fail("cannot set the hostname: the container shares the host's UTS namespace")
        sc.sethostname(spec["hostname"])
    if "network" in nss:
        netns.loopback_up()
    if not early:
        view = in_cgroup()
        for m in later:
            rootfs.mount_one(root, m, bundle, view)
    rootfs.pivot(root)
    # sysctls through the container's own /proc (before /proc/sys goes read-only)
    rootfs.write_sysctls(linux.get("sysctl"), netns="network" in nss, ipcns="ipc" in nss, utsns="uts" in nss)
    rootfs.mask_paths(linux.get("maskedPaths"))
    rootfs.readonly_paths(linux.get("readonlyPaths"))
    if (spec.get("root") or {}).get("readonly"):
        rootfs.readonly_root()
    # Told the cgroup view in advance, the whole root was made while the
    # monitor moved us: only now wait for the move (and make the cgroup
    # namespace, which must follow it), before dropping privileges and exec.
    in_cgroup()

    process = spec.get("process") or {}
    seccomp = linux.get("seccomp")
    if ann.get(ANN_INIT) == "true":
        _reaper(process, seccomp, load_seccomp, tty, start_r, error_w)
    _finish(process, seccomp, load_seccomp, tty, start_r, error_w)


def _nested(a, b) -> bool:
    """Is one of two mount destinations the other or below it?"""
    a, b = os.path.normpath(a or "/"), os.path.normpath(b or "/")
    return a == b or a.startswith(b.rstrip("/") + "/") or b.startswith(a.rstrip("/") + "/")


def _exec_main(spec, process, stdio, tty, joins, root_fd, load_seccomp, sync_r, start_r, error_w):
    sc.prctl(sc.PR_SET_DUMPABLE, 0)  # first: the container must not reach the host's python (CVE-2019-5736)
    gc.disable()
    _reset_signals()
    fds = [fd for fd, _ in joins]
    sync_r, start_r, error_w, root_fd, *fds = _take_fds(stdio, [sync_r, start_r, error_w, root_fd] + fds)
    _child._error_fd = error_w  # where _run_child reports, now that the fd moved
    joins = [(fd, flag) for fd, (_, flag) in zip(fds, joins)]
    _wait_sync(sync_r)
    for fd, flag in joins:
        try:
            sc.setns(fd, flag)
        except OSError as e:
            raise _Fail(f"join the container's namespace (0x{flag:x}): {os.strerror(e.errno)}") from None
        os.close(fd)
    os.fchdir(root_fd)
    os.chroot(".")
    os.close(root_fd)
    _finish(process, (spec.get("linux") or {}).get("seccomp"), load_seccomp, tty, start_r, error_w)
