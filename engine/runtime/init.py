"""Container init: the process the monitor forks to become the container's pid 1
(`spawn_container`), or a process joining a running container (`spawn_exec`).

No raw clone: the monitor unshares a pid namespace for its next child only,
forks, and switches its own pid_for_children back at once (so its later
children, e.g. subprocesses, stay in its own pid namespace). The child, pid 1
of the new namespace and a direct child of the monitor, waits until the
monitor has put it in its cgroup, unshares the other namespaces, builds its
root (rootfs.py), pivots into it, drops to the process's user, capabilities,
no_new_privs and seccomp filter, then waits for the start byte and execs.

Here: the monitor's side (the fork, the pipes, what is opened or pre-loaded
before it). The child's side: init_setup (namespaces, mounts, pivot_root),
init_process (cwd, user, caps, no_new_privs, seccomp, execve, the --init
reaper), init_child (its error reporting, signals and fds).

Protocol with the monitor (`Spawned`):
  start_w  the monitor writes one byte to let the process execve, then closes
           it; closing it without writing aborts the start (exit 125).
  error_r  read to EOF: nothing means execve succeeded (the CLOEXEC pipe
           closed); else one JSON object {"message": str, "exit_code": int}:
           127 command not found, 126 not executable, 125 set-up failure.

Standard library only, and imported by the monitor: everything the child
needs after pivot_root (host modules are unreachable then) is imported here
(and by the init_* modules), at the top, or pre-loaded before the fork
(seccomp and its libseccomp)."""
import os
import signal

from ..errors import DockyardError
from . import protocol as _protocol
from . import rootfs
from . import syscalls as sc
from .init_child import NOT_EXECUTABLE, NOT_FOUND, SETUP_FAILED, _run_child  # noqa: F401 (the exit codes: API)
from .init_process import DEFAULT_PATH  # noqa: F401
from .init_setup import ANN_INIT, ANN_LOWER, ANN_UPPER, ANN_WORK, NS_FLAGS, _container_main, _exec_main  # noqa: F401

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
        from . import seccomp_bpf, seccomp_lib, seccomp_oci  # (not seccomp.py: rendering is not needed here)
        seccomp_oci.validate(oci_seccomp)
        if cache_dir and not oci_seccomp.get("flags"):
            prog = seccomp_bpf.cached_bpf(oci_seccomp, cache_dir)
            import ctypes  # noqa: F401  (loaded before pivot_root)
            return lambda _oci: seccomp_bpf.load_bpf(prog)
        if hasattr(seccomp_lib, "_lib"):
            seccomp_lib._lib()  # it loads libseccomp.so.2 lazily, on first use
    except DockyardError:
        raise
    except Exception as e:  # ImportError, OSError…
        raise DockyardError(f"seccomp is not available: {e}") from None
    return seccomp_lib.load


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
