"""Talking to a container's monitor over its attach socket (see protocol.py).

    c = MonitorClient(container_dir)
    info = c.attach(stdin=True, replay=True)     # {"tty": …, "pid": …}
    c.send_stdin(b"echo hi\\n"); c.resize(40, 100)
    for ftype, payload in c.frames(): …          # STDOUT / STDERR / EXIT
    code = c.wait()

The socket is reached through /proc/self/fd/<dirfd>/attach.sock so that a deep
container directory cannot exceed the 108-byte limit of a unix socket path.
A client's socket is blocking; `fileno()` and `read_frames()` let a UI select
on it and read without blocking."""
import os
import socket

from ..errors import DockyardError
from . import protocol as P
from .state import read_state

SOCKET_NAME = "attach.sock"


class ContainerNotRunning(DockyardError):
    """The container has no live monitor: it is not running."""


class ExecError(DockyardError):
    """`exec` could not start its process (exit_code 126/127 like docker)."""

    def __init__(self, message: str, exit_code: int = 126):
        super().__init__(message)
        self.exit_code = exit_code


def _name(container_dir: str) -> str:
    return os.path.basename(os.path.normpath(container_dir))[:12]


def connect(container_dir: str, timeout: float | None = None) -> socket.socket:
    try:
        dfd = os.open(container_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ContainerNotRunning(f"container {_name(container_dir)} is not running") from None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.settimeout(timeout if timeout is not None else 10)
        s.connect(f"/proc/self/fd/{dfd}/{SOCKET_NAME}")
        s.settimeout(None)
    except (FileNotFoundError, ConnectionRefusedError):
        s.close()
        raise ContainerNotRunning(f"container {_name(container_dir)} is not running") from None
    except OSError as e:
        s.close()
        raise ContainerNotRunning(f"container {_name(container_dir)} is not running: "
                                  f"cannot reach its monitor: {e.strerror or e}") from None
    finally:
        os.close(dfd)
    return s


class _Conn:
    """A framed connection to the monitor (shared by MonitorClient and ExecSession)."""

    def __init__(self, sock: socket.socket, container_dir: str):
        self.sock = sock
        self.container_dir = container_dir
        self._reader = P.FrameReader()
        self._queue: list[tuple[int, bytes]] = []
        self.closed_by_monitor = False
        self.exit_code: int | None = None
        self.exit_info: dict = {}
        self.error: str | None = None

    # -- sending -------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            raise ContainerNotRunning(f"container {_name(self.container_dir)} is not running") from None

    def send_stdin(self, data: bytes) -> None:
        if data:
            self._send(P.frame(P.STDIN, bytes(data)))

    def close_stdin(self) -> None:
        self._send(P.frame(P.STDIN_EOF))

    def resize(self, rows: int, cols: int) -> None:
        self._send(P.resize_frame(int(rows), int(cols)))

    def signal(self, sig: int) -> None:
        self._send(P.signal_frame(int(sig)))

    # -- receiving -----------------------------------------------------------
    def fileno(self) -> int:
        return self.sock.fileno()

    def _note(self, frames: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        for ftype, payload in frames:
            if ftype == P.EXIT:
                self.exit_code, self.exit_info = P.parse_exit(payload)
                if self.exit_info.get("error"):
                    self.error = self.exit_info["error"]
            elif ftype == P.ERROR:
                self.error = payload.decode(errors="replace")
        return frames

    def has_pending(self) -> bool:
        """Frames already read from the socket but not yet handed out: check
        this before waiting on fileno() (select would not wake for them)."""
        return bool(self._queue)

    def read_frames(self, bufsize: int = 65536) -> list[tuple[int, bytes]] | None:
        """One recv: the whole frames it completes (maybe none). None once the
        monitor has closed the connection. For select-driven callers."""
        if self._queue:
            out, self._queue = self._queue, []
            return out
        try:
            data = self.sock.recv(bufsize)
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed_by_monitor = True
            return None
        return self._note(self._reader.feed(data))

    def next_frame(self) -> tuple[int, bytes] | None:
        """The next frame (blocking), None at the end of the connection."""
        while not self._queue:
            got = self.read_frames()
            if got is None:
                return None
            self._queue = got
        return self._queue.pop(0)

    def frames(self):
        """Yields (type, payload) until EXIT (included) or the connection ends."""
        while True:
            f = self.next_frame()
            if f is None:
                return
            yield f
            if f[0] == P.EXIT:
                return

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ExecSession(_Conn):
    """A process started by `MonitorClient.exec`, on a connection of its own."""

    pid: int | None = None

    def read(self) -> tuple[str, bytes] | None:
        """("stdout" | "stderr", data); None once the process has exited."""
        for ftype, payload in self.frames():
            if ftype == P.STDOUT:
                return "stdout", payload
            if ftype == P.STDERR:
                return "stderr", payload
        return None

    def write(self, data: bytes) -> None:
        self.send_stdin(data)

    def output(self) -> tuple[bytes, bytes]:
        """Everything the process writes until it exits: (stdout, stderr)."""
        out, err = [], []
        while (got := self.read()) is not None:
            (out if got[0] == "stdout" else err).append(got[1])
        return b"".join(out), b"".join(err)

    def wait(self) -> int:
        if self.exit_code is None:
            for _ in self.frames():
                pass
        if self.exit_code is None:
            raise ContainerNotRunning(f"container {_name(self.container_dir)} stopped during exec")
        return self.exit_code


class MonitorClient(_Conn):
    def __init__(self, container_dir: str, timeout: float | None = None):
        super().__init__(connect(container_dir, timeout), container_dir)
        self.info: dict | None = None

    @property
    def attached(self) -> bool:
        return self.info is not None

    def attach(self, stdin: bool = True, stdout: bool = True, stderr: bool = True, replay: bool = False) -> dict:
        """Asks for the container's output (and a replay of its last 64 KiB when
        `replay`); returns the monitor's HELLO: {"id", "pid", "tty", "open_stdin", "status"}."""
        self._send(P.json_frame(P.HELLO, {"stdin": stdin, "stdout": stdout, "stderr": stderr, "replay": replay}))
        early = []  # frames before the answer (an EXIT racing the hello): kept for frames()
        while True:
            f = self.next_frame()
            if f is None:
                if early:
                    self._queue[:0] = early
                    return {}
                raise ContainerNotRunning(f"container {_name(self.container_dir)} is not running")
            if f[0] == P.HELLO:
                self.info = P.parse_json(f[1])
                self._queue[:0] = early
                return self.info
            early.append(f)

    def wait(self) -> int:
        """Blocks until the container exits; its exit code. Output frames that
        arrive meanwhile are dropped."""
        if self.exit_code is not None:
            return self.exit_code
        try:
            self._send(P.frame(P.WAIT))
        except ContainerNotRunning:
            pass
        for _ in self.frames():
            pass
        if self.exit_code is not None:
            return self.exit_code
        st = read_state(self.container_dir)
        if st.get("status") == "exited" and st.get("exit_code") is not None:
            return st["exit_code"]
        raise ContainerNotRunning(f"container {_name(self.container_dir)} is not running")

    def pause(self, hold: bool = False) -> None:
        """Freezes the container; returns once its processes are stopped.
        hold=False: the user's pause (until unpause()). hold=True: a commit's
        pause, which ends when this client closes (or calls unpause()): keep
        this client open for as long as the container must stay frozen."""
        self._control(P.json_frame(P.PAUSE, {"hold": bool(hold)}), P.PAUSE)

    def unpause(self) -> None:
        """Ends this client's hold, or else the user's pause."""
        self._control(P.frame(P.UNPAUSE), P.UNPAUSE)

    def _control(self, request: bytes, answer: int) -> dict:
        from ..errors import Conflict
        self._send(request)
        while True:
            f = self.next_frame()
            if f is None:
                raise ContainerNotRunning(f"container {_name(self.container_dir)} is not running")
            if f[0] == answer:
                return P.parse_json(f[1])
            if f[0] == P.ERROR:
                raise Conflict(f[1].decode(errors="replace"))

    def exec(self, process: dict, tty: bool = False, size: tuple[int, int] | None = None,
             stdin: bool = True, detach: bool = False) -> ExecSession:
        """Starts `process` (an OCI runtime-spec process object) in the running
        container, on a new connection; raises ExecError (126/127) when it
        cannot be started. With `detach` the process runs on its own (stdio
        /dev/null) and the session only carries its pid."""
        sess = ExecSession(connect(self.container_dir), self.container_dir)
        try:
            sess._send(P.json_frame(P.EXEC, {"process": process, "tty": bool(tty), "detach": bool(detach),
                                              "size": list(size) if size else None, "stdin": bool(stdin)}))
            while True:
                f = sess.next_frame()
                if f is None:
                    raise ContainerNotRunning(f"container {_name(self.container_dir)} is not running")
                if f[0] == P.HELLO:
                    sess.pid = P.parse_json(f[1]).get("pid")
                    return sess
                if f[0] == P.EXIT:
                    raise ExecError(sess.error or "exec failed", sess.exit_code or 126)
                # ERROR: its EXIT follows with the code
        except BaseException:
            sess.close()
            raise
