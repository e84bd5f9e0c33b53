"""Container init: the process the monitor forks to become the container's pid 1
(`spawn_container`), or a process joining a running container (`spawn_exec`).

No raw clone: the monitor unshares a pid namespace for its next child only,
forks, and switches its own pid_for_children back at once (so its later
children, e.g. subprocesses, stay in its own pid namespace). The child, pid 1
of the new namespace and a direct child of the monitor, waits until the
monitor has put it in its cgroup, unshares the other namespaces, builds its
root (rootfs.py), pivots into it, drops to the process's user, capabilities,
no_new_privs and seccomp filter, then waits for the start byte and execs.

Protocol with the monitor (`Spawned`):
  start_w  the monitor writes one byte to let the process execve, then closes
           it; closing it without writing aborts the start (exit 125).
  error_r  read to EOF: nothing means execve succeeded (the CLOEXEC pipe
           closed); else one JSON object {"message": str, "exit_code": int}:
           127 command not found, 126 not executable, 125 set-up failure.

Standard library only, and imported by the monitor: everything the child
needs after pivot_root (host modules are unreachable then) is imported here,
at the top, or pre-loaded before the fork (seccomp and its libseccomp)."""
import fcntl
import gc
import os
import resource
import signal
import stat
import termios

from ..errors import DockyardError
from . import caps, netns, rootfs
from . import protocol as _protocol  # here, not lazily: the child reports errors after pivot_root
from . import syscalls as sc

# The annotations engine/containers/spec.py writes (copied, not imported: the
# monitor should not pay for importing the spec builder; a test keeps them equal).
ANN_LOWER = "org.dockyard.overlay.lowerdir"
ANN_UPPER = "org.dockyard.overlay.upperdir"
ANN_WORK = "org.dockyard.overlay.workdir"
ANN_INIT = "org.dockyard.init"

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SETUP_FAILED, NOT_EXECUTABLE, NOT_FOUND = 125, 126, 127
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
             signal.SIGWINCH)

NS_FLAGS = {"mount": sc.CLONE_NEWNS, "uts": sc.CLONE_NEWUTS, "ipc": sc.CLONE_NEWIPC, "network": sc.CLONE_NEWNET,
            "cgroup": sc.CLONE_NEWCGROUP, "pid": sc.CLONE_NEWPID}
# /proc/<pid>/ns names joined by spawn_exec, mnt last (it changes what paths mean)
EXEC_NS = (("ipc", sc.CLONE_NEWIPC), ("uts", sc.CLONE_NEWUTS), ("net", sc.CLONE_NEWNET),
           ("cgroup", sc.CLONE_NEWCGROUP), ("mnt", sc.CLONE_NEWNS))


class Spawned:
    """pid: host pid of the new process (pid 1 in the container for spawn_container);
    start_w: write one byte to let it execve, then close;
    error_r: read to EOF: b"" = execve succeeded, else {"message", "exit_code"} JSON.
    (A plain class: dataclasses costs the monitor 8 ms of imports at every start.)"""
    __slots__ = ("pid", "start_w", "error_r")

    def __init__(self, pid: int, start_w: int, error_r: int):
        self.pid, self.start_w, self.error_r = pid, start_w, error_r

    def __repr__(self) -> str:
        return f"Spawned(pid={self.pid}, start_w={self.start_w}, error_r={self.error_r})"


def _dumps(obj) -> str:
    return _protocol.dumps(obj)


class _Fail(Exception):
    def __init__(self, message: str, code: int = SETUP_FAILED):
        super().__init__(message)
        self.message, self.code = message, code


def read_error(error_r: int) -> dict | None:
    """Read `Spawned.error_r` to EOF and close it: None when execve succeeded."""
    chunks = []
    try:
        while True:
            b = os.read(error_r, 65536)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(error_r)
    if not chunks:
        return None
    data = b"".join(chunks)
    try:
        return _protocol.loads(data.split(b"\n")[0])
    except ValueError:
        return {"message": data.decode(errors="replace"), "exit_code": SETUP_FAILED}


# ------------------------------------------------------------------ monitor side

