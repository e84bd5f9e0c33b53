"""`exec` in the monitor: a process started in the running container by a
short-lived helper (which loads init.py, never the monitor), its pty or
pipes, its output to its client, its exit. A mixin of monitor_loop.Monitor."""
import os

from .monitor_base import READ_SIZE, _frame, _message, _release, _set_winsize
from .monitor_clients import Conn

EXEC_DRAIN_TIMEOUT = 1.0


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


class Execs:
    """Monitor's exec side (see the module's doc)."""

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
        except BaseException as e:
            code = getattr(e, "exit_code", None)
            report["error"] = {"message": _message(e), "exit_code": code if isinstance(code, int) else 126}
        os.write(rep_w, dumps(report).encode())
    finally:
        os._exit(0)
