"""The ready pipe: how a process started in the background (a monitor, a
zygote) tells its starter, in one line, that it is up or why not. Read by
the launcher and by the zygote's client, neither importing the other."""
import os
import time


def read_line(fd: int, timeout: float) -> bytes | None:
    """The first line written to `fd`; b"" at EOF without one; None on timeout."""
    import select
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            return None
        chunk = os.read(fd, 65536)
        if not chunk:
            return buf.strip() or b""
        buf += chunk
    return buf.split(b"\n", 1)[0]
