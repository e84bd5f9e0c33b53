"""The monitor zygote: one process per store root, with the monitor's and the
container init's modules already imported, that forks a container's monitor
on request. A start then costs a fork instead of two interpreter starts (the
monitor's stage 1 and its lean re-exec) and ~15 ms of imports.

    python -E -S -m engine.runtime.zygote_server ROOT FINGERPRINT --ready-fd N --serve MODULES PADDING

Started by the first `launcher.start` that finds none (a double fork, like a
monitor: nobody's child); it answers "ok" on the ready pipe once it listens.
It listens on ROOT/run/zygote-FINGERPRINT.sock (0600; the fingerprint changes
with the engine's code, so an upgraded engine never asks an old zygote), holds
ROOT/run/zygote-FINGERPRINT.lock while alive (one per root and code) and
exits after IDLE_SECONDS (or $DOCKYARD_ZYGOTE_IDLE) without a request, or on
SIGTERM. This module is the client side (and what every process needs:
the fingerprint, the registered modules); zygote_server.py is the zygote.

A request is one message on a fresh connection, b"start\\0" + the container
directory, with the launcher's ready pipe attached (SCM_RIGHTS); only a peer
of our own uid is served, and only a directory ROOT/containers/<64 hex> with
a config.json. The zygote answers b"ok\\n" and forks; the child (a new
session; the listening socket closed; its command line rewritten to the
monitor's, so ps and the engine know it) runs `monitor.run_forked`, which
answers the ready pipe exactly as a monitor started on its own does.

A `call` (b"call\\0" + module + …) forks a worker running a module's
serve_forked; the zygote serves only the modules it was started with
(--serve, comma-separated), which the face that starts it registers first
(serve(): tui/cli.py names tui.cli_worker). The engine names no face's
module, and a call cannot name any other module. The registered modules are
part of the fingerprint (and their packages' sources are in it), so a
process is always served by a zygote of its own set: the TUI's, which
serves no calls, and the command line's are then two zygotes of one root.

Not a daemon the user must run: no state of its own, started on demand, gone
when idle; `DOCKYARD_ZYGOTE=0` turns it off (each start then spawns the
monitor as before)."""
import os
import sys

MODULE = "engine.runtime.zygote_server"  # what a zygote runs (python -m); see there
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_served: tuple[str, ...] = ()   # what the zygotes this process starts serve to `call` (serve())
# The zygote's argv ends with this much room, so that a forked monitor can
# write its own (longer) command line over it.
ARGV_ROOM = 320


def enabled() -> bool:
    return os.environ.get("DOCKYARD_ZYGOTE", "1").strip().lower() not in ("0", "no", "false", "off")


def serve(module: str) -> None:
    """Registers `module` (a module with serve_forked(conn, payload, fds)) to
    be served to `call`s by the zygotes this process starts or asks: the face
    that wants its commands forked names it, before its first call."""
    global _served, _fingerprint
    if not module or not all(p.isidentifier() for p in module.split(".")):
        raise ValueError(f"not a module name: {module!r}")
    if module not in _served:
        _served = tuple(sorted(_served + (module,)))
        _fingerprint = None


_fingerprint: str | None = None


def fingerprint() -> str:
    """Changes whenever the code a zygote runs changes: the engine's sources,
    those of the packages holding the modules it serves (serve()), the set of
    them, the interpreter. Two CRCs, not sha256: loading OpenSSL would cost each
    start 3 ms, and this only has to notice an upgrade, not resist an
    attacker (only root can write the sources or reach the socket).
    Computed once a process: a process should be served by a zygote of the
    code it was started with (a TUI left open across an upgrade keeps its own)."""
    global _fingerprint
    if _fingerprint is None:
        _fingerprint = _compute_fingerprint()
    return _fingerprint


def _compute_fingerprint() -> str:
    import zlib
    parts = [f"{sys.executable}\0{sys.version}\0{','.join(_served)}"]
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # A served module's own package and those above it (tui.cli_worker: tui/*.py),
    # not their subpackages (tui/widgets: the TUI's, never run by a worker).
    dirs = sorted({os.path.join(top, *m.split(".")[:i]) for m in _served for i in range(1, m.count(".") + 1)})
    for dirpath, subdirs, _files in os.walk(os.path.join(top, "engine")):
        subdirs[:] = sorted(d for d in subdirs if d != "__pycache__")
        dirs.append(dirpath)
    for d in dirs:
        try:
            names = sorted(n for n in os.listdir(d) if n.endswith(".py"))
        except OSError:
            continue
        for n in names:
            try:
                st = os.stat(os.path.join(d, n))
            except OSError:
                continue
            parts.append(f"{d}/{n}\0{st.st_mtime_ns}\0{st.st_size}")
    data = "\n".join(parts).encode()
    return f"{zlib.crc32(data):08x}{zlib.crc32(data[::-1]):08x}"


def run_dir(root: str) -> str:
    return os.path.join(root, "run")


def _names(fp: str) -> tuple[str, str]:
    return f"zygote-{fp}.sock", f"zygote-{fp}.lock"


