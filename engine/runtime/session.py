"""A face's session on a running container: its main process (attach) or a
process started in it (exec). What the faces (the CLI's local terminal, the
TUI's console) use instead of the monitor's frames (protocol.py) and its
client (client.py).

    s = engine.attach(ref)               # connected, not yet attached
    s.attach(stdin=True, replay=True)    # the monitor's HELLO: {"tty", "pid", …}
    e = engine.exec(ref, ["sh"], tty=True, size=(24, 80))   # an exec session
    # or: e = s.exec(process, tty=True, size=(24, 80))      # process: engine.exec_spec(…)

    select([s], …) or loop.add_reader(s.fileno(), …)   # has_pending() first: see there
    for kind, value in s.read():         # one recv, never blocks once readable
        kind: STDOUT / STDERR (value: bytes), EXIT (value: the exit code),
              ERROR (value: the monitor's message), ENDED (value: None; the last)
    s.send_stdin(b"ls\\n"); s.close_stdin(); s.resize(rows, cols); s.signal(15)
    code = s.result()                    # once ended: the exit code (see there)
    s.close()                            # detaches; the container goes on

The socket is blocking: read() after select (or add_reader) said it is
readable, or from a thread (next_event / events block)."""
from ..errors import DockyardError
from . import protocol as P
from .client import ContainerNotRunning, ExecError, ExecSession, MonitorClient

__all__ = ["Session", "ContainerNotRunning", "ExecError", "STDOUT", "STDERR", "EXIT", "ERROR", "ENDED"]

STDOUT = "stdout"
STDERR = "stderr"
EXIT = "exit"
ERROR = "error"
ENDED = "ended"

_OUTPUT = {P.STDOUT: STDOUT, P.STDERR: STDERR}
_ENDED = (ENDED, None)


