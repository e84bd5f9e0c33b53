"""The per-container monitor: `python -m engine.runtime.monitor DIR --ready-fd N`
(launcher.start runs it; see there for the exact command line).

One monitor a container, like conmon. It

- forks once (its first process exits, so the monitor is nobody's child and
  outlives the CLI/TUI; launcher.start runs it in a session of its own);
- sets up (stage 1): monitor.pid, the cgroup, the container's stdio (a pty
  whose master it keeps, or pipes) and init.spawn_container, which forks the
  container's pid 1 (of a new pid namespace) as its direct child;
- re-executes itself (stage 2, same pid, same children, fds inherited) into a
  lean interpreter that imports only C modules and protocol/logs/state: the
  set-up code (ctypes, dataclasses, cgroups, seccomp…) is paid once, at start,
  not for the whole life of the container;
- answers the ready pipe once the container's execve is known to have
  succeeded or failed, and writes state.json (state.py);
- runs a single-threaded epoll loop: container output goes to the json-file
  log (logs.py), to a 64 KiB replay ring and to attached clients; clients
  connect to attach.sock (protocol.py) to attach, send stdin, resize, signal,
  exec and wait;
- when pid 1 exits: exit code (signal N → 128+N), OOM kill from the cgroup,
  output drained, leftovers killed, cgroup removed, final state.json,
  autoremove for --rm, EXIT to every client, and exits.

A slow client cannot block the container: when an attached client's unsent
output exceeds CLIENT_BUFFER_MAX it loses the oldest of it, in whole frames,
down to half that (the log stays complete; the client stays connected and
still gets the exit). An exec's output, which is not logged, is paused
instead until its client catches up.
"""
import os
import sys
from _collections import deque  # the C type: the lean monitor loads no collections package

MODULE = "engine.runtime.monitor"
SOCKET_NAME = "attach.sock"
PID_FILE = "monitor.pid"
LOG_FILE = "container.log"
RING_MAX = 64 * 1024
CLIENT_BUFFER_MAX = 4 * 1024 * 1024
EXEC_PAUSE_AT = 1024 * 1024
STDIN_BUFFER_MAX = 1024 * 1024
DRAIN_TIMEOUT = 2.0
EXEC_DRAIN_TIMEOUT = 1.0
READ_SIZE = 65536
# A monitor forked by the zygote carries the set-up modules (~7 MB): once the
# container has run this long, at a quiet moment, it re-executes itself lean.
SLIM_AFTER = 2.0
SLIM_RETRY = 1.0
PR_SET_CHILD_SUBREAPER = 36
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _parse_args(argv: list[str]) -> tuple[str, int, str | None]:
    args = list(argv)
    cdir, ready_fd, resume = None, -1, None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--ready-fd":
            ready_fd = int(args[i + 1])
            i += 2
        elif a == "--resume":
            resume = args[i + 1]
            i += 2
        elif cdir is None:
            cdir = a
            i += 1
        else:
            raise SystemExit(f"monitor: unexpected argument {a!r}")
    if cdir is None:
        raise SystemExit("usage: python -m engine.runtime.monitor CONTAINER_DIR [--ready-fd N]")
    return cdir, ready_fd, resume


def _answer(ready_fd: int, obj: dict) -> int:
    """Writes the one-line answer to the launcher; -1 (closed) afterwards."""
    if ready_fd < 0:
        return -1
    from .protocol import dumps
    try:
        os.write(ready_fd, (dumps(obj) + "\n").encode())
    except OSError:
        pass
    try:
        os.close(ready_fd)
    except OSError:
        pass
    return -1


def main(argv: list[str] | None = None) -> int:
    cdir, ready_fd, resume = _parse_args(sys.argv[1:] if argv is None else argv)
    if resume is not None:
        from .protocol import loads
        return Monitor(cdir, ready_fd, loads(resume)).run()
    if not _enter(cdir, ready_fd):
        return 1
    # Double fork: our parent (the launcher) reaps this first process at once;
    # the monitor lives on in the child, in the launcher's new session but not
    # its leader (so it never gets a controlling terminal back).
    pid = os.fork()
    if pid:
        os._exit(0)
    return _serve(cdir, ready_fd, reexec=True)


def run_forked(cdir: str, ready_fd: int) -> int:
    """The monitor in a process forked by the zygote (zygote.py): the modules
    are loaded already, so no re-exec."""
    if not _enter(cdir, ready_fd):
        return 1
    return _serve(cdir, ready_fd, reexec=False)


def _enter(cdir: str, ready_fd: int) -> bool:
    """chdir into the container directory, or tell the launcher why not."""
    try:
        os.chdir(cdir)
        return True
    except OSError as e:
        _answer(ready_fd, {"ok": False, "message": f"cannot enter the container directory {cdir}: {e.strerror}",
                           "exit_code": 125})
        return False


def _serve(cdir: str, ready_fd: int, reexec: bool) -> int:
    try:
        handoff = _setup(cdir)
    except BaseException as e:  # noqa: BLE001 - everything goes to the launcher
        code = getattr(e, "exit_code", 125)
        msg = _message(e)
        _fail_state(msg, code if isinstance(code, int) else 125)
        _answer(ready_fd, {"ok": False, "message": msg, "exit_code": code})
        os._exit(1)
    if handoff.get("running"):
        # Clients may connect as soon as the launcher hears from us: the socket first.
        handoff["lsock"] = _listen()
        from .state import rfc3339_nano, write_state
        write_state(".", {"status": "running", "pid": handoff["pid"], "monitor_pid": os.getpid(),
                          "started_at": rfc3339_nano(handoff["started_ns"]), "finished_at": None,
                          "exit_code": None, "oom_killed": False, "error": None}, durable=False)
        ready_fd = _answer(ready_fd, {"ok": True, "pid": handoff["pid"], "monitor_pid": os.getpid()})
    cdir = os.getcwd()
    if not reexec:
        handoff["forked"] = True
        return Monitor(cdir, ready_fd, handoff).run()
    # Stage 2: the same process, re-executed lean (from the directory that
    # holds `engine`, for -m; Monitor.run goes back). On failure, run here.
    for fd in _handoff_fds(handoff) + ([ready_fd] if ready_fd >= 0 else []):
        os.set_inheritable(fd, True)
    from .monitor_flags import FAST_FLAGS
    from .protocol import dumps
    argv2 = [sys.executable, *FAST_FLAGS, "-m", MODULE, cdir, "--ready-fd", str(ready_fd),
             "--resume", dumps(handoff)]
    try:
        os.chdir(PACKAGE_ROOT)
        os.execv(sys.executable, argv2)
    except OSError:
        pass
    return Monitor(cdir, ready_fd, handoff).run()