# ------------------------------------------------------------------ client side

def request(root: str, container_dir: str, ready_w: int, timeout: float = 10) -> bool:
    """Asks the root's zygote (started now if there is none) to fork the
    monitor of `container_dir`, handing it `ready_w`. False when no zygote can
    serve: the caller then spawns the monitor itself."""
    got = _ask(root, b"start\0" + os.fsencode(container_dir), [ready_w], timeout)
    if got is None:
        return False
    sock, answer = got
    sock.close()
    return answer == b"ok"


def call(root: str, module: str, payload: bytes, fds: list[int], timeout: float = 10):
    """Asks the root's zygote (started now if there is none) to fork a
    worker running `module.serve_forked(conn, payload, fds)`; the zygote
    imports `module` once, on the first call; only registered modules
    (serve(); this registers `module`) are served. Returns (connection, worker
    pid) -- the worker talks on that connection from then on -- or None when
    no zygote can serve (then the caller does the work itself)."""
    if not os.path.isdir(root):
        return None
    serve(module)  # (the face has, normally: a zygote it starts must know it before its first call)
    got = _ask(root, b"call\0" + module.encode() + b"\0" + str(len(payload)).encode() + b"\0" + payload, fds,
               timeout)
    if got is None:
        return None
    sock, answer = got
    if answer.startswith(b"ok ") and answer[3:].isdigit():
        sock.settimeout(None)
        return sock, int(answer[3:])
    sock.close()
    return None


def _ask(root: str, message: bytes, fds: list[int], timeout: float):
    """Sends one request with `fds` to the root's zygote, starting one when
    there is none; returns (connection, the answer's first line) or None.
    The line is read a byte at a time: after it, the connection may belong
    to a worker."""
    import _socket as socket  # the C module: socket.py loads enum and selectors (3 ms)
    if not enabled():
        return None
    fp = fingerprint()
    rdir = run_dir(root)
    sock = _connect(rdir, fp)
    if sock is None:
        try:
            os.makedirs(rdir, mode=0o700, exist_ok=True)
        except OSError:
            return None
        if not _spawn(root, fp, timeout):
            return None
        sock = _connect(rdir, fp)
        if sock is None:
            return None
    try:
        sock.settimeout(timeout)
        sock.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                  b"".join(int(fd).to_bytes(4, sys.byteorder) for fd in fds))])
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = sock.recv(1)
            if not chunk:
                break
            answer += chunk
        return sock, answer.rstrip(b"\n")
    except OSError:
        sock.close()
        return None


def _connect(rdir: str, fp: str):
    """A connection to the zygote, or None. Through /proc/self/fd/N/… so that
    a deep root does not hit the 108-byte limit of socket paths."""
    import _socket as socket
    sock_name = _names(fp)[0]
    try:
        dfd = os.open(rdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.connect(f"/proc/self/fd/{dfd}/{sock_name}")
        return s
    except OSError:
        s.close()
        return None
    finally:
        os.close(dfd)


def _spawn(root: str, fp: str, timeout: float) -> bool:
    """Starts a zygote for `root` and waits until it listens. When another one
    is just starting (it holds the lock), waits a moment for its socket."""
    import subprocess
    import time

    from .monitor_flags import FAST_FLAGS
    from .ready import read_line
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        argv = [sys.executable, *FAST_FLAGS, "-m", MODULE, os.path.abspath(root), fp, "--ready-fd", str(w),
                "--serve", ",".join(_served), " " * ARGV_ROOM]
        try:
            p = subprocess.Popen(argv, pass_fds=(w,), start_new_session=True, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True,
                                 cwd=PACKAGE_ROOT, env=env)
        except OSError:
            return False
        os.close(w)
        w = -1
        try:
            p.wait(timeout=timeout)  # the first process forks the zygote and exits
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return False
        line = read_line(r, timeout)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    if line == b"ok":
        return True
    if line == b"busy":
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            s = _connect(run_dir(root), fp)
            if s is not None:
                s.close()
                return True
            time.sleep(0.02)
    return False


def stop(root: str) -> list[int]:
    """Ends every zygote of `root` (whatever its code version) and waits for
    them; returns their pids. Only processes that are a zygote of this root
    are signalled."""
    import signal
    import time
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit() and is_zygote_of(int(name), root):
            try:
                os.kill(int(name), signal.SIGTERM)
                pids.append(int(name))
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(is_zygote_of(p, root) for p in pids):
        time.sleep(0.01)
    return pids


def zygote_roots() -> dict[int, str]:
    """{pid: root} of every zygote on the machine."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        root = _zygote_root(int(name))
        if root is not None:
            out[int(name)] = root
    return out


def _zygote_root(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    if stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] == b"Z":
        return None
    try:
        i = argv.index(MODULE.encode())
    except ValueError:
        return None
    return os.fsdecode(argv[i + 1]) if i + 1 < len(argv) else None


def is_zygote_of(pid: int, root: str) -> bool:
    got = _zygote_root(pid)
    return got is not None and os.path.realpath(got) == os.path.realpath(root)