def _ns_id(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _namespaces(spec: dict) -> dict[str, str | None]:
    """{type: path or None (a new one)} from linux.namespaces."""
    out = {}
    for ns in (spec.get("linux") or {}).get("namespaces") or []:
        t = ns.get("type")
        if t not in NS_FLAGS:
            raise DockyardError(f"namespace type {t!r} is not supported by dockyard's runtime")
        if t == "mount" and ns.get("path"):
            raise DockyardError("joining an existing mount namespace is not supported")
        out[t] = ns.get("path") or None
    return out


def _preload_seccomp(oci_seccomp, cache_dir: str | None = None):
    """The seccomp module and libseccomp, loaded now: after pivot_root the
    host's python modules and libraries are out of reach. With a cache dir the
    filter is compiled here (or read from the cache) and the child loads it with
    one prctl."""
    if oci_seccomp is None:
        return None
    try:
        from . import seccomp
        seccomp.validate(oci_seccomp)
        if cache_dir and not oci_seccomp.get("flags"):
            prog = seccomp.cached_bpf(oci_seccomp, cache_dir)
            import ctypes  # noqa: F401  (loaded before pivot_root)
            return lambda _oci: seccomp.load_bpf(prog)
        if hasattr(seccomp, "_lib"):
            seccomp._lib()  # it loads libseccomp.so.2 lazily, on first use
    except DockyardError:
        raise
    except Exception as e:  # ImportError, OSError…
        raise DockyardError(f"seccomp is not available: {e}") from None
    return seccomp.load


def _cache_dir(bundle: str) -> str | None:
    """ROOT/cache/seccomp for a bundle at ROOT/containers/<id>."""
    parent = os.path.dirname(bundle)
    if os.path.basename(parent) != "containers":
        return None
    return os.path.join(os.path.dirname(parent), "cache", "seccomp")


def _pipes() -> tuple[int, int]:
    return os.pipe2(os.O_CLOEXEC)


def _fork(child, cgroup, pid_ns_fd: int | None, own_pid_ns: int | None) -> tuple[int, int, int]:
    """Fork `child(sync_r, start_r, error_w)` (never returns), move it into
    `cgroup`, release it; returns (pid, start_w, error_r)."""
    sync_r, sync_w = _pipes()
    start_r, start_w = _pipes()
    error_r, error_w = _pipes()
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        if pid_ns_fd is not None:
            sc.setns(pid_ns_fd, sc.CLONE_NEWPID)
        pid = os.fork()
        if pid == 0:  # pragma: no cover (runs in the child)
            code = SETUP_FAILED
            try:
                for fd in (sync_w, start_w, error_r):
                    os.close(fd)
                child(sync_r, start_r, error_w)
            finally:
                os._exit(code)
    except BaseException:
        for fd in (sync_r, sync_w, start_r, start_w, error_r, error_w):
            os.close(fd)
        raise
    finally:
        # back to our own pid namespace for our later children
        if own_pid_ns is not None:
            try:
                sc.setns(own_pid_ns, sc.CLONE_NEWPID)
            except OSError:
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    for fd in (sync_r, start_r, error_w):
        os.close(fd)
    try:
        if cgroup is not None:
            cgroup.add(pid)
        os.write(sync_w, b"\0")
    except BaseException:
        os.close(sync_w)
        os.close(start_w)
        os.close(error_r)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        raise
    os.close(sync_w)
    return pid, start_w, error_r


def spawn_container(bundle: str, spec: dict, stdio: tuple[int, int, int], *, tty: bool, cgroup=None,
                    console: int | None = None) -> Spawned:
    """Fork the container's init (pid 1 of a new pid namespace when the spec
    has one), a direct child of the caller. It sets everything up, then waits
    for the start byte and execs spec.process.

    console: a unix socket; with tty the init makes its terminal in the
    container's own devpts (so ttyname() works inside, as with runc's console
    socket) and sends the master back through it. If it cannot, it sends
    nothing and keeps the terminal given as stdio."""
    bundle = os.path.abspath(bundle)
    linux = spec.get("linux") or {}
    nss = _namespaces(spec)
    load_seccomp = _preload_seccomp(linux.get("seccomp"), _cache_dir(bundle))
    joined: dict[str, int] = {}
    own_pid_ns = new_pid_ns = None
    try:
        for t, path in nss.items():
            if path:
                try:
                    joined[t] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as e:
                    raise DockyardError(f"cannot open the {t} namespace {path}: {e.strerror}") from None
        if "pid" in nss:
            own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            if "pid" in joined:
                new_pid_ns = joined.pop("pid")
            else:
                # a new pid namespace for our next child only (pid_for_children),
                # left at once after the fork (setns back to own_pid_ns)
                try:
                    sc.unshare(sc.CLONE_NEWPID)
                except OSError as e:
                    raise DockyardError(f"cannot create the container's pid namespace: {e.strerror}") from None

        cgview = None
        if hasattr(cgroup, "dirs") and any(m.get("type") == "cgroup" for m in spec.get("mounts") or []):
            try:
                cgview = rootfs.cgroup_view_for(cgroup.dirs())
            except (OSError, ValueError):
                cgview = None  # the child reads its own, once in the cgroup

        def child(sync_r, start_r, error_w):
            _run_child(error_w, lambda: _container_main(bundle, spec, stdio, tty, nss, joined, load_seccomp,
                                                        sync_r, start_r, error_w, console, cgview))

        pid, start_w, error_r = _fork(child, cgroup, new_pid_ns, own_pid_ns)
    finally:
        for fd in list(joined.values()) + [x for x in (own_pid_ns, new_pid_ns) if x is not None]:
            os.close(fd)
    return Spawned(pid, start_w, error_r)


def spawn_exec(init_pid: int, spec: dict, process: dict, stdio: tuple[int, int, int], *, tty: bool,
               cgroup=None) -> Spawned:
    """Fork a process that joins the namespaces and root of the running
    container whose pid 1 is `init_pid` (a host pid), then runs `process`
    (an OCI process object) with the container's seccomp filter."""
    load_seccomp = _preload_seccomp((spec.get("linux") or {}).get("seccomp"))
    if process.get("capabilities") is None and (spec.get("process") or {}).get("capabilities") is not None:
        # never more than the container's own process: no sets given = the container's
        process = dict(process, capabilities=spec["process"]["capabilities"])
    fds: list[int] = []
    joins: list[tuple[int, int]] = []
    pid_fd = own_pid_ns = None
    try:
        try:
            for name, flag in EXEC_NS + (("pid", sc.CLONE_NEWPID),):
                if not os.path.exists(f"/proc/self/ns/{name}"):
                    continue  # a kernel without that namespace type
                fd = os.open(f"/proc/{init_pid}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC)
                fds.append(fd)
                st = os.fstat(fd)
                mine = _ns_id(f"/proc/self/ns/{'pid_for_children' if name == 'pid' else name}")
                if (st.st_dev, st.st_ino) == mine:
                    continue
                if name == "pid":
                    pid_fd = fd
                else:
                    joins.append((fd, flag))
            root_fd = os.open(f"/proc/{init_pid}/root", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fds.append(root_fd)
        except OSError:
            raise DockyardError(f"container (pid {init_pid}) is not running: its namespaces are gone") from None
        if not any(flag == sc.CLONE_NEWNS for _, flag in joins):
            raise DockyardError(f"process {init_pid} is not a container's init (it shares our mount namespace)")
        if pid_fd is not None:
            own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
            fds.append(own_pid_ns)

        def child(sync_r, start_r, error_w):
            _run_child(error_w, lambda: _exec_main(spec, process, stdio, tty, joins, root_fd, load_seccomp,
                                                   sync_r, start_r, error_w))

        pid, start_w, error_r = _fork(child, cgroup, pid_fd, own_pid_ns)
    finally:
        for fd in fds:
            os.close(fd)
    return Spawned(pid, start_w, error_r)


# ------------------------------------------------------------------ child side (never returns)

def _report(error_w: int, message: str, code: int) -> None:
    try:
        os.write(error_w, _dumps({"message": message, "exit_code": code}).encode() + b"\n")
    except OSError:
        pass


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError):
        msg = e.strerror or str(e)
        if e.filename is not None:
            msg = f"{e.filename}: {msg}"
        return msg
    if isinstance(e, (rootfs.SetupError, DockyardError)):
        return str(e)
    return f"{type(e).__name__}: {e}"


_error_fd = -1  # in a forked child: where _run_child reports (the fd moves in _take_fds)


def _run_child(error_w: int, main) -> None:
    """Run `main` in the forked child; whatever happens, the child ends here
    with os._exit and a message on the error pipe."""
    global _error_fd
    _error_fd = error_w
    code = SETUP_FAILED
    try:
        main()
        msg = "internal error: the container process returned instead of exec"
    except _Fail as e:
        msg, code = e.message, e.code
    except SystemExit as e:  # os._exit does not raise; a stray sys.exit does
        msg = f"internal error: exit {e.code}"
    except BaseException as e:
        msg = _describe(e)
    try:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        _report(_error_fd, msg, code)
    finally:
        os._exit(code)


def _reset_signals() -> None:
    """Default dispositions (the monitor's Python handlers must never run
    here), SIGPIPE ignored until execve (an error write must not kill us), an
    empty mask."""
    for s in signal.valid_signals():
        if s in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


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


def _take_fds(stdio, keep: list[int]) -> list[int]:
    """stdio onto 0, 1, 2; every other fd closed except `keep` (moved above 2
    first, CLOEXEC); returns keep's new numbers."""
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in keep]
    std = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in stdio]
    for i, fd in enumerate(std):
        os.dup2(fd, i, inheritable=True)
    wanted = {0, 1, 2, *moved}
    for name in os.listdir("/proc/self/fd"):
        n = int(name)
        if n not in wanted:
            try:
                os.close(n)
            except OSError:
                pass
    return moved


