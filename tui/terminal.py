"""The command line's side of `run -it`, `attach` and `exec` (and the TUI's
suspended a / e): the local terminal in raw mode wired to a session on a
container (engine.Session, from Engine.attach).

    code = run_attached(session, tty=True, stdin=True)    # None: detached

Local stdin goes to the container (ctrl-p ctrl-q, or the keys given, detach);
its stdout / stderr go to the local stdout / stderr; SIGWINCH becomes a
resize. The local terminal's mode is restored whatever happens."""
import errno
import os
import select

from engine.errors import InvalidArgument

DEFAULT_DETACH_KEYS = b"\x10\x11"  # ctrl-p, ctrl-q

_CTRL = {"ctrl-@": 0, "ctrl-[": 27, "ctrl-\\": 28, "ctrl-]": 29, "ctrl-^": 30, "ctrl-_": 31}
_CTRL.update({f"ctrl-{chr(c)}": c - ord("a") + 1 for c in range(ord("a"), ord("z") + 1)})


def parse_detach_keys(keys: str) -> bytes:
    """docker's --detach-keys: comma-separated keys, each a single character
    or ctrl-<value> with <value> one of a-z, @, ^, [, \\, ], _ . An empty
    string means docker's default, ctrl-p,ctrl-q."""
    if keys is None or keys == "":
        return DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in keys.split(","):
        if len(key) == 1:
            out += key.encode()
            continue
        code = _CTRL.get(key.lower()) if key.lower().startswith("ctrl-") else None
        if code is None:
            raise InvalidArgument(f"invalid detach keys ({keys}) provided: unknown character: '{key}'")
        out.append(code)
    return bytes(out)


class _DetachMatcher:
    """Holds back input that could be the start of the detach sequence."""

    def __init__(self, keys: bytes):
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to forward, detach?)"""
        if not self.keys:
            return data, False
        out = bytearray()
        for b in data:
            c = bytes((b,))
            cand = self.held + c
            if self.keys.startswith(cand):
                self.held = cand
                if cand == self.keys:
                    self.held = b""
                    return bytes(out), True
                continue
            out += self.held
            self.held = b""
            if self.keys.startswith(c):
                self.held = c
            else:
                out += c
        return bytes(out), False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        view = view[n:]


def terminal_size(fd: int) -> tuple[int, int] | None:
    try:
        sz = os.get_terminal_size(fd)
        return sz.lines, sz.columns
    except OSError:
        return None


def run_attached(client, *, tty: bool, stdin: bool, detach_keys: bytes = DEFAULT_DETACH_KEYS,
                 replay: bool = False, stdin_fd: int = 0, stdout_fd: int = 1, stderr_fd: int = 2) -> int | None:
    """Relays between the local terminal and `client` (an engine.Session:
    attach or exec) until its process exits (returns its exit code,
    Session.result) or the user detaches (returns None). Attaches the session
    first when it has not been. A container that could not start raises
    ContainerStartError with docker's exit code."""
    import signal
    import threading
    if not getattr(client, "attached", True):
        client.attach(stdin=stdin, stdout=True, stderr=True, replay=replay)
    local_tty = tty and stdin and os.isatty(stdin_fd)
    saved = None
    wake_r = wake_w = -1
    old_winch = None
    in_main = threading.current_thread() is threading.main_thread()
    matcher = _DetachMatcher(detach_keys if (tty and stdin) else b"")
    try:
        if local_tty:
            import termios
            import tty as ttymod
            saved = termios.tcgetattr(stdin_fd)
            ttymod.setraw(stdin_fd, termios.TCSANOW)
        if tty:
            size = terminal_size(stdout_fd) or terminal_size(stdin_fd)
            if size:
                client.resize(*size)
            if in_main:
                wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

                def on_winch(_sig, _frame):
                    try:
                        os.write(wake_w, b"w")
                    except OSError:
                        pass
                old_winch = signal.signal(signal.SIGWINCH, on_winch)
        reading_stdin = stdin
        while True:
            fds = [client.fileno()]
            if reading_stdin:
                fds.append(stdin_fd)
            if wake_r >= 0:
                fds.append(wake_r)
            try:
                ready, _, _ = select.select(fds, [], [], 0 if client.has_pending() else None)
            except InterruptedError:
                continue
            if client.has_pending() and client.fileno() not in ready:
                ready.append(client.fileno())
            if wake_r in ready:
                try:
                    os.read(wake_r, 512)
                except OSError:
                    pass
                size = terminal_size(stdout_fd) or terminal_size(stdin_fd)
                if size:
                    try:
                        client.resize(*size)
                    except Exception:
                        pass
            if reading_stdin and stdin_fd in ready:
                try:
                    data = os.read(stdin_fd, 65536)
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EINTR):
                        data = b""
                    else:
                        data = None
                if data == b"":
                    reading_stdin = False
                    if matcher.held:
                        client.send_stdin(matcher.held)
                        matcher.held = b""
                    client.close_stdin()
                elif data:
                    fwd, detach = matcher.feed(data)
                    if fwd:
                        client.send_stdin(fwd)
                    if detach:
                        return None
            if client.fileno() in ready:
                for kind, value in client.read():
                    if kind == "stdout":
                        _write_all(stdout_fd, value)
                    elif kind == "stderr":
                        _write_all(stderr_fd, value)
                    elif kind in ("exit", "ended"):
                        return client.result()
    finally:
        if saved is not None:
            import termios
            try:
                termios.tcsetattr(stdin_fd, termios.TCSADRAIN, saved)
            except termios.error:
                pass
        if old_winch is not None:
            signal.signal(signal.SIGWINCH, old_winch)
        for fd in (wake_r, wake_w):
            if fd >= 0:
                os.close(fd)


def run_exec(client, process: dict, *, tty: bool, stdin: bool, detach: bool = False,
             size: tuple[int, int] | None = None, stdin_fd: int = 0, stdout_fd: int = 1, stderr_fd: int = 2) -> int:
    """`docker exec`: runs `process` (Engine.exec_spec's OCI process) in the
    container of `client` (an attach session from Engine.attach) wired to the
    local terminal; its exit code. `detach` (exec -d) returns 0 once it runs.
    A process that cannot start raises ExecError (126/127). No detach keys:
    closing an exec's connection would hang up on it."""
    if detach:
        client.exec(process, tty=False, stdin=False, detach=True).close()
        return 0
    if tty and size is None:
        size = terminal_size(stdout_fd) or terminal_size(stdin_fd)
    sess = client.exec(process, tty=tty, size=size, stdin=stdin)
    try:
        code = run_attached(sess, tty=tty, stdin=stdin, detach_keys=b"", stdin_fd=stdin_fd, stdout_fd=stdout_fd,
                            stderr_fd=stderr_fd)
    finally:
        sess.close()
    return 0 if code is None else code

