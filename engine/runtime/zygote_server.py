"""The zygote itself (zygote.py tells what it is and holds the client side):

    python -E -S -m engine.runtime.zygote_server ROOT FINGERPRINT --ready-fd N --serve MODULES PADDING

binds ROOT/run/zygote-FINGERPRINT.sock, imports what a monitor and a
container init need, then forks monitors (`start`) and workers of the
served modules (`call`) until idle."""
import os
import sys

from .zygote import _names, run_dir

IDLE_SECONDS = 600
REQUEST_MAX = 1 << 16
_lock_fd = -1
MAX_FDS = 8
CALL_MAX = 4 << 20


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 6 or args[2] != "--ready-fd" or args[4] != "--serve":
        raise SystemExit("usage: python -m engine.runtime.zygote_server ROOT FINGERPRINT --ready-fd N --serve MODULES")
    root, fp, ready_fd = os.path.abspath(args[0]), args[1], int(args[3])
    served = frozenset(m for m in args[5].split(",") if m)
    # Our workers (forks) start monitors too: through us, the zygote of their code and set.
    from . import zygote
    zygote._served, zygote._fingerprint = tuple(sorted(served)), fp
    if os.fork():
        os._exit(0)  # the launcher reaps this first process; the zygote is nobody's child
    os.chdir("/")
    try:
        lsock = _bind(root, fp)
    except BaseException:
        lsock = None
    if lsock is None:
        _say(ready_fd, b"busy\n")
        return 0
    # Everything a monitor and a container init need, imported once, here.
    import ctypes  # noqa: F401  (seccomp.load_bpf)
    import gc
    import hashlib  # noqa: F401  (seccomp.cached_bpf: 3 ms of OpenSSL loading)
    import signal

    from ..store import (
        container_exit,  # noqa: F401  (--rm: json, shutil)
        db,  # noqa: F401  (--rm: sqlite3)
    )
    from . import (  # noqa: F401
        cgroups,
        init,
        init_child,
        init_process,
        init_setup,
        logs,
        monitor,
        monitor_loop,
        monitor_setup,
        protocol,
        rootfs_cgroup,
        rootfs_overlay,
        rootfs_target,
        seccomp,
        seccomp_bpf,
        seccomp_lib,
        seccomp_oci,
        seccomp_render,
        state,
    )
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked monitors are reaped by the kernel
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(0)))
    gc.collect()
    gc.freeze()  # keep the imported objects' pages shared with every fork
    _say(ready_fd, b"ok\n")
    try:
        _serve(root, fp, lsock, monitor, served)
    except SystemExit:
        pass
    finally:
        _unbind(root, fp)
    return 0


def _say(fd: int, msg: bytes) -> None:
    try:
        os.write(fd, msg)
    except OSError:
        pass
    try:
        os.close(fd)
    except OSError:
        pass


