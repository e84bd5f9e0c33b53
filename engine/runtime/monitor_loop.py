"""The monitor's stage 2 (monitor.py): a single-threaded epoll loop. Only C
modules and protocol/logs/state from here on: container output goes to the
json-file log (logs.py), to a 64 KiB replay ring and to attached clients
(monitor_clients.py); exec is monitor_exec.py; the end monitor_exit.py."""
import os
import sys

from .monitor_base import LOG_FILE, MODULE, PACKAGE_ROOT, READ_SIZE, _answer, _frame, _handoff_fds, _listen, _release
from .monitor_clients import Clients, Conn
from .monitor_exec import EXEC_DRAIN_TIMEOUT, Exec, Execs
from .monitor_exit import Exit

RING_MAX = 64 * 1024
# A monitor forked by the zygote carries the set-up modules (~7 MB): once the
# container has run this long, at a quiet moment, it re-executes itself lean.
SLIM_AFTER = 2.0
SLIM_RETRY = 1.0


class Monitor(Clients, Execs, Exit):
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
        except BaseException as e:
            return self._crashed(e)

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


def _noop(_sig, _frame) -> None:
    pass