def _message(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}: {e.filename}" if e.filename else str(e)
    return str(e) or type(e).__name__


def _fail_state(msg: str, code: int) -> None:
    from .state import rfc3339_nano, write_state
    try:
        now = rfc3339_nano()
        write_state(".", {"status": "exited", "pid": 0, "monitor_pid": os.getpid(), "started_at": None,
                          "finished_at": now, "exit_code": code, "oom_killed": False, "error": msg})
        _unlink(PID_FILE)
    except OSError:
        pass


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _handoff_fds(h: dict) -> list[int]:
    return [h[k] for k in ("master", "stdin_w", "stdout_r", "stderr_r", "error_r", "start_w", "lsock", "carry")
            if h.get(k) is not None]


def _set_winsize(fd: int, rows: int, cols: int) -> None:
    import fcntl
    import struct
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", int(rows), int(cols), 0, 0))


CLAIM_TIMEOUT = 10.0


def _container_pty(init_pid: int) -> tuple[int, int]:
    """A pty from the container's own devpts, as runc gives exec: so that
    ttyname() works inside (`tty` prints /dev/pts/N, not "not a tty")."""
    import fcntl
    import struct
    master = os.open(f"/proc/{init_pid}/root/dev/pts/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, 0x40045431, struct.pack("i", 0))  # TIOCSPTLCK: unlock
        slave = fcntl.ioctl(master, 0x5441, os.O_RDWR | os.O_NOCTTY)  # TIOCGPTPEER (Linux 4.13+)
    except OSError:
        os.close(master)
        raise
    return master, slave


def _setup(cdir: str) -> dict:
    """Stage 1: everything that needs the heavy modules. Returns what stage 2
    needs (fds to inherit, the pid, options)."""
    from .protocol import loads
    # Exec'd processes are spawned by short-lived helpers and re-parented to
    # us (kept across the execve into stage 2).
    from .syscalls import prctl
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    with open(PID_FILE + ".tmp", "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(PID_FILE + ".tmp", PID_FILE)
    with open("config.json", "rb") as f:
        spec = loads(f.read())
    try:
        with open("monitor.json", "rb") as f:
            mon = loads(f.read())
    except FileNotFoundError:
        mon = {}
    tty = bool((spec.get("process") or {}).get("terminal"))
    open_stdin = bool(mon.get("open_stdin"))
    linux = spec.get("linux") or {}
    cg_path = linux.get("cgroupsPath")
    cgroup = None
    child_fds: list[int] = []
    keep: dict = {}
    try:
        if cg_path:
            from .cgroups import Cgroup
            cgroup = Cgroup.create(cg_path, linux.get("resources"))
        if tty:
            master, slave = os.openpty()
            keep["master"] = master
            child_fds.append(slave)
            size = mon.get("tty_size")
            if size:
                _set_winsize(master, size[0], size[1])
            stdio = (slave, slave, slave)
        else:
            if open_stdin:
                r, w = os.pipe()
                keep["stdin_w"] = w
                child_fds.append(r)
                fd0 = r
            else:
                fd0 = os.open("/dev/null", os.O_RDONLY)
                child_fds.append(fd0)
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            keep["stdout_r"], keep["stderr_r"] = out_r, err_r
            child_fds += [out_w, err_w]
            stdio = (fd0, out_w, err_w)
        # init.spawn_container unshares CLONE_NEWPID for its fork only (and
        # switches our pid_for_children back): pid 1 is our direct child.
        from .init import spawn_container
        console = None
        if tty:
            import socket
            console, child_console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            child_fds.append(child_console.detach())
        sp = spawn_container(os.path.abspath("."), spec, stdio=stdio, tty=tty, cgroup=cgroup,
                             console=child_fds[-1] if console is not None else None)
        if console is not None:
            master = _receive_master(console, child_fds)
            if master is not None:  # the container's own terminal replaces ours
                os.close(keep["master"])
                keep["master"] = master
                size = mon.get("tty_size")
                if size:
                    _set_winsize(master, size[0], size[1])
    except BaseException:
        for fd in child_fds + list(keep.values()):
            try:
                os.close(fd)
            except OSError:
                pass
        if cgroup is not None:
            try:
                cgroup.destroy()
            except Exception:
                pass
        raise
    for fd in child_fds:
        os.close(fd)
    started_ns = None
    start_w = sp.start_w
    error_r = sp.error_r
    running = False
    if not mon.get("wait_attach"):
        import time
        started_ns = time.time_ns()
        _release(start_w)
        start_w = None
        # The execve follows the start byte at once: learn how it went here, so
        # the launcher hears "running" without waiting for stage 2 to start.
        error_r, running = _exec_outcome(error_r)
    for k in ("master", "stdin_w"):
        if k in keep:
            os.set_blocking(keep[k], False)
    return {"pid": sp.pid, "tty": tty, "open_stdin": open_stdin, "cgroup": cg_path, "error_r": error_r,
            "running": running,
            "start_w": start_w, "started_ns": started_ns, "id": mon.get("id") or os.path.basename(os.getcwd()),
            "name": mon.get("name"), "autoremove": bool(mon.get("autoremove")),
            "log_max_size": int(mon.get("log_max_size") or 0), "log_max_files": int(mon.get("log_max_files") or 1),
            **keep}


def _receive_master(console, child_fds: list[int]) -> int | None:
    """The pty master the init made in the container's devpts, or None (it
    failed before, or could not: then our own pty stays)."""
    import socket
    os.close(child_fds.pop())  # our copy of the child's end: EOF comes when the init closes its own
    try:
        msg, fds, _flags, _addr = socket.recv_fds(console, 1, 1)
    except OSError:
        fds = []
    finally:
        console.close()
    return fds[0] if fds else None


def _listen() -> int:
    """The attach socket, bound and listening; its fd (kept across stage 2's exec)."""
    import _socket
    _unlink(SOCKET_NAME)
    ls = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    ls.bind(SOCKET_NAME)
    os.chmod(SOCKET_NAME, 0o600)
    ls.listen(64)
    return ls.detach()


def _exec_outcome(error_r: int) -> tuple[int | None, bool]:
    """Reads the init's error pipe to its end. (None, True): execve worked.
    Otherwise a pipe holding the error for stage 2 to report as before."""
    data = b""
    while True:
        chunk = os.read(error_r, 65536)
        if not chunk:
            break
        data += chunk
    os.close(error_r)
    if not data:
        return None, True
    r, w = os.pipe()
    os.write(w, data)
    os.close(w)
    return r, False


def _release(start_w: int) -> None:
    """Lets the container's process execve."""
    try:
        os.write(start_w, b"\0")
    except OSError:
        pass  # it died already: error_r / SIGCHLD tell the rest
    os.close(start_w)


# ---------------------------------------------------------------------------
# Stage 2: the event loop. Only C modules and protocol/logs/state from here on.

class Conn:
    __slots__ = ("sock", "fd", "reader", "out", "lens", "head", "stdout", "stderr", "stdin", "hello", "waiting",
                 "exec", "closed", "hold")

    def __init__(self, sock):
        from .protocol import FrameReader
        self.sock = sock
        self.fd = sock.fileno()
        self.reader = FrameReader()
        self.out = bytearray()
        self.lens = deque()  # the sizes of the frames in `out`, in order
        self.head = 0        # bytes of the first of them already sent
        self.stdout = self.stderr = self.stdin = False
        self.hello = False
        self.waiting = False
        self.exec = None
        self.closed = False
        self.hold = False    # this connection holds the container frozen (a commit's pause)


class Exec:
    __slots__ = ("conn", "pid", "tty", "master", "stdin_w", "outs", "error_r", "error_buf", "started",
                 "status", "done", "deadline", "stdin_buf", "stdin_eof", "paused", "detach")

    def __init__(self, conn):
        self.conn = conn
        self.pid = None
        self.tty = False
        self.master = None
        self.stdin_w = None
        self.outs = {}          # fd -> frame type
        self.error_r = None
        self.error_buf = b""
        self.started = False
        self.status = None
        self.done = False
        self.deadline = None
        self.stdin_buf = bytearray()
        self.stdin_eof = False
        self.paused = False
        self.detach = False


class Monitor:
    def __init__(self, cdir: str, ready_fd: int, h: dict):
        self.dir = cdir
        self.ready_fd = ready_fd
        self.h = h
        self.pid = h["pid"]
        self.tty = h["tty"]
        self.open_stdin = h["open_stdin"]
        self.id = h.get("id")
        self.master = h.get("master")
        self.stdin_w = self.master if self.tty else h.get("stdin_w")
        self.stdin_buf = bytearray()
        self.stdin_eof = False
        self.outs: dict[int, int] = {}
        self.error_r = h.get("error_r")
        self.error_buf = b""
        self.start_w = h.get("start_w")
        self.start_error = None      # (message, exit_code) from init
        self.started_ns = h.get("started_ns")
        self.init_status = None
        self.exiting = False
        self.drain_deadline = None
        self.claim_deadline = 0.0
        self._pending: dict[int, bytes] = {}   # error-pipe bytes read before EOF
        self.conns: dict[int, Conn] = {}
        self.execs: dict[int, Exec] = {}   # pid -> Exec
        self.helpers: set[int] = set()     # exec helpers still running
        self.orphans: dict[int, int] = {}  # exit codes of execs reaped before their report
        self.readers: dict = {}
        self.writers: dict = {}
        self.masks: dict[int, int] = {}
        self.ring: list = []
        self.ring_size = 0
        self.spec = None
        self.slim_at = None
        # The freezer: the user's pause (docker pause: until unpause) and the
        # holds of committers' connections; frozen while either remains.
        self.user_paused = bool(h.get("user_paused"))
        self.holds: set[int] = set()
        self.frozen = self.user_paused

    # -- plumbing ------------------------------------------------------------
    def _update(self, fd: int) -> None:
        import select
        mask = (select.EPOLLIN if fd in self.readers else 0) | (select.EPOLLOUT if fd in self.writers else 0)
        old = self.masks.get(fd)
        if mask == (old or 0):
            return
        try:
            if not mask:
                del self.masks[fd]
                self.ep.unregister(fd)
            elif old is None:
                self.ep.register(fd, mask)
                self.masks[fd] = mask
            else:
                self.ep.modify(fd, mask)
                self.masks[fd] = mask
        except (OSError, ValueError):
            self.masks.pop(fd, None)

    def _on_read(self, fd: int, fn) -> None:
        if fn is None:
            self.readers.pop(fd, None)
        else:
            self.readers[fd] = fn
        self._update(fd)

    def _on_write(self, fd: int, fn) -> None:
        if fn is None:
            self.writers.pop(fd, None)
        else:
            self.writers[fd] = fn
        self._update(fd)

    def _forget(self, fd: int) -> None:
        self.readers.pop(fd, None)
        self.writers.pop(fd, None)
        self._update(fd)

    # -- main ----------------------------------------------------------------
    def run(self) -> int:
        try:
            return self._run()
        except BaseException as e:  # noqa: BLE001 - a bug must not leave the container unwatched
            return self._crashed(e)

    def _crashed(self, e: BaseException) -> int:
        """Last resort: record what went wrong, end the container, clean up."""
        import traceback
        msg = "monitor failed: " + "".join(traceback.format_exception_only(type(e), e)).strip()
        tb = traceback.format_exc()
        try:
            with open("monitor.error", "a") as f:
                f.write(tb)
        except OSError:
            pass
        try:
            os.kill(self.pid, 9)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except OSError:
            pass
        try:
            cg = self._cgroup()
            if cg is not None:
                cg.destroy()
        except Exception:  # noqa: BLE001
            pass
        from .state import rfc3339_nano, write_state
        try:
            write_state(".", {"status": "exited", "pid": self.pid, "monitor_pid": os.getpid(),
                              "started_at": rfc3339_nano(self.started_ns) if self.started_ns else None,
                              "finished_at": rfc3339_nano(), "exit_code": 137, "oom_killed": False, "error": msg})
        except OSError:
            pass
        self.ready_fd = _answer(self.ready_fd, {"ok": False, "message": msg, "exit_code": 125})
        _unlink(SOCKET_NAME)
        _unlink(PID_FILE)
        return 1

    def _run(self) -> int:
        import _signal
        import _socket
        import select
        import time
        from .logs import LogWriter
        from .state import write_state
        self._time = time
        self._write_state = write_state
        os.chdir(self.dir)
        os.umask(0o077)
        for fd in _handoff_fds(self.h):
            os.set_inheritable(fd, False)
        self.ep = select.epoll()
        # Signals: SIGCHLD wakes the loop; SIGTERM is passed on to pid 1.
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake_r = wake_r
        for sig in (_signal.SIGCHLD, _signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
            _signal.signal(sig, _noop)
        _signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        self._on_read(wake_r, self._on_signal)
        self.log = LogWriter(LOG_FILE, self.h.get("log_max_size") or 0, self.h.get("log_max_files") or 1)
        if self.h.get("carry") is not None:
            self._restore(self.h["carry"])
        if self.h.get("forked"):
            self.slim_at = time.monotonic() + SLIM_AFTER
        # The socket, before anyone hears we are ready (stage 1 may have made it).
        lfd = self.h.get("lsock")
        ls = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, lfd if lfd is not None else _listen())
        ls.setblocking(False)
        self.lsock = ls
        self._on_read(ls.fileno(), self._accept)
        for k, t in (("master", 4), ("stdout_r", 4), ("stderr_r", 5)):
            fd = self.h.get(k)
            if fd is not None:
                os.set_blocking(fd, False)
                self.outs[fd] = t
                self._on_read(fd, self._read_output)
        if self.error_r is not None:
            self._on_read(self.error_r, self._read_error)
        if self.start_w is not None:
            # wait_attach: the process waits for its first client; tell the launcher now.
            self._write_running()
            self.ready_fd = _answer(self.ready_fd, {"ok": True, "pid": self.pid, "monitor_pid": os.getpid(),
                                                    "waiting": True})
        self._reap()
        while True:
            timeout = -1
            now = time.monotonic()
            if self.exiting:
                unclaimed = not self.conns and now < self.claim_deadline
                if (not self.outs or now >= self.drain_deadline) and not unclaimed:
                    break
                timeout = max(0.0, (self.claim_deadline if unclaimed else self.drain_deadline) - now)
            for ex in self.execs.values():
                if ex.deadline is not None:
                    t = max(0.0, ex.deadline - now)
                    timeout = t if timeout < 0 else min(timeout, t)
            if self.slim_at is not None and not self.exiting:
                t = max(0.0, self.slim_at - now)
                timeout = t if timeout < 0 else min(timeout, t)
            try:
                events = self.ep.poll(timeout)
            except InterruptedError:
                continue
            for fd, ev in events:
                fn = self.readers.get(fd) if ev & (select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR) else None
                if fn is not None:
                    fn(fd)
                if ev & (select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP):
                    fn = self.writers.get(fd)
                    if fn is not None:
                        fn(fd)
            if self.execs:
                now = time.monotonic()
                for ex in list(self.execs.values()):
                    if ex.deadline is not None and now >= ex.deadline:
                        self._exec_finish(ex)
            if self.slim_at is not None and not self.exiting and time.monotonic() >= self.slim_at:
                self._slim()
        return self._finish()

    # -- re-executing lean -----------------------------------------------------
    def _slim(self) -> None:
        """Re-executes this zygote-forked monitor into the lean stage 2 (same
        pid, same children), at a moment with nothing in flight: no client,
        no exec, no stdin waiting. The replay ring and the log's unfinished
        lines go along in a memfd; a pid 1 exit during the exec is found by
        the new loop's first waitpid."""
        if (self.conns or self.execs or self.helpers or self.orphans or self.stdin_buf or self._pending
                or self.error_r is not None or self.start_w is not None):
            self.slim_at = self._time.monotonic() + SLIM_RETRY
            return
        self.slim_at = None
        h = {k: v for k, v in self.h.items() if k not in ("master", "stdin_w", "stdout_r", "stderr_r", "error_r",
                                                          "start_w", "lsock", "forked", "carry")}
        h.update(running=True, started_ns=self.started_ns, error_r=None, start_w=None)
        if self.tty:
            h["master"] = self.master
        else:
            for k in ("stdout_r", "stderr_r"):
                if self.h.get(k) in self.outs:
                    h[k] = self.h[k]
            if self.stdin_w is not None:
                h["stdin_w"] = self.stdin_w
        h["lsock"] = self.lsock.fileno()
        carry = os.memfd_create("dockyard-monitor-carry", 0)
        parts = [bytes([t]) + len(d).to_bytes(8, "little") + d for t, d in self.ring]
        parts += [bytes([0x6f if k == "stdout" else 0x65]) + len(d).to_bytes(8, "little") + d
                  for k, d in self.log._partial.items() if d]
        data = b"".join(parts)
        while data:
            data = data[os.write(carry, data):]
        h["carry"] = carry
        fds = _handoff_fds(h)
        from .monitor_flags import FAST_FLAGS
        from .protocol import dumps
        argv = [sys.executable, *FAST_FLAGS, "-m", MODULE, self.dir, "--ready-fd", "-1", "--resume", dumps(h)]
        try:
            for fd in fds:
                os.set_inheritable(fd, True)
            os.chdir(PACKAGE_ROOT)
            os.execv(sys.executable, argv)
        except OSError:
            pass
        # Could not: carry on as we are.
        os.chdir(self.dir)
        for fd in fds:
            if fd != carry:
                os.set_inheritable(fd, False)
        os.close(carry)

    def _restore(self, carry: int) -> None:
        """The replay ring and unfinished log lines of the monitor we were."""
        os.lseek(carry, 0, os.SEEK_SET)
        chunks = []
        while True:
            chunk = os.read(carry, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(carry)
        data = b"".join(chunks)
        i = 0
        while i + 9 <= len(data):
            t = data[i]
            n = int.from_bytes(data[i + 1:i + 9], "little")
            piece = data[i + 9:i + 9 + n]
            i += 9 + n
            if t in (4, 5):
                self.ring.append((t, piece))
                self.ring_size += len(piece)
            else:
                self.log._partial["stdout" if t == 0x6f else "stderr"] = piece

    # -- signals and children -----------------------------------------------
    def _on_signal(self, fd: int) -> None:
        try:
            got = os.read(fd, 512)
        except BlockingIOError:
            got = b""
        import _signal
        if _signal.SIGTERM in got and self.init_status is None:
            try:
                os.kill(self.pid, _signal.SIGTERM)
            except OSError:
                pass
        self._reap()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            if pid == self.pid:
                self.init_status = code
                self._begin_exit()
            elif pid in self.helpers:
                self.helpers.discard(pid)
            elif pid in self.execs:
                ex = self.execs[pid]
                ex.status = code
                ex.deadline = self._time.monotonic() + EXEC_DRAIN_TIMEOUT
                if not ex.outs or ex.done:
                    self._exec_finish(ex)
            else:
                self.orphans[pid] = code    # an exec whose helper has not reported yet

    def _begin_exit(self) -> None:
        if self.exiting:
            return
        self.exiting = True
        if self.error_r is not None:
            self._read_error(self.error_r, block=True)
        # Failed before the client it waited for arrived (a missing command under
        # `run`): stay a little so that client still gets the error and exit code.
        self.claim_deadline = self._time.monotonic() + CLAIM_TIMEOUT if self.start_w is not None else 0.0
        if self.start_w is not None:
            os.close(self.start_w)
            self.start_w = None
        self.drain_deadline = self._time.monotonic() + DRAIN_TIMEOUT
        # Leftovers (pid 1's orphans die with its pid namespace; this covers the rest).
        self._cgroup_kill()
        # Stop taking input for the container.
        if self.stdin_w is not None and not self.tty:
            self._forget(self.stdin_w)
            os.close(self.stdin_w)
        self.stdin_w = None

    def _cgroup(self):
        if not self.h.get("cgroup"):
            return None
        if getattr(self, "_cg", None) is None:
            from .cgroups import Cgroup
            self._cg = Cgroup(self.h["cgroup"])
        return self._cg

    def _cgroup_kill(self) -> None:
        try:
            cg = self._cgroup()
            if cg is not None and cg.exists():
                cg.kill_all()
        except Exception:
            pass

    # -- exec result of pid 1 -------------------------------------------------
    def _drain(self, fd: int, block: bool) -> bytes | None:
        """What an error pipe holds, once it reached EOF (then it is closed);
        None while its writer may still write."""
        if block:
            os.set_blocking(fd, True)
        data = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                self._pending[fd] = self._pending.get(fd, b"") + data
                return None
            except OSError:
                chunk = b""
            if not chunk:
                break
            data += chunk
        self._forget(fd)
        os.close(fd)
        return self._pending.pop(fd, b"") + data

    def _read_error(self, fd: int, block: bool = False) -> None:
        data = self._drain(fd, block)
        if data is None:
            return
        self.error_buf += data
        self.error_r = None
        if self.error_buf:
            from .protocol import loads
            try:
                err = loads(self.error_buf.split(b"\n")[0])
                self.start_error = (str(err.get("message") or "cannot start the container"),
                                    int(err.get("exit_code") or 125))
            except (ValueError, AttributeError, TypeError, UnicodeDecodeError):
                self.start_error = (self.error_buf.decode(errors="replace").strip(), 125)
            msg, code = self.start_error
            for c in list(self.conns.values()):
                if c.hello and c.exec is None:
                    self._send(c, _frame(10, msg.encode()))
            self.ready_fd = _answer(self.ready_fd, {"ok": False, "message": msg, "exit_code": code})
        else:
            if self.started_ns is None:
                self.started_ns = self._time.time_ns()
            self._write_running()
            self.ready_fd = _answer(self.ready_fd, {"ok": True, "pid": self.pid, "monitor_pid": os.getpid()})

    def _write_running(self) -> None:
        from .state import rfc3339_nano
        self._write_state(".", {"status": "running", "pid": self.pid, "monitor_pid": os.getpid(),
                                "started_at": rfc3339_nano(self.started_ns), "finished_at": None,
                                "exit_code": None, "oom_killed": False, "error": None}, durable=False)

    def _start(self) -> None:
        if self.start_w is not None:
            self.started_ns = self._time.time_ns()
            _release(self.start_w)
            self.start_w = None

    # -- container output -----------------------------------------------------
    def _read_output(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:       # EIO: the pty's last slave is closed
            data = b""
        if not data:
            self._forget(fd)
            del self.outs[fd]
            if fd != self.master:
                os.close(fd)
            return
        ftype = self.outs[fd]
        self.log.write("stderr" if ftype == 5 else "stdout", data)
        self.ring.append((ftype, data))
        self.ring_size += len(data)
        while self.ring_size > RING_MAX:
            t, first = self.ring[0]
            extra = self.ring_size - RING_MAX
            if len(first) <= extra:
                self.ring.pop(0)
                self.ring_size -= len(first)
            else:
                self.ring[0] = (t, first[extra:])
                self.ring_size -= extra
        frame = _frame(ftype, data)
        for c in list(self.conns.values()):
            if c.hello and c.exec is None and (c.stdout if ftype == 4 else c.stderr):
                self._send(c, frame)

    def _write_stdin(self, fd: int) -> None:
        """Writes what is buffered for the container's stdin."""
        buf = self.stdin_buf
        while buf:
            try:
                n = os.write(fd, buf[:READ_SIZE])
            except BlockingIOError:
                break
            except OSError:      # EPIPE / EIO: nobody reads it any more
                buf.clear()
                break
            del buf[:n]
        self._on_write(fd, self._write_stdin if buf else None)
        if not buf:
            if self.stdin_eof and not self.tty and self.stdin_w is not None:
                self._forget(fd)
                os.close(fd)
                self.stdin_w = None
            for c in self.conns.values():
                if c.exec is None and not c.closed and c.fd not in self.readers:
                    self._on_read(c.fd, self._read_conn)

    # -- clients --------------------------------------------------------------
    def _accept(self, fd: int) -> None:
        import _socket
        while True:
            try:
                cfd, _ = self.lsock._accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, cfd)
            try:
                import struct
                _pid, uid, _gid = struct.unpack("3i", sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12))
            except OSError:
                sock.close()
                continue
            if uid != 0 and uid != os.getuid():
                sock.close()
                continue
            sock.setblocking(False)
            c = Conn(sock)
            self.conns[c.fd] = c
            self._on_read(c.fd, self._read_conn)

    def _send(self, c: Conn, data: bytes) -> None:
        """Sends one frame to a client, or queues it."""
        if c.closed:
            return
        size = len(data)
        if not c.out:
            try:
                n = c.sock.send(data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self._drop(c)
                return
            if n == len(data):
                return
            data = data[n:]
            c.head = n
        c.out += data
        c.lens.append(size)
        if len(c.out) > CLIENT_BUFFER_MAX:
            if c.exec is not None:
                self._drop(c)   # (an exec's output is paused long before this)
                return
            # Too slow a reader must never hold up the container: it loses the
            # oldest output it has not read (the log keeps it), not its connection.
            _skip_output(c, CLIENT_BUFFER_MAX // 2)
        self._on_write(c.fd, self._flush_conn)
        ex = c.exec
        if ex is not None and len(c.out) > EXEC_PAUSE_AT and not ex.paused:
            ex.paused = True
            for ofd in ex.outs:
                self._on_read(ofd, None)

    def _flush_conn(self, fd: int) -> None:
        c = self.conns.get(fd)
        if c is None:
            self._forget(fd)
            return
        while c.out:
            try:
                n = c.sock.send(c.out[:1 << 20])
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop(c)
                return
            del c.out[:n]
            _sent(c, n)
        if not c.out:
            self._on_write(fd, None)
        ex = c.exec
        if ex is not None and ex.paused and len(c.out) < EXEC_PAUSE_AT // 2:
            ex.paused = False
            for ofd in ex.outs:
                self._on_read(ofd, self._read_exec_output)

    def _drop(self, c: Conn) -> None:
        if c.closed:
            return
        c.closed = True
        self._forget(c.fd)
        self.conns.pop(c.fd, None)
        try:
            c.sock.close()
        except OSError:
            pass
        if c.hold:
            self._end_hold(c)
        ex = c.exec
        if ex is not None:
            ex.conn = None
            # Hang up on the exec'd process, as a closed terminal would.
            self._exec_close_io(ex)

    def _read_conn(self, fd: int) -> None:
        c = self.conns.get(fd)
        if c is None:
            self._forget(fd)
            return
        try:
            data = c.sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(c)
            return
        from .protocol import ProtocolError
        try:
            frames = c.reader.feed(data)
        except ProtocolError as e:
            self._send(c, _frame(10, str(e).encode()))
            self._drop(c)
            return
        for ftype, payload in frames:
            if c.closed:
                return
            try:
                self._request(c, ftype, payload)
            except Exception as e:  # noqa: BLE001 - a bad request must not end the monitor
                self._send(c, _frame(10, f"{type(e).__name__}: {e}".encode()))

    def _request(self, c: Conn, ftype: int, payload: bytes) -> None:
        from . import protocol as P
        ex = c.exec
        if ftype == P.HELLO:
            req = P.parse_json(payload) if payload else {}
            c.stdout = bool(req.get("stdout", True))
            c.stderr = bool(req.get("stderr", True))
            c.stdin = bool(req.get("stdin", False))
            c.hello = True
            self._send(c, P.json_frame(P.HELLO, {
                "id": self.id, "pid": self.pid, "tty": self.tty, "open_stdin": self.open_stdin,
                "status": "created" if self.start_w is not None else ("exited" if self.exiting else "running")}))
            if req.get("replay"):
                for t, data in self.ring:
                    if c.stdout if t == 4 else c.stderr:
                        self._send(c, _frame(t, data))
            self._start()
        elif ftype == P.STDIN:
            if ex is not None:
                self._exec_stdin(ex, payload)
            elif (c.stdin or not c.hello) and self.open_stdin and self.stdin_w is not None and not self.stdin_eof:
                self.stdin_buf += payload
                self._write_stdin(self.stdin_w)
                if len(self.stdin_buf) > STDIN_BUFFER_MAX:
                    self._on_read(c.fd, None)   # back-pressure: read this client again once drained
        elif ftype == P.STDIN_EOF:
            if ex is not None:
                ex.stdin_eof = True
                self._exec_stdin(ex, b"")
            elif not self.tty and self.stdin_w is not None:
                self.stdin_eof = True
                self._write_stdin(self.stdin_w)
        elif ftype == P.RESIZE:
            rows, cols = P.parse_resize(payload)
            fd = (ex.master if ex is not None else self.master)
            if fd is not None:
                try:
                    _set_winsize(fd, rows, cols)
                except OSError:
                    pass
        elif ftype == P.SIGNAL:
            sig = P.parse_signal(payload)
            pid = ex.pid if ex is not None else self.pid
            if ex is not None and ex.status is not None or ex is None and self.init_status is not None:
                return
            try:
                os.kill(pid, sig)
            except OSError as e:
                self._send(c, _frame(10, f"cannot send signal {sig}: {e.strerror}".encode()))
        elif ftype == P.WAIT:
            c.waiting = True
        elif ftype == P.EXEC:
            if ex is not None or c.hello:
                raise ValueError("EXEC must be the first request of a connection")
            self._exec_start(c, P.parse_json(payload))
        elif ftype == P.PAUSE:
            if ex is not None:
                raise ValueError("PAUSE on an exec's connection")
            self._pause(c, bool((P.parse_json(payload) if payload else {}).get("hold")))
        elif ftype == P.UNPAUSE:
            self._unpause(c)
        else:
            raise ValueError(f"unknown frame type {ftype}")

    # -- pause ----------------------------------------------------------------
    def _pause(self, c: Conn, hold: bool) -> None:
        from . import protocol as P
        name = str(self.id)[:12]
        if self.exiting or self.start_w is not None:
            self._send(c, _frame(P.ERROR, f"container {name} is not running".encode()))
            return
        if hold:
            if c.hold:
                raise ValueError("this connection holds the container paused already")
            c.hold = True
            self.holds.add(c.fd)
        elif self.user_paused:
            self._send(c, _frame(P.ERROR, f"container {name} is already paused".encode()))
            return
        else:
            self.user_paused = True
        try:
            self._set_frozen(True)
        except Exception as e:  # noqa: BLE001 - told to the client; the container runs on
            if hold:
                c.hold = False
                self.holds.discard(c.fd)
            else:
                self.user_paused = False
            self._send(c, _frame(P.ERROR, f"cannot pause container {name}: {e}".encode()))
            return
        self.h["user_paused"] = self.user_paused    # carried across a lean re-exec
        self._send(c, P.json_frame(P.PAUSE, {"paused": True}))

    def _unpause(self, c: Conn) -> None:
        from . import protocol as P
        name = str(self.id)[:12]
        if c.hold:
            self._end_hold(c)
        elif self.user_paused:
            self.user_paused = False
            self.h["user_paused"] = False
            if self.holds:
                self._send(c, P.json_frame(P.UNPAUSE, {"paused": True}))   # thawed when the commit ends
                return
            self._set_frozen(False)
        elif self.holds:
            self._send(c, _frame(P.ERROR, f"container {name} is paused for a commit in progress: it resumes "
                                          "when the commit ends".encode()))
            return
        else:
            self._set_frozen(False, force=True)   # frozen by someone else (or not at all): thawed anyway
        self._send(c, P.json_frame(P.UNPAUSE, {"paused": self.frozen}))

    def _end_hold(self, c: Conn) -> None:
        """A committer's hold ends (its UNPAUSE, or its connection closed, for
        any reason: SIGKILL included): thaw unless the user paused it."""
        c.hold = False
        self.holds.discard(c.fd)
        if not self.holds and not self.user_paused and not self.exiting:
            try:
                self._set_frozen(False)
            except Exception:  # noqa: BLE001 - the cgroup went with the container
                pass

    def _set_frozen(self, frozen: bool, force: bool = False) -> None:
        if frozen == self.frozen and not force:
            return
        cg = self._cgroup()
        if cg is None:
            raise ValueError("the container has no cgroup")
        if frozen:
            cg.freeze()
        else:
            cg.thaw()
        self.frozen = frozen

    # -- exec -----------------------------------------------------------------
    def _exec_start(self, c: Conn, req: dict) -> None:
        from . import protocol as P
        ex = Exec(c)
        c.exec = ex
        if self.exiting or self.start_w is not None:
            self._exec_fail(ex, f"container {str(self.id)[:12]} is not running", 126)
            return
        if self.frozen:
            # A process started into a frozen cgroup would hang, and its client with it.
            self._exec_fail(ex, f"container {self.h.get('name') or str(self.id)[:12]} is paused, "
                                "unpause the container before exec", 125)
            return
        process = req.get("process")
        if not isinstance(process, dict) or not process.get("args"):
            self._exec_fail(ex, "exec needs a process with args", 125)
            return
        detach = bool(req.get("detach"))
        tty = bool(req.get("tty")) and not detach
        ex.tty = tty
        ex.detach = detach
        child = []
        try:
            if detach:      # exec -d: nobody listens; its stdio is /dev/null
                null = os.open("/dev/null", os.O_RDWR)
                child.append(null)
                stdio = (null, null, null)
            elif tty:
                try:
                    master, slave = _container_pty(self.pid)
                except OSError:  # no devpts of its own (e.g. a custom spec): the host's will do
                    master, slave = os.openpty()
                ex.master = master
                child.append(slave)
                size = req.get("size")
                if size:
                    _set_winsize(master, size[0], size[1])
                stdio = (slave, slave, slave)
                ex.outs[master] = P.STDOUT
                ex.stdin_w = master
            else:
                if req.get("stdin"):
                    r, w = os.pipe()
                    ex.stdin_w = w
                    child.append(r)
                else:
                    r = os.open("/dev/null", os.O_RDONLY)
                    child.append(r)
                out_r, out_w = os.pipe()
                err_r, err_w = os.pipe()
                child += [out_w, err_w]
                ex.outs[out_r] = P.STDOUT
                ex.outs[err_r] = P.STDERR
                stdio = (r, out_w, err_w)
        except OSError as e:
            for fd in child:
                os.close(fd)
            self._exec_close_io(ex)
            self._exec_fail(ex, _message(e), 126)
            return
        # A short-lived helper process does the spawning: init.py and what it
        # imports (ctypes, seccomp, cgroups: 3 MB) are loaded there, never in
        # the monitor. The exec'd process is the helper's child; the helper
        # exits once the execve is known to have worked, and the process is
        # re-parented to the monitor (a child subreaper), which reaps it.
        rep_r, rep_w = os.pipe2(os.O_CLOEXEC)
        try:
            hpid = os.fork()
        except OSError as e:
            for fd in child + [rep_r, rep_w]:
                os.close(fd)
            self._exec_close_io(ex)
            self._exec_fail(ex, f"cannot start exec: {e.strerror}", 126)
            return
        if hpid == 0:  # pragma: no cover (the helper)
            _exec_helper(self.pid, self.h.get("cgroup"), process, stdio, tty, rep_w)
        os.close(rep_w)
        for fd in child:
            os.close(fd)
        self.helpers.add(hpid)
        for fd in list(ex.outs) + ([ex.stdin_w] if ex.stdin_w is not None else []):
            os.set_blocking(fd, False)
        os.set_blocking(rep_r, False)
        ex.error_r = rep_r
        self._on_read(rep_r, lambda fd, ex=ex: self._read_exec_error(ex))

    def _exec_fail(self, ex: Exec, msg: str, code: int) -> None:
        from . import protocol as P
        c = ex.conn
        if c is not None:
            self._send(c, _frame(P.ERROR, msg.encode()))
            self._send(c, P.exit_frame(code, {"error": msg, "started": False}))
            self._close_after_flush(c)

    def _read_exec_error(self, ex: Exec, block: bool = False) -> None:
        fd = ex.error_r
        if fd is None:
            return
        data = self._drain(fd, block)
        if data is None:
            return
        ex.error_buf += data
        ex.error_r = None
        from .protocol import loads
        try:
            report = loads(ex.error_buf)
            pid, err = report.get("pid"), report.get("error")
        except (ValueError, AttributeError, UnicodeDecodeError):
            pid, err = None, {"message": "exec failed: its helper process died", "exit_code": 126}
        if isinstance(pid, int) and pid > 0:
            ex.pid = pid
            self.execs[pid] = ex
            if pid in self.orphans:          # reaped before we heard of it
                ex.status = self.orphans.pop(pid)
        if err:
            try:
                msg, code = str(err.get("message") or "exec failed"), int(err.get("exit_code") or 126)
            except (AttributeError, TypeError, ValueError):
                msg, code = str(err), 126
            self._exec_close_io(ex)
            ex.done = True
            if ex.status is not None or ex.pid is None:
                self.execs.pop(ex.pid, None)     # else _reap drops it
            self._exec_fail(ex, msg, code)
            return
        ex.started = True
        from . import protocol as P
        if ex.conn is not None and ex.detach:
            c = ex.conn
            self._send(c, P.json_frame(P.HELLO, {"pid": ex.pid, "tty": False, "detached": True}))
            ex.conn = None
            c.exec = None
            self._close_after_flush(c)
        elif ex.conn is not None:
            self._send(ex.conn, P.json_frame(P.HELLO, {"pid": ex.pid, "tty": ex.tty}))
            for ofd in ex.outs:
                self._on_read(ofd, self._read_exec_output)
        else:
            self._exec_close_io(ex)
        if ex.status is not None:
            ex.deadline = self._time.monotonic() + EXEC_DRAIN_TIMEOUT
            if not ex.outs:
                self._exec_finish(ex)

    def _exec_of(self, fd: int):
        for ex in self.execs.values():
            if fd in ex.outs or fd == ex.stdin_w:
                return ex
        return None

    def _read_exec_output(self, fd: int) -> None:
        ex = self._exec_of(fd)
        if ex is None:
            self._forget(fd)
            return
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._forget(fd)
            t = ex.outs.pop(fd)
            if fd == ex.master:
                pass        # closed with the rest in _exec_close_io
            else:
                os.close(fd)
            del t
            if ex.status is not None and not ex.outs:
                self._exec_finish(ex)
            return
        if ex.conn is not None:
            self._send(ex.conn, _frame(ex.outs[fd], data))

    def _exec_stdin(self, ex: Exec, data: bytes) -> None:
        if ex.stdin_w is None:
            return
        ex.stdin_buf += data
        fd = ex.stdin_w
        buf = ex.stdin_buf
        while buf:
            try:
                n = os.write(fd, buf[:READ_SIZE])
            except BlockingIOError:
                break
            except OSError:
                buf.clear()
                break
            del buf[:n]
        if buf:
            self._on_write(fd, lambda fd, ex=ex: self._exec_stdin(ex, b""))
        else:
            self._on_write(fd, None)
            if ex.stdin_eof and not ex.tty:
                self._forget(fd)
                os.close(fd)
                ex.stdin_w = None

    def _exec_close_io(self, ex: Exec) -> None:
        for fd in list(ex.outs):
            self._forget(fd)
            if fd != ex.master:
                os.close(fd)
        ex.outs.clear()
        if ex.stdin_w is not None and ex.stdin_w != ex.master:
            self._forget(ex.stdin_w)
            os.close(ex.stdin_w)
        ex.stdin_w = None
        if ex.master is not None:
            self._forget(ex.master)
            os.close(ex.master)
            ex.master = None

    def _exec_finish(self, ex: Exec) -> None:
        """The exec'd process has exited and its output is drained (or the drain
        timed out): EXIT to its client."""
        if ex.done:
            self.execs.pop(ex.pid, None)
            return
        # Whatever is still readable now goes out first.
        for fd in list(ex.outs):
            while fd in ex.outs:
                try:
                    data = os.read(fd, READ_SIZE)
                except OSError:
                    data = b""
                if not data:
                    break
                if ex.conn is not None:
                    self._send(ex.conn, _frame(ex.outs[fd], data))
        ex.done = True
        self._exec_close_io(ex)
        self.execs.pop(ex.pid, None)
        from . import protocol as P
        c = ex.conn
        if c is not None:
            self._send(c, P.exit_frame(ex.status if ex.status is not None else 137, {"pid": ex.pid}))
            self._close_after_flush(c)

    def _close_after_flush(self, c: Conn) -> None:
        """No more requests from this connection; closed once its output is out."""
        self._on_read(c.fd, None)
        if not c.out:
            self._drop(c)
        else:
            self._on_write(c.fd, lambda fd, c=c: (self._flush_conn(fd), (not c.out) and self._drop(c)))

    # -- the end --------------------------------------------------------------
    def _finish(self) -> int:
        from . import protocol as P
        from .state import rfc3339_nano
        # The pty master: EIO once every process holding the slave has gone.
        for fd in list(self.outs):
            self._forget(fd)
        if self.master is not None:
            os.close(self.master)
        self.log.close()
        finished = rfc3339_nano()
        oom = False
        error = None
        cg = None
        try:
            cg = self._cgroup()
            if cg is not None and cg.exists():
                oom = cg.oom_kills() > 0
        except Exception:
            pass
        try:
            if cg is not None:
                cg.destroy()
        except Exception as e:  # noqa: BLE001
            error = f"cannot remove the container's cgroup: {e}"
        if self.start_error:
            error, code = self.start_error
        else:
            code = self.init_status if self.init_status is not None else 137
        self._write_state(".", {"status": "exited", "pid": self.pid, "monitor_pid": os.getpid(),
                                "started_at": rfc3339_nano(self.started_ns) if self.started_ns else None,
                                "finished_at": finished, "exit_code": code, "oom_killed": oom, "error": error})
        if self.ready_fd >= 0:
            if self.start_error:
                self.ready_fd = _answer(self.ready_fd, {"ok": False, "message": error, "exit_code": code})
            else:
                self.ready_fd = _answer(self.ready_fd, {"ok": True, "pid": self.pid, "monitor_pid": os.getpid()})
        _unlink(SOCKET_NAME)
        _unlink(PID_FILE)
        self.lsock.close()
        if self.h.get("autoremove"):
            self._autoremove(code)
        info = {"oom_killed": oom, "finished_at": finished, "error": error, "started": not self.start_error}
        exit_frame = P.exit_frame(code, info)
        for ex in list(self.execs.values()):
            if ex.conn is not None and not ex.done:
                self._send(ex.conn, P.exit_frame(ex.status if ex.status is not None else 137, {"pid": ex.pid}))
        for c in list(self.conns.values()):
            if c.exec is None:
                self._send(c, exit_frame)
        deadline = self._time.monotonic() + 2.0
        pending = [c for c in self.conns.values() if c.out and not c.closed]
        while pending and self._time.monotonic() < deadline:
            try:
                self.ep.poll(0.05)
            except InterruptedError:
                pass
            for c in pending:
                self._flush_conn(c.fd)
            pending = [c for c in pending if c.out and not c.closed]
        for c in list(self.conns.values()):
            self._drop(c)
        if not self.h.get("autoremove"):
            self._record_die(code)  # after the exit is told: nobody waits for this
        return 0

    def _record_die(self, code: int) -> None:
        try:
            from ..containers.autoremove import record_die
            record_die(self.dir, code, self.h.get("name"))
        except Exception:  # noqa: BLE001 - an event lost is no reason to fail
            pass

    def _autoremove(self, code: int | None = None) -> None:
        # engine.containers.autoremove (the containers code) removes the record
        # and the directory; loaded only now, at the very end.
        try:
            from ..containers.autoremove import remove_container
        except ImportError:
            return  # not there: the engine removes it at its next start
        try:
            remove_container(self.dir, code, self.h.get("name"))
        except Exception:  # noqa: BLE001 - the container has exited either way
            pass


def _exec_helper(init_pid: int, cgroup_path, process: dict, stdio, tty: bool, rep_w: int) -> None:
    """In a child of the monitor: spawn_exec, release the process, wait for
    its execve, report {"pid", "error"} on rep_w, exit. Never returns."""
    try:
        import _signal
        _signal.set_wakeup_fd(-1)
        for sig in (_signal.SIGCHLD, _signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
            _signal.signal(sig, _signal.SIG_DFL)
        report = {"pid": None, "error": None}
        try:
            from .protocol import dumps, loads
            with open("config.json", "rb") as f:
                spec = loads(f.read())
            from .init import read_error, spawn_exec
            cg = None
            if cgroup_path:
                from .cgroups import Cgroup
                cg = Cgroup(cgroup_path)
            sp = spawn_exec(init_pid, spec, process, stdio, tty=tty, cgroup=cg)
            report["pid"] = sp.pid
            _release(sp.start_w)
            report["error"] = read_error(sp.error_r)
        except BaseException as e:  # noqa: BLE001 - reported to the client
            code = getattr(e, "exit_code", None)
            report["error"] = {"message": _message(e), "exit_code": code if isinstance(code, int) else 126}
        os.write(rep_w, dumps(report).encode())
    finally:
        os._exit(0)


def _sent(c: Conn, n: int) -> None:
    """Account for `n` bytes of `c.out` sent: which frames are gone."""
    while n and c.lens:
        left = c.lens[0] - c.head
        if n >= left:
            n -= left
            c.lens.popleft()
            c.head = 0
        else:
            c.head += n
            n = 0


def _skip_output(c: Conn, keep: int) -> None:
    """Drops whole output frames (stdout, stderr) from the front of what a
    client has not been sent yet, until at most `keep` bytes wait; the frame
    being sent and every other kind of frame stay, so the stream stays whole."""
    first = c.lens[0] - c.head   # the frame on its way: never cut
    pos = first
    frames = []
    for size in list(c.lens)[1:]:
        frames.append((pos, size))
        pos += size
    excess = len(c.out) - keep
    kept = bytearray(c.out[:first])
    lens = deque([c.lens[0]])
    for start, size in frames:
        if excess > 0 and c.out[start] in (4, 5):
            excess -= size
            continue
        kept += c.out[start:start + size]
        lens.append(size)
    c.out[:] = kept
    c.lens = lens


def _frame(ftype: int, payload: bytes) -> bytes:
    return bytes((ftype,)) + len(payload).to_bytes(4, "big") + payload


def _noop(_sig, _frame) -> None:
    pass


if __name__ == "__main__":
    sys.exit(main())