class Session:
    """One connection to a container's monitor, made by `Engine.attach`
    (`kind` "attach": call `attach()` to get the container's output) or by
    `exec` (`kind` "exec": a process of its own, hung up on when closed).

    Attributes, filled as frames arrive: `info` (the monitor's HELLO for an
    attach), `pid` (an exec's process), `exit_code` and `exit_info` (from the
    EXIT frame: None and {} until then), `error` (the monitor's last ERROR, or
    a start failure), `ended` (the monitor closed the connection).
    The kinds of events: Session.STDOUT … Session.ENDED (plain strings)."""

    STDOUT, STDERR, EXIT, ERROR, ENDED = STDOUT, STDERR, EXIT, ERROR, ENDED

    def __init__(self, conn, kind: str | None = None):
        """`conn`: a client.MonitorClient (attach) or client.ExecSession (exec)."""
        self._conn = conn
        self.kind = kind or ("exec" if isinstance(conn, ExecSession) else "attach")
        self.ended = False
        self._held: list = []   # events read by next_event() but not yet handed out

    @classmethod
    def connect(cls, container_dir: str, timeout: float | None = None) -> "Session":
        """An attach session on the container whose directory this is (not yet attached)."""
        return cls(MonitorClient(container_dir, timeout), "attach")

    # -- state ---------------------------------------------------------------
    @property
    def container_dir(self) -> str:
        return self._conn.container_dir

    @property
    def info(self) -> dict | None:
        return getattr(self._conn, "info", None)

    @property
    def attached(self) -> bool:
        """An attach session that said HELLO, or an exec session (attached from the start)."""
        return self.kind == "exec" or self._conn.info is not None

    @property
    def tty(self) -> bool | None:
        info = self.info
        return None if info is None else bool(info.get("tty"))

    @property
    def pid(self) -> int | None:
        if self.kind == "exec":
            return self._conn.pid
        return (self.info or {}).get("pid")

    @property
    def exit_code(self) -> int | None:
        return self._conn.exit_code

    @property
    def exit_info(self) -> dict:
        return self._conn.exit_info

    @property
    def error(self) -> str | None:
        return self._conn.error

    @property
    def closed(self) -> bool:
        """close() was called (by us: `ended` says the monitor let go)."""
        return self._conn.sock.fileno() == -1

    # -- starting --------------------------------------------------------------
    def attach(self, *, stdin: bool = True, stdout: bool = True, stderr: bool = True, replay: bool = False) -> dict:
        """Asks for the container's output (with `replay`, its last 64 KiB
        first); `stdin` False: what we send is ignored. The monitor's answer:
        {"id", "pid", "tty", "open_stdin", "status"} ({} when the container
        had already exited: its EXIT is read next)."""
        if self.kind != "attach":
            raise ValueError("attach() is for a session made by Engine.attach")
        return self._conn.attach(stdin=stdin, stdout=stdout, stderr=stderr, replay=replay)

    def exec(self, process: dict, *, tty: bool = False, size: tuple[int, int] | None = None,
             stdin: bool = True, detach: bool = False) -> "Session":
        """Starts `process` (Engine.exec_spec's OCI process) in the container,
        on a connection of its own: an exec session (this one is left as it
        was). ExecError (exit_code 126/127) when it cannot start. With
        `detach` its stdio is /dev/null and the session only carries its pid."""
        if self.kind != "attach":
            raise ValueError("exec() is for a session made by Engine.attach")
        return Session(self._conn.exec(process, tty=tty, size=size, stdin=stdin, detach=detach), "exec")

    # -- reading ---------------------------------------------------------------
    def fileno(self) -> int:
        """The socket, to wait on (select, loop.add_reader)."""
        return self._conn.fileno()

    def has_pending(self) -> bool:
        """Events already read from the socket (with the HELLO) but not handed
        out: read() them before waiting on fileno(), which would not wake for them."""
        return bool(self._held) or self._conn.has_pending()

    def read(self, bufsize: int = 65536) -> list[tuple[str, object]]:
        """One recv (blocks only when nothing is there: wait on fileno()
        first): the events it completed, maybe none. (ENDED, None) is the
        last event, once the monitor has closed the connection (after EXIT,
        or when it let go of a client too far behind); read() then keeps
        returning it. A broken frame ends the session too (`error` says so)."""
        if self._held:
            out, self._held = self._held, []
            return out
        if self.ended:
            return [_ENDED]
        try:
            frames = self._conn.read_frames(bufsize)
        except (P.ProtocolError, ValueError) as e:
            self._conn.error = f"broken frame from the container's monitor: {e}"
            frames = None
        except OSError:   # closed under us
            frames = None
        if frames is None:
            self.ended = True
            return [_ENDED]
        out = []
        for ftype, payload in frames:
            kind = _OUTPUT.get(ftype)
            if kind is not None:
                if payload:
                    out.append((kind, payload))
            elif ftype == P.EXIT:
                out.append((EXIT, self._conn.exit_code))
            elif ftype == P.ERROR:
                out.append((ERROR, payload.decode(errors="replace")))
        return out

    def next_event(self) -> tuple[str, object]:
        """The next event, blocking (ENDED at the end)."""
        while not self._held:
            self._held = self.read()
        return self._held.pop(0)

    def events(self):
        """Every event until ENDED (included), blocking."""
        while True:
            ev = self.next_event()
            yield ev
            if ev[0] == ENDED:
                return

    def output(self) -> tuple[bytes, bytes]:
        """Everything written until the end: (stdout, stderr)."""
        out, err = [], []
        for kind, value in self.events():
            if kind == STDOUT:
                out.append(value)
            elif kind == STDERR:
                err.append(value)
        return b"".join(out), b"".join(err)

    # -- sending ---------------------------------------------------------------
    def send_stdin(self, data: bytes) -> None:
        """Bytes for the process's stdin (as typed). ContainerNotRunning once
        the monitor is gone."""
        self._conn.send_stdin(data)

    def close_stdin(self) -> None:
        """End of input: the process reads EOF (ignored with a tty)."""
        self._conn.close_stdin()

    def resize(self, rows: int, cols: int) -> None:
        """The size of the process's terminal (with a tty)."""
        self._conn.resize(rows, cols)

    def signal(self, sig: int) -> None:
        """A signal for the container's pid 1 (attach) or the exec'd process."""
        self._conn.signal(sig)

    def close(self) -> None:
        """Detaches (the container goes on); an exec'd process is hung up on."""
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- the outcome -----------------------------------------------------------
    def result(self) -> int:
        """The exit code, once the session has ended (or the EXIT event came).
        A container that could not start raises ContainerStartError with
        docker's code (125/126/127). The monitor closed without an EXIT: an
        attach takes the code from the container's state when it has exited;
        else ContainerNotRunning (an exec: the container stopped under it; an
        attach: the monitor let go of us, the container may go on)."""
        code = self._conn.exit_code
        if code is not None:
            info = self._conn.exit_info or {}
            if info.get("error") and not info.get("started", True):
                from .launcher import ContainerStartError
                raise ContainerStartError(info["error"], code or 125)
            return code
        if self.kind == "exec":
            raise ContainerNotRunning("the container stopped during exec")
        from .state import read_state
        st = read_state(self._conn.container_dir)
        if st.get("status") == "exited" and st.get("exit_code") is not None:
            return st["exit_code"]
        raise ContainerNotRunning("lost the connection to the container's monitor")

    def wait(self) -> int:
        """Blocks until the process exits (output meanwhile is dropped): result()."""
        if self.kind == "attach" and self.exit_code is None and not self.ended:
            try:
                self._conn._send(P.frame(P.WAIT))
            except DockyardError:
                pass
        while self.exit_code is None and self.next_event()[0] != ENDED:
            pass
        return self.result()
