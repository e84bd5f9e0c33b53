"""Container logs in docker's json-file format.

ROOT/containers/<id>/container.log holds one JSON object a line, as docker's
json-file driver writes them:

    {"log":"hello\\n","stream":"stdout","time":"2026-11-27T12:05:28.123456789Z"}

A line of output is one entry (its "\\n" kept); output without a newline is
held until the newline comes, up to 16 KiB (docker's buffer), then written as
a partial entry. With a tty everything is "stdout" (and "\\r\\n", as docker).
When the file would grow past `max_size` it is renamed to container.log.1
(.1 to .2, …; at most `max_files` files in all) and a new one begun.

`LogWriter` is the monitor's side (cheap to import: no `json` package, see
protocol.dumps); `read_logs` is the reader's (docker logs: tail, since,
until, follow, timestamps).
"""
import os

from .protocol import dumps as _dumps
from .protocol import loads as _loads
from .state import rfc3339_nano

LOG_FILE = "container.log"
MAX_LINE = 16 * 1024  # docker's maximum line length before a partial entry


class LogWriter:
    """Appends json-file entries to `path`, rotating by size. Writes whole lines
    with one write(2) per chunk of output, so readers never see half a line."""

    def __init__(self, path: str, max_size: int = 0, max_files: int = 1):
        self.path = path
        self.max_size = max(0, int(max_size or 0))
        self.max_files = max(1, int(max_files or 1))
        self._partial = {"stdout": b"", "stderr": b""}
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._size = os.fstat(self._fd).st_size

    def write(self, stream: str, data: bytes, ns: int | None = None) -> None:
        """Output read from `stream` ("stdout" or "stderr"): whole lines are
        written now, the rest waits for its newline (or for `flush`)."""
        if not data:
            return
        data = self._partial.get(stream, b"") + data
        entries = []
        start = 0
        n = len(data)
        while start < n:
            nl = data.find(b"\n", start, start + MAX_LINE)
            if nl >= 0:
                entries.append(data[start:nl + 1])
                start = nl + 1
            elif n - start >= MAX_LINE:
                cut = _utf8_cut(data, start + MAX_LINE)
                entries.append(data[start:cut])
                start = cut
            else:
                break
        self._partial[stream] = data[start:]
        if entries:
            self._emit(stream, entries, ns)

    def flush(self) -> None:
        """Writes what waits for a newline (the container has gone quiet for
        good, or is exiting)."""
        for stream, rest in self._partial.items():
            if rest:
                self._partial[stream] = b""
                self._emit(stream, [rest], None)

    def _emit(self, stream: str, pieces: list[bytes], ns: int | None) -> None:
        when = rfc3339_nano(ns)
        out = []
        size = 0
        for piece in pieces:
            line = (_dumps({"log": piece.decode("utf-8", "replace"), "stream": stream, "time": when})
                    + "\n").encode()
            if self.max_size and self._size + size + len(line) > self.max_size and (self._size + size) > 0:
                if out:
                    self._write_all(b"".join(out))
                    out, size = [], 0
                self._rotate()
            out.append(line)
            size += len(line)
        if out:
            self._write_all(b"".join(out))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._fd, view)
            except InterruptedError:
                continue
            view = view[n:]
            self._size += n

    def _rotate(self) -> None:
        os.close(self._fd)
        if self.max_files > 1:
            for i in range(self.max_files - 1, 0, -1):
                src = self.path if i == 1 else f"{self.path}.{i - 1}"
                try:
                    os.replace(src, f"{self.path}.{i}")
                except FileNotFoundError:
                    pass
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        else:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        self._fd = os.open(self.path, flags, 0o640)
        self._size = 0

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1


def _utf8_cut(data: bytes, pos: int) -> int:
    """`pos` moved back (at most 3 bytes) so it does not split a UTF-8 character."""
    for back in range(4):
        p = pos - back
        if p <= 0 or p >= len(data):
            return pos
        if data[p] & 0xC0 != 0x80:
            return p
    return pos


# -- reading ------------------------------------------------------------------