def _bind(root: str, fp: str):
    """The listening socket, or None when another zygote of this root and code
    holds the lock. The lock fd stays open (and locked) for our whole life."""
    import fcntl
    import socket
    rdir = run_dir(root)
    os.makedirs(rdir, mode=0o700, exist_ok=True)
    sock_name, lock_name = _names(fp)
    lfd = os.open(os.path.join(rdir, lock_name), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lfd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(lfd)
        return None
    global _lock_fd
    _lock_fd = lfd
    dfd = os.open(rdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        path = f"/proc/self/fd/{dfd}/{sock_name}"
        try:
            os.unlink(os.path.join(rdir, sock_name))  # a dead zygote's
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old = os.umask(0o177)
        try:
            s.bind(path)
        finally:
            os.umask(old)
        s.listen(64)
    finally:
        os.close(dfd)
    return s


def _unbind(root: str, fp: str) -> None:
    # (the lock file stays: unlinking a file others may be locking would split the lock)
    try:
        os.unlink(os.path.join(run_dir(root), _names(fp)[0]))
    except OSError:
        pass


def _serve(root: str, fp: str, lsock, monitor, served: frozenset) -> None:
    containers = os.path.realpath(os.path.join(root, "containers"))
    try:
        idle = float(os.environ.get("DOCKYARD_ZYGOTE_IDLE") or IDLE_SECONDS)
    except ValueError:
        idle = IDLE_SECONDS
    lsock.settimeout(idle)
    while True:
        try:
            conn, _ = lsock.accept()
        except TimeoutError:
            break
        except InterruptedError:
            continue
        with conn:
            _handle(conn, containers, lsock, monitor, served)
    # Idle: no new client can find us once the socket file is gone; serve
    # whoever connected in between, then leave.
    _unbind(root, fp)
    lsock.setblocking(False)
    while True:
        try:
            conn, _ = lsock.accept()
        except OSError:
            break
        with conn:
            conn.setblocking(True)
            _handle(conn, containers, lsock, monitor, served)


def _handle(conn, containers: str, lsock, monitor, served: frozenset) -> None:
    import socket
    import struct
    conn.settimeout(5)
    fds: list[int] = []
    try:
        uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
        msg, anc, _flags, _addr = conn.recvmsg(REQUEST_MAX, socket.CMSG_SPACE(4 * MAX_FDS))
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds += [int.from_bytes(data[i:i + 4], sys.byteorder) for i in range(0, len(data) - 3, 4)]
        for fd in fds:
            os.set_inheritable(fd, False)
        if uid != os.getuid():
            conn.sendall(b"error: not our user\n")
            return
        verb, _, arg = msg.partition(b"\0")
        if verb == b"call":
            _call(conn, arg, fds, lsock, served)
            return
        cdir = os.path.realpath(os.fsdecode(arg))
        name = os.path.basename(cdir)
        if (verb != b"start" or len(fds) != 1 or os.path.dirname(cdir) != containers or len(name) != 64
                or not all(c in "0123456789abcdef" for c in name)
                or not os.path.isfile(os.path.join(cdir, "config.json"))):
            conn.sendall(b"error: bad request\n")
            return
        # Answer first: the launcher need not wait for the fork; should it
        # fail, the ready pipe closes unanswered and the launcher says so.
        conn.sendall(b"ok\n")
        pid = os.fork()
        if pid == 0:  # pragma: no cover (the monitor)
            code = 1
            try:
                # A monitor holds nothing of ours: not the socket, not the
                # lock (a flock belongs to the open file, shared across fork).
                lsock.close()
                conn.close()
                os.close(_lock_fd)
                code = _become_monitor(cdir, fds[0], monitor)
            finally:
                os._exit(code)
    except OSError:
        pass
    finally:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass


def _call(conn, arg: bytes, fds: list[int], lsock, served: frozenset) -> None:
    """A `call` of one of the `served` modules: import it (once: later calls
    find it loaded, which is the point), fork, and let the worker answer on `conn`."""
    import importlib
    name, _, rest = arg.partition(b"\0")
    size, _, payload = rest.partition(b"\0")
    if not size.isdigit() or int(size) > CALL_MAX:
        conn.sendall(b"error: bad request\n")
        return
    while len(payload) < int(size):  # a big environment may come in more than one piece
        chunk = conn.recv(int(size) - len(payload))
        if not chunk:
            return
        payload += chunk
    module = name.decode("ascii", "replace")
    if module not in served:
        conn.sendall(b"error: not a module the zygote serves\n")
        return
    try:
        mod = importlib.import_module(module)
        serve = mod.serve_forked
    except Exception as e:
        conn.sendall(b"error: %s\n" % str(e).encode(errors="replace")[:200])
        return
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the worker)
        code = 125
        try:
            import signal
            lsock.close()
            os.close(_lock_fd)
            for sig in (signal.SIGCHLD, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            conn.settimeout(None)
            code = serve(conn, payload, list(fds))
        finally:
            os._exit(code if isinstance(code, int) else 125)


def _become_monitor(cdir: str, ready_fd: int, monitor) -> int:
    import signal
    os.setsid()
    for sig in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    set_cmdline([sys.executable, "-m", monitor.MODULE, cdir, "--zygote"])
    return monitor.run_forked(cdir, ready_fd)


def set_cmdline(argv: list[str]) -> bool:
    """Rewrites what /proc/self/cmdline shows (as setproctitle does: over the
    original argv's memory, which the zygote padded), so that a forked monitor
    reads as one in ps and to state.is_monitor_of. False when it does not fit."""
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        # fields[0] is field 3 (state); arg_start/arg_end are fields 48 and 49
        start, end = int(fields[45]), int(fields[46])
    except (OSError, ValueError, IndexError):
        return False
    data = b"\0".join(os.fsencode(a) for a in argv) + b"\0"
    if len(data) > end - start:
        return False
    try:
        with open("/proc/self/mem", "r+b", buffering=0) as f:
            f.seek(start)
            f.write(data + b"\0" * (end - start - len(data)))
    except OSError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
