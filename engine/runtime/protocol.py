"""The monitor's socket protocol (ROOT/containers/<id>/attach.sock).

A unix stream socket carrying frames, in both directions:

    +--------+--------------------+-----------------+
    | type 1 | length 4 (big end) | payload, length |
    +--------+--------------------+-----------------+

Types (client -> monitor unless noted):

    HELLO      0x01  JSON. Attach request: {"stdin": bool, "stdout": bool,
                     "stderr": bool, "replay": bool}. The monitor answers with
                     its own HELLO: {"id", "pid", "tty", "open_stdin", "status"},
                     then (replay) the last 64 KiB of output, then live output.
                     Output frames only go to connections that said HELLO (or
                     EXEC). The first HELLO starts a container held by
                     monitor.json's wait_attach.
    STDIN      0x02  raw bytes for the container's stdin (only with open_stdin,
                     and not from a HELLO that said "stdin": false), or the exec's.
    STDIN_EOF  0x03  empty: close the container's stdin pipe (ignored with a
                     tty), or the exec's.
    STDOUT     0x04  monitor -> client: raw bytes the container wrote to
                     stdout (with a tty: everything from the terminal).
    STDERR     0x05  monitor -> client: raw bytes written to stderr (no tty).
    RESIZE     0x06  ">HH" rows, cols: TIOCSWINSZ on the container's (or the
                     exec's) pty.
    SIGNAL     0x07  ">I" signal number: sent to the container's pid 1 (or the
                     exec's process).
    EXEC       0x08  JSON {"process": <OCI process>, "tty": bool, "stdin": bool,
                     "size": [rows, cols] | null, "detach": bool}: start a
                     process in the running container (the first request of
                     its connection); from then on this connection's STDIN / STDOUT /
                     STDERR / RESIZE / SIGNAL / EXIT are the exec's. The monitor
                     answers HELLO {"pid": …} once it runs, or ERROR + EXIT.
                     With "detach" its stdio is /dev/null and the monitor
                     closes the connection after that HELLO. Closing an
                     exec's connection hangs up on the process (its pty or
                     pipes are closed).
    EXIT       0x09  monitor -> client: ">i" exit code, then JSON
                     {"oom_killed", "finished_at", "error", "started"} (an
                     exec's: {"pid"} or {"error", "started": false}). The
                     last frame; the monitor closes the connection after it.
    ERROR      0x0a  monitor -> client (UTF-8 message). A request failed; a
                     start failure (missing command…) is followed by EXIT with
                     "error" set and docker's exit code (127/126/125).
    WAIT       0x0b  empty: ask for EXIT when the container (or this
                     connection's exec) exits; any connection gets EXIT anyway.
    PAUSE      0x0c  JSON {"hold": bool}: freeze the container (its cgroup's
                     freezer). "hold": false is the user's pause (docker
                     pause): it lasts until an UNPAUSE. "hold": true is a
                     commit's: it lasts while this connection is open (or
                     until its UNPAUSE), so a committer that dies, even by
                     SIGKILL, never leaves the container frozen; it does not
                     end a user's pause. The monitor answers PAUSE {"paused":
                     true} once every process is stopped, or ERROR.
    UNPAUSE    0x0d  empty: end this connection's hold, or else the user's
                     pause; the container thaws when neither remains. The
                     monitor answers UNPAUSE {"paused": bool}, or ERROR.

Control frames (RESIZE, SIGNAL, WAIT) work on any connection. Closing the
connection detaches; it never stops the container. Pure functions and a
buffer class, so that both sides and the tests can use it without a socket.

`dumps` / `loads` are JSON through the interpreter's C accelerator (_json)
without the `json` package, which imports `re` and `enum`: 1.3 MB of RSS the
monitor (one per container) does not need.
"""
import struct

try:
    import _json
except ImportError:  # an interpreter without the accelerator
    _json = None


def _default(o):
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


