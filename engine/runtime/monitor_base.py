"""What every part of the monitor shares (monitor.py is the entry; see its
doc): the names of its files, the launcher's ready pipe, small fd helpers.
Standard library only, loaded by the lean stage 2 as well."""
import os

MODULE = "engine.runtime.monitor"
SOCKET_NAME = "attach.sock"
PID_FILE = "monitor.pid"
LOG_FILE = "container.log"
READ_SIZE = 65536
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


def _message(e: BaseException) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}: {e.filename}" if e.filename else str(e)
    return str(e) or type(e).__name__


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


def _listen() -> int:
    """The attach socket, bound and listening; its fd (kept across stage 2's exec)."""
    import _socket
    _unlink(SOCKET_NAME)
    ls = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    ls.bind(SOCKET_NAME)
    os.chmod(SOCKET_NAME, 0o600)
    ls.listen(64)
    return ls.detach()


def _release(start_w: int) -> None:
    """Lets the container's process execve."""
    try:
        os.write(start_w, b"\0")
    except OSError:
        pass  # it died already: error_r / SIGCHLD tell the rest
    os.close(start_w)


def _frame(ftype: int, payload: bytes) -> bytes:
    return bytes((ftype,)) + len(payload).to_bytes(4, "big") + payload