def _wait_sync(sync_r: int) -> None:
    b = os.read(sync_r, 1)
    os.close(sync_r)
    if not b:  # the monitor gave up on us (cgroup.add failed): quietly
        os._exit(SETUP_FAILED)


def _container_main(bundle, spec, stdio, tty, nss, joined, load_seccomp, sync_r, start_r, error_w, console=None,
                    cgview=None):
    sc.prctl(sc.PR_SET_DUMPABLE, 0)  # first: /proc/<pid>/exe is the host's python (CVE-2019-5736)
    gc.disable()  # no finalizer of a monitor object may close a fd number we reuse
    _reset_signals()
    order = list(joined)
    global _error_fd
    extra = [console] if console is not None else []
    sync_r, start_r, error_w, *jfds = _take_fds(stdio, [sync_r, start_r, error_w] + extra + [joined[t] for t in order])
    if console is not None:
        console, *jfds = jfds
    _error_fd = error_w
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
    global _error_fd
    sync_r, start_r, error_w, root_fd, *fds = _take_fds(stdio, [sync_r, start_r, error_w, root_fd] + fds)
    _error_fd = error_w
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


def _chdir(cwd: str) -> None:
    if not cwd.startswith("/"):
        raise _Fail(f"the working directory {cwd!r} is not an absolute path")
    try:
        os.chdir(cwd)
    except FileNotFoundError:
        try:
            os.makedirs(cwd, 0o755, exist_ok=True)  # as docker does
            os.chdir(cwd)
        except OSError as e:
            raise _Fail(f"the working directory {cwd}: {e.strerror}") from None
    except OSError as e:
        raise _Fail(f"the working directory {cwd}: {e.strerror}") from None
    # A cwd outside the root (a leaked directory fd, CVE-2024-21626) reads as
    # "(unreachable)/…" or fails: refuse both.
    try:
        real = os.getcwd()
        ok = real.startswith("/") and os.path.samestat(os.stat(real), os.stat("."))
    except OSError:
        ok = False
    if not ok:
        raise _Fail(f"the working directory {cwd} is outside the container's root")