def log_files(container_dir: str) -> list[str]:
    """The log files of a container, oldest first."""
    base = os.path.join(container_dir, LOG_FILE)
    rotated = []
    try:
        names = os.listdir(container_dir)
    except FileNotFoundError:
        return []
    for name in names:
        if name.startswith(LOG_FILE + ".") and name[len(LOG_FILE) + 1:].isdigit():
            rotated.append(int(name[len(LOG_FILE) + 1:]))
    files = [f"{base}.{i}" for i in sorted(rotated, reverse=True)]
    if os.path.exists(base):
        files.append(base)
    return files


def parse_time_arg(value, now: float | None = None) -> float | None:
    """docker's --since/--until: RFC3339 time, a unix timestamp ("1700000000.5")
    or a duration before now ("10m", "1h30m", "45s"). Floats pass through."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    import time
    s = str(value).strip()
    try:
        return float(s)
    except ValueError:
        pass
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total, num, i, matched = 0.0, "", 0, False
    while i < len(s):
        c = s[i]
        if c.isdigit() or c == ".":
            num += c
            i += 1
            continue
        unit = next((u for u in ("ns", "us", "µs", "ms", "s", "m", "h") if s.startswith(u, i)), None)
        if unit is None or not num:
            matched = False
            break
        total += float(num) * units[unit]
        num, i, matched = "", i + len(unit), True
    if matched and not num:
        return (now if now is not None else time.time()) - total
    from ..errors import InvalidArgument
    from .state import parse_rfc3339
    try:
        return parse_rfc3339(s)
    except (ValueError, IndexError):
        raise InvalidArgument(f"invalid time {value!r}: use an RFC3339 time, a unix timestamp or a "
                              "duration such as 10m") from None


def _entry(line: bytes):
    try:
        obj = _loads(line)
        return obj.get("stream", "stdout"), obj.get("time", ""), obj.get("log", "").encode("utf-8", "surrogateescape")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None


def read_logs(container_dir: str, *, tail: int | None = None, since=None, until=None, follow: bool = False,
              timestamps: bool = False, poll: float = 0.1, stop=None):
    """Yields (stream, time, data) for each log entry, oldest first, from the
    rotated files and the current one. `tail`: only the last N entries (before
    following). `since` / `until`: see parse_time_arg. `timestamps`: data is
    prefixed with "<time> " as `docker logs -t` prints it. `follow`: keep
    yielding new entries until the container's state.json says it has exited
    (or its monitor is gone), or `stop()` says so (asked every `poll`
    seconds while the log is quiet: a reader that lost interest need not wait
    for the next line)."""
    from .state import parse_rfc3339
    since_t = parse_time_arg(since)
    until_t = parse_time_arg(until)

    def keep(t: str) -> bool:
        if since_t is None and until_t is None:
            return True
        try:
            ts = parse_rfc3339(t)
        except (ValueError, IndexError):
            return True
        if since_t is not None and ts < since_t:
            return False
        return until_t is None or ts <= until_t

    def out(entry):
        stream, t, data = entry
        return (stream, t, (t.encode() + b" " + data) if timestamps else data)

    base = os.path.join(container_dir, LOG_FILE)
    # The current file is opened first so that a rotation while we read the
    # older ones cannot make us miss it: we keep following this inode.
    cur = None
    try:
        cur = open(base, "rb")
    except FileNotFoundError:
        pass
    older = [p for p in log_files(container_dir) if p != base]

    def entries_of_file(f):
        for line in f:
            if not line.endswith(b"\n"):
                return line  # a half-written line: left for the follower
            e = _entry(line)
            if e is not None and keep(e[1]):
                yield_buf.append(e)
        return b""

    yield_buf: list = []
    if tail is not None and tail >= 0:
        from collections import deque
        yield_buf = deque(maxlen=tail) if tail > 0 else deque(maxlen=0)  # type: ignore[assignment]
        for p in older:
            try:
                with open(p, "rb") as f:
                    entries_of_file(f)
            except FileNotFoundError:
                continue
        rest = entries_of_file(cur) if cur else b""
        for e in list(yield_buf):
            yield out(e)
    else:
        for p in older:
            try:
                with open(p, "rb") as f:
                    entries_of_file(f)
            except FileNotFoundError:
                continue
            for e in yield_buf:
                yield out(e)
            yield_buf.clear()
        rest = entries_of_file(cur) if cur else b""
        for e in yield_buf:
            yield out(e)
        yield_buf = []
    if not follow:
        if cur:
            cur.close()
        return
    yield from _follow(container_dir, cur, rest, keep, out, until_t, poll, stop)


def _open_after(container_dir: str, ino: int):
    """Opens the log file written after ours (inode `ino`, rotated away).

    The monitor renames .N-1 to .N … container.log to .1, oldest first, while
    we look, and a directory listing taken during renames can miss names. So:
    find the suffix k our file has now, open .k-1 (container.log when k is 1)
    and keep it only if, after opening it, ours is still .k and the opened
    file still .k-1; otherwise look again."""
    import time
    base = os.path.join(container_dir, LOG_FILE)
    seen = None
    for _ in range(2000):
        files = log_files(container_dir)
        k = None
        inos = []
        for p in files:
            try:
                n = os.stat(p).st_ino
            except FileNotFoundError:
                n = None
            inos.append(n)
            if n == ino and p != base:
                k = int(p.rsplit(".", 1)[1])
                break
        if k is None:
            # Only two identical looks without ours say it is gone (rotated
            # past max_files); then the oldest left is the next best.
            if seen != (files, inos):
                seen = (files, inos)
                time.sleep(0.001)
                continue
            try:
                return open(files[0] if files else base, "rb")
            except FileNotFoundError:
                continue
        ours = f"{base}.{k}"
        succ = base if k == 1 else f"{base}.{k - 1}"
        try:
            f = open(succ, "rb")
        except FileNotFoundError:
            time.sleep(0.0005)
            continue   # mid-rotation
        try:
            if os.stat(ours).st_ino == ino and os.stat(succ).st_ino == os.fstat(f.fileno()).st_ino:
                return f
        except FileNotFoundError:
            pass
        f.close()
    return None


def _follow(container_dir, cur, rest: bytes, keep, out, until_t, poll, stop=None):
    import time

    from .state import parse_rfc3339, settled_state
    base = os.path.join(container_dir, LOG_FILE)
    buf = rest
    last_check = 0.0
    done = False

    def lines_of(data: bytes):
        nonlocal buf
        buf += data
        lines = buf.split(b"\n")
        buf = lines.pop()
        for line in lines:
            e = _entry(line)
            if e is None or not keep(e[1]):
                continue
            yield e

    try:
        while True:
            if cur is None:
                try:
                    cur = open(base, "rb")
                except FileNotFoundError:
                    cur = None
            data = cur.read() if cur is not None else b""
            if data:
                for e in lines_of(data):
                    if until_t is not None:
                        try:
                            if parse_rfc3339(e[1]) > until_t:
                                return
                        except (ValueError, IndexError):
                            pass
                    yield out(e)
                continue
            if cur is not None:
                ino = os.fstat(cur.fileno()).st_ino
                try:
                    rotated = os.stat(base).st_ino != ino
                except FileNotFoundError:
                    rotated = False      # between the rename and the new file
                if rotated:
                    # Nothing more goes to our file once it is renamed: read
                    # what came before the rename, then go on with the next.
                    for e in lines_of(cur.read()):
                        yield out(e)
                    cur.close()
                    buf = b""
                    cur = _open_after(container_dir, ino)
                    continue
            if done:
                return
            now = time.monotonic()
            if now - last_check >= poll:
                last_check = now
                st, alive = settled_state(container_dir)
                status = st.get("status")
                if status in ("exited", "created", "unknown") or not alive:
                    done = True  # one more read: the monitor flushed before writing "exited"
                    continue
                if until_t is not None and time.time() > until_t:
                    return
            if stop is not None and stop():
                return
            time.sleep(poll)
    finally:
        if cur is not None:
            cur.close()
