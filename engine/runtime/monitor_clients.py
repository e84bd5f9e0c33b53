"""The monitor's clients (attach.sock, protocol.py): accepting, reading
requests, sending frames with a bounded queue each, and the freezer's
holders (PAUSE / UNPAUSE). A mixin of monitor_loop.Monitor.

A slow client cannot block the container: when an attached client's unsent
output exceeds CLIENT_BUFFER_MAX it loses the oldest of it, in whole frames,
down to half that (the log stays complete; the client stays connected and
still gets the exit). An exec's output, which is not logged, is paused
instead until its client catches up."""
import os
from _collections import deque  # the C type: the lean monitor loads no collections package

from .monitor_base import READ_SIZE, _frame, _set_winsize

CLIENT_BUFFER_MAX = 4 * 1024 * 1024
EXEC_PAUSE_AT = 1024 * 1024
STDIN_BUFFER_MAX = 1024 * 1024


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


class Clients:
    """Monitor's client side (see the module's doc)."""

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
            except Exception as e:
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

    def _close_after_flush(self, c: Conn) -> None:
        """No more requests from this connection; closed once its output is out."""
        self._on_read(c.fd, None)
        if not c.out:
            self._drop(c)
        else:
            self._on_write(c.fd, lambda fd, c=c: (self._flush_conn(fd), (not c.out) and self._drop(c)))

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
        except Exception as e:
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
            except Exception:
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