def _lookup(cmd: str, path_env: str) -> str:
    """args[0] → the file to execve, as Go's exec.LookPath (runc, docker)."""
    if "/" in cmd:
        try:
            st = os.stat(cmd)
        except (FileNotFoundError, NotADirectoryError):
            raise _Fail(f'exec: "{cmd}": stat {cmd}: no such file or directory', NOT_FOUND) from None
        except OSError as e:
            raise _Fail(f'exec: "{cmd}": {e.strerror.lower()}', NOT_EXECUTABLE) from None
        if stat.S_ISDIR(st.st_mode):
            raise _Fail(f'exec: "{cmd}": is a directory', NOT_EXECUTABLE)
        if not st.st_mode & 0o111:
            raise _Fail(f'exec: "{cmd}": permission denied', NOT_EXECUTABLE)
        return cmd
    if cmd:
        for d in path_env.split(":"):
            p = os.path.join(d or ".", cmd)
            try:
                st = os.stat(p)
            except OSError:
                continue
            if not stat.S_ISDIR(st.st_mode) and st.st_mode & 0o111:
                return p
    raise _Fail(f'exec: "{cmd}": executable file not found in $PATH', NOT_FOUND)


def _home(uid: int) -> str:
    try:
        with open("/etc/passwd", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def _drop_privileges(process: dict, seccomp, load_seccomp) -> None:
    """User, capabilities, no_new_privs, seccomp.

    Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, so (as runc)
    the filter goes in first, before the capabilities are dropped; with it,
    last. The bounding set is dropped before the uid changes (PR_CAPBSET_DROP
    needs CAP_SETPCAP, gone from the effective set after setresuid to
    non-root); KEEPCAPS keeps the permitted set across setresuid for capset."""
    nnp = bool(process.get("noNewPrivileges"))
    if seccomp is not None and not nnp:
        load_seccomp(seccomp)
    user = process.get("user") or {}
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    pcaps = process.get("capabilities")
    try:
        if pcaps is not None:
            caps.apply_bounding(pcaps.get("bounding") or [])
        sc.prctl(sc.PR_SET_KEEPCAPS, 1)
        os.setgroups([int(g) for g in user.get("additionalGids") or []])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
        sc.prctl(sc.PR_SET_KEEPCAPS, 0)
        if pcaps is not None:
            caps.apply_sets(pcaps.get("effective") or [], pcaps.get("permitted") or [],
                            pcaps.get("inheritable") or [], pcaps.get("ambient") or [])
        if nnp:
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    except (OSError, ValueError) as e:
        raise _Fail(f"set the user ({uid}:{gid}) and capabilities: {_describe(e)}") from None
    if seccomp is not None and nnp:
        load_seccomp(seccomp)


def _limits(process: dict) -> None:
    """process.rlimits and process.oomScoreAdj (while we still may raise them)."""
    for rl in process.get("rlimits") or []:
        name = rl.get("type", "")
        which = getattr(resource, name, None)
        if not name.startswith("RLIMIT_") or not isinstance(which, int):
            raise _Fail(f"unknown rlimit {name!r}")
        try:
            resource.setrlimit(which, (int(rl.get("soft", 0)), int(rl.get("hard", 0))))
        except (OSError, ValueError) as e:
            raise _Fail(f"set {name} to {rl.get('soft')}:{rl.get('hard')}: {e}") from None
    if process.get("oomScoreAdj") is not None:
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write(str(int(process["oomScoreAdj"])))
        except OSError as e:
            raise _Fail(f"set oom_score_adj: {e.strerror}") from None


def _finish(process: dict, seccomp, load_seccomp, tty: bool, start_r: int, error_w: int) -> None:
    """Steps shared by the container's process and exec'd ones: cwd, session,
    command lookup, user and privileges, the start byte, execve."""
    user = process.get("user") or {}
    os.umask(int(user.get("umask", 0o022)))
    env: dict[str, str] = {}
    for item in process.get("env") or []:
        k, eq, v = item.partition("=")
        if k and eq:
            env[k] = v
    _chdir(process.get("cwd") or "/")
    os.setsid()
    if tty:
        try:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
        except OSError as e:
            raise _Fail(f"make the terminal the controlling terminal: {e.strerror}") from None
    args = [str(a) for a in process.get("args") or []]
    if not args:
        raise _Fail("no command to run (process.args is empty)")
    path = _lookup(args[0], env.get("PATH", DEFAULT_PATH))
    if "HOME" not in env:
        env["HOME"] = _home(int(user.get("uid", 0)))
    _limits(process)
    _drop_privileges(process, seccomp, load_seccomp)

    b = os.read(start_r, 1)
    if not b:  # the monitor closed the start pipe without a byte: abort
        os._exit(SETUP_FAILED)
    os.close(start_r)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        os.execve(path, args, env)
    except OSError as e:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        code = NOT_FOUND if e.errno == 2 else NOT_EXECUTABLE
        raise _Fail(f'exec: "{args[0]}": {(e.strerror or str(e)).lower()}', code) from None


def _reaper(process, seccomp, load_seccomp, tty, start_r, error_w) -> None:
    """docker run --init: pid 1 stays a small reaper. It forks the real
    process, forwards signals to it, reaps every zombie and exits with the
    process's status (128+n for a signal). It runs as the process's user with
    its capabilities and seccomp filter, as tini would; never returns."""
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    pid = os.fork()
    if pid == 0:
        _run_child(error_w, lambda: (_reset_signals(), _finish(process, seccomp, load_seccomp, tty, start_r,
                                                                error_w)))

    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    code = SETUP_FAILED
    try:
        for s in FORWARDED:
            signal.signal(s, forward)
        _drop_privileges(process, seccomp, load_seccomp)
    except BaseException as e:
        _report(error_w, f"the init process: {_describe(e)}", SETUP_FAILED)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os._exit(SETUP_FAILED)
    try:
        os.close(start_r)
        os.close(error_w)  # only the real process may hold it: its execve closes it
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        for i in (0, 1, 2):
            os.dup2(null, i)  # the reaper holds no end of the container's stdio
        os.close(null)
    except OSError:
        for i in (0, 1, 2):
            try:
                os.close(i)
            except OSError:
                pass
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    try:
        while True:
            try:
                w, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            if w == pid:
                code = os.waitstatus_to_exitcode(status)
                if code < 0:
                    code = 128 - code
                break
    finally:
        os._exit(code)
