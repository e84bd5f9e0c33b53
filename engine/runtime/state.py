"""A container's run state: ROOT/containers/<id>/state.json, written by its
monitor (atomically: tmp + fsync + rename), read by anyone.

    {"status": "running" | "exited", "pid", "monitor_pid", "started_at",
     "finished_at", "exit_code", "oom_killed", "error"}

A directory without state.json was never started: {"status": "created"}.
Cheap to import: the monitor uses it (no `json` package: protocol's codec)."""
import os
import time

from .protocol import dumps, loads

STATE_FILE = "state.json"
PID_FILE = "monitor.pid"
MONITOR_MODULE = b"engine.runtime.monitor"


def rfc3339_nano(ns: int | None = None) -> str:
    """UTC time as Go's RFC3339Nano: 2026-11-27T12:05:28.123456789Z (trailing
    zeros of the fraction dropped, as Go does)."""
    if ns is None:
        ns = time.time_ns()
    sec, frac = divmod(ns, 1_000_000_000)
    t = time.gmtime(sec)
    base = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    if frac:
        base += f".{frac:09d}".rstrip("0")
    return base + "Z"


def parse_rfc3339(s: str) -> float:
    """Seconds since the epoch from an RFC3339 UTC string (Z or +00:00), with
    up to nanoseconds. Offsets other than UTC are applied."""
    import calendar
    s = s.strip()
    offset = 0
    if s.endswith(("Z", "z")):
        s = s[:-1]
    elif len(s) > 6 and s[-6] in "+-" and s[-3] == ":":
        sign = 1 if s[-6] == "+" else -1
        offset = sign * (int(s[-5:-3]) * 3600 + int(s[-2:]) * 60)
        s = s[:-6]
    date, _, clock = s.replace("t", "T").partition("T")
    y, mo, d = (int(x) for x in date.split("-"))
    hh = mm = ss = 0
    frac = 0.0
    if clock:
        whole, _, f = clock.partition(".")
        parts = [int(x) for x in whole.split(":")]
        hh, mm = parts[0], parts[1]
        ss = parts[2] if len(parts) > 2 else 0
        if f:
            frac = int(f) / (10 ** len(f))
    return calendar.timegm((y, mo, d, hh, mm, ss, 0, 0, 0)) - offset + frac


def read_state(container_dir: str) -> dict:
    try:
        with open(os.path.join(container_dir, STATE_FILE), "rb") as f:
            return loads(f.read())
    except FileNotFoundError:
        return {"status": "created"}
    except ValueError:
        # Every write is a rename, so this is not a torn write: someone wrote junk.
        return {"status": "unknown", "error": "state.json is not valid JSON"}


def write_state(container_dir: str, state: dict, durable: bool = True) -> None:
    """Atomic always; `durable` (fsync) for what must survive a power cut (the
    exit code), not for "running", which a reboot makes untrue anyway."""
    path = os.path.join(container_dir, STATE_FILE)
    tmp = f"{path}.tmp{os.getpid()}"
    data = dumps(state).encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _cmdline(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return None


def is_monitor_of(pid: int, container_dir: str | None) -> bool:
    """Is `pid` a dockyard monitor (for `container_dir`, when given)?"""
    argv = _cmdline(pid)
    if not argv or MONITOR_MODULE not in argv:
        return False
    if container_dir is None:
        return True
    i = argv.index(MONITOR_MODULE)
    if i + 1 >= len(argv):
        return False
    got = argv[i + 1].decode(errors="surrogateescape")
    if got == container_dir:
        return True  # the common case, without two realpath walks (ps asks this of every container)
    want = os.path.realpath(container_dir)
    return os.path.realpath(got) == want or os.path.basename(got.rstrip("/")) == os.path.basename(want)


def monitor_alive(state: dict, container_dir: str | None = None) -> bool:
    """True when the state's monitor_pid is a live monitor process (for
    `container_dir` when given): a recycled pid running something else is not."""
    pid = state.get("monitor_pid") if state else None
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        if stat[stat.rindex(b")") + 2:stat.rindex(b")") + 3] == b"Z":
            return False  # a zombie has already finished
    except (OSError, ValueError):
        return False
    return is_monitor_of(pid, container_dir)


def settled_state(container_dir: str, tries: int = 20, pause: float = 0.01) -> tuple[dict, bool]:
    """The state and whether its monitor is alive, looked at again for a moment
    before calling a "running" container's monitor dead: the monitor
    re-executes itself once at start and its command line is briefly
    unreadable then."""
    import time
    st = read_state(container_dir)
    alive = monitor_alive(st, container_dir)
    for _ in range(tries):
        if alive or st.get("status") != "running":
            break
        time.sleep(pause)
        st = read_state(container_dir)
        alive = monitor_alive(st, container_dir)
    return st, alive


def read_monitor_pid(container_dir: str) -> int | None:
    try:
        with open(os.path.join(container_dir, PID_FILE)) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None