if _json is not None:
    _encode = _json.make_encoder(None, _default, _json.encode_basestring, None, ":", ",", False, False, True)

    class _Ctx:
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        memo: dict = {}

        @staticmethod
        def parse_constant(name):
            return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]

    _scan = _json.make_scanner(_Ctx())

    def dumps(obj) -> str:
        """Compact JSON (non-ASCII kept as is), like json.dumps(obj,
        ensure_ascii=False, separators=(",", ":"))."""
        return "".join(_encode(obj, 0))

    def loads(data):
        """json.loads for str or UTF-8 bytes; ValueError on bad input."""
        if isinstance(data, (bytes, bytearray)):
            data = bytes(data).decode("utf-8")
        s = data.strip(" \t\n\r")
        try:
            obj, end = _scan(s, 0)
        except StopIteration as e:
            raise ValueError(f"invalid JSON at offset {e.value}") from None
        if end != len(s):
            raise ValueError(f"invalid JSON: extra data at offset {end}")
        return obj
else:  # pragma: no cover
    def dumps(obj) -> str:
        import json
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))

    def loads(data):
        import json
        return json.loads(data)

HELLO = 0x01
STDIN = 0x02
STDIN_EOF = 0x03
STDOUT = 0x04
STDERR = 0x05
RESIZE = 0x06
SIGNAL = 0x07
EXEC = 0x08
EXIT = 0x09
ERROR = 0x0A
WAIT = 0x0B
PAUSE = 0x0C
UNPAUSE = 0x0D

NAMES = {HELLO: "HELLO", STDIN: "STDIN", STDIN_EOF: "STDIN_EOF", STDOUT: "STDOUT", STDERR: "STDERR",
         RESIZE: "RESIZE", SIGNAL: "SIGNAL", EXEC: "EXEC", EXIT: "EXIT", ERROR: "ERROR", WAIT: "WAIT",
         PAUSE: "PAUSE", UNPAUSE: "UNPAUSE"}

HEADER = struct.Struct(">BI")
MAX_PAYLOAD = 16 * 1024 * 1024  # a frame larger than this is a broken peer


class ProtocolError(Exception):
    pass


def frame(ftype: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(ftype, len(payload)) + payload


def json_frame(ftype: int, obj) -> bytes:
    return frame(ftype, dumps(obj).encode())


def resize_frame(rows: int, cols: int) -> bytes:
    return frame(RESIZE, struct.pack(">HH", rows, cols))


def signal_frame(sig: int) -> bytes:
    return frame(SIGNAL, struct.pack(">I", sig))


def exit_frame(code: int, info: dict | None = None) -> bytes:
    return frame(EXIT, struct.pack(">i", code) + dumps(info or {}).encode())


def parse_resize(payload: bytes) -> tuple[int, int]:
    if len(payload) != 4:
        raise ProtocolError("RESIZE needs 4 bytes")
    return struct.unpack(">HH", payload)


def parse_signal(payload: bytes) -> int:
    if len(payload) != 4:
        raise ProtocolError("SIGNAL needs 4 bytes")
    return struct.unpack(">I", payload)[0]


def parse_exit(payload: bytes) -> tuple[int, dict]:
    if len(payload) < 4:
        raise ProtocolError("EXIT needs at least 4 bytes")
    code = struct.unpack(">i", payload[:4])[0]
    info = loads(payload[4:]) if len(payload) > 4 else {}
    return code, info


def parse_json(payload: bytes):
    try:
        return loads(payload)
    except ValueError as e:
        raise ProtocolError(f"bad JSON payload: {e}") from None


class FrameReader:
    """Accumulates bytes as they arrive (in any pieces) and yields whole frames."""

    __slots__ = ("_buf",)

    def __init__(self):
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._buf += data
        out = []
        buf = self._buf
        pos = 0
        while len(buf) - pos >= 5:
            ftype, n = HEADER.unpack_from(buf, pos)
            if n > MAX_PAYLOAD:
                raise ProtocolError(f"frame of {n} bytes is too large")
            if len(buf) - pos - 5 < n:
                break
            out.append((ftype, bytes(buf[pos + 5:pos + 5 + n])))
            pos += 5 + n
        if pos:
            del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        return len(self._buf)
