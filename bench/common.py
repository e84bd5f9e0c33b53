"""Helpers for dockyard's benchmarks: timing commands, building the peers' command
lines (podman, skopeo) with all their state in one bench work dir, printing and
saving the results.

Everything is measured warm: the page cache is never dropped (no
`echo 3 > /proc/sys/vm/drop_caches`), and each contestant gets an unmeasured
warm-up run first. What a run must not count (`sync` so that no earlier run's
writeback lands in the timed window, a short pause, making a new root) happens
in a `prepare` step outside the timed window. Big trees are deleted only at the
end: see EXT4_RECENTCY_S.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PY = os.path.join(REPO, ".venv", "bin", "python")
RESULTS_DIR = os.path.join(REPO, "bench", "results")
DEFAULT_WORK = os.environ.get("DOCKYARD_BENCH_DIR", "/var/tmp/dockyard-bench")
DEFAULT_RUNS = int(os.environ.get("BENCH_RUNS", "5"))
# Seconds to wait after the untimed `sync` before each run.
DEFAULT_SETTLE = float(os.environ.get("BENCH_SETTLE", "3"))
# ext4 without a journal (this machine's disk) will not reuse an inode freed
# less than 60 s ago, or less than 300 + 60 s ago when its inode-table block is
# dirty, which it is as soon as new files are being created next to it
# (fs/ext4/ialloc.c: recently_deleted(), RECENTCY_MIN/RECENTCY_DIRTY). Every
# new inode then costs a scan of the inode bitmaps: creating 20,000 files right
# after deleting 20,000 took 3-5x the CPU here, for minutes, whatever the
# sync + pause. So the load runs never delete: each goes into a new, never
# used directory, and everything is removed at the end; and the load runs
# start only this long after the bench's own last big delete.
EXT4_RECENTCY_S = 370
_last_big_delete = 0.0


# --------------------------------------------------------------------------- timing

@dataclass
class Sample:
    wall: float          # seconds
    cpu: float           # user + sys seconds of the process and its waited-for children
    maxrss_kb: int       # peak RSS (KiB) of the process or its largest waited-for child


@dataclass
class Result:
    name: str
    cmd: list[str]
    samples: list[Sample] = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def walls(self) -> list[float]:
        return [s.wall for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.walls)

    @property
    def min(self) -> float:
        return min(self.walls)

    @property
    def cpu_median(self) -> float:
        return statistics.median(s.cpu for s in self.samples)

    @property
    def maxrss_kb(self) -> int:
        return max(s.maxrss_kb for s in self.samples)

    def as_dict(self) -> dict:
        if not self.samples:
            return {"name": self.name, "cmd": self.cmd, "runs": [], **self.extra}
        return {"name": self.name, "cmd": self.cmd,
                "median_s": round(self.median, 4), "min_s": round(self.min, 4),
                "cpu_median_s": round(self.cpu_median, 4), "peak_rss_kb": self.maxrss_kb,
                "runs": [{"wall_s": round(s.wall, 4), "cpu_s": round(s.cpu, 4),
                          "maxrss_kb": s.maxrss_kb} for s in self.samples],
                **self.extra}


class CommandFailed(RuntimeError):
    pass


TIME = "/usr/bin/time"


def run_once(cmd: Sequence[str], *, cwd: str | None = None, env: dict | None = None) -> Sample:
    """Runs cmd once, returns its wall time, CPU time and peak RSS. Raises
    CommandFailed with the command's stderr if it fails.

    CPU time and peak RSS come from GNU time (/usr/bin/time), which counts the
    command and the children it waited for. Not from our own wait4(): a child
    of this (large) Python process inherits the parent's peak RSS across
    vfork/fork + exec, so ru_maxrss would never read below it."""
    with tempfile.TemporaryFile() as errf, tempfile.NamedTemporaryFile("r") as tf:
        full = [TIME, "-q", "-f", "%U %S %M", "-o", tf.name, *cmd] if os.path.exists(TIME) else list(cmd)
        t0 = time.perf_counter()
        p = subprocess.Popen(full, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=errf)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            errf.seek(0)
            err = errf.read().decode(errors="replace").strip()
            raise CommandFailed(f"{' '.join(cmd)} exited {p.returncode}: {err[-2000:]}")
        if full[0] == TIME:
            fields = tf.read().split()
            utime, stime, rss = float(fields[-3]), float(fields[-2]), int(fields[-1])
            return Sample(wall, utime + stime, rss)
    return Sample(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss)


def sh(cmd: Sequence[str], *, cwd: str | None = None, env: dict | None = None,
       check: bool = True) -> str:
    """Runs a helper command (not measured), returns its stdout."""
    p = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise CommandFailed(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()[-2000:]}")
    return p.stdout


@dataclass
class Bench:
    """One measured command: cmd (or cmd(), called before every run, after
    prepare()), plus a prepare() run before every run, untimed."""
    name: str
    cmd: list[str] | Callable[[], list[str]]
    prepare: Callable[[], None] | None = None
    cwd: str | None = None
    env: dict | None = None
    after: Callable[[Result], None] | None = None   # called once at the end (sizes...)


def measure(benches: list[Bench], runs: int = DEFAULT_RUNS, warmup: int = 1,
            log: Callable[[str], None] = print) -> dict[str, Result]:
    """Runs each bench `warmup` + `runs` times, interleaved (run 1 of every
    bench, then run 2 of every bench...) so that slow drift of the machine
    falls on every contestant alike. Returns the results by name; a bench that
    fails gets its error in extra["error"] and no more runs."""
    results = {b.name: Result(b.name, []) for b in benches}
    failed: set[str] = set()
    for i in range(warmup + runs):
        for b in benches:
            if b.name in failed:
                continue
            if b.prepare:
                b.prepare()
            cmd = b.cmd() if callable(b.cmd) else b.cmd
            results[b.name].cmd = cmd
            try:
                s = run_once(cmd, cwd=b.cwd, env=b.env)
            except CommandFailed as e:
                results[b.name].extra["error"] = str(e)
                failed.add(b.name)
                log(f"  FAILED {b.name}: {e}")
                continue
            tag = "warm-up" if i < warmup else f"run {i - warmup + 1}/{runs}"
            log(f"  {b.name:<44} {tag:>9}  {s.wall:7.2f} s  cpu {s.cpu:6.2f} s  rss {s.maxrss_kb / 1024:6.0f} MB")
            if i >= warmup:
                results[b.name].samples.append(s)
    for b in benches:
        if b.after and results[b.name].samples:
            b.after(results[b.name])
    return results


# ------------------------------------------------------------------ work dir, cleanup

def mounts_under(path: str) -> list[str]:
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            mp = line.split()[1].encode().decode("unicode_escape")
            if mp == path or mp.startswith(path + "/"):
                found.append(mp)
    return found


def unmount_under(path: str) -> None:
    """Unmounts whatever podman (overlay driver, or its runroot) left mounted under path."""
    for mp in sorted(mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)


def stop_zygotes_under(path: str) -> None:
    """Ends the monitor zygotes of dockyard roots under `path` (they would
    otherwise idle on for minutes after their root is gone)."""
    try:
        from engine.runtime import zygote
    except ImportError:
        return
    path = os.path.realpath(path)
    for root in set(zygote.zygote_roots().values()):
        if os.path.realpath(root) == path or os.path.realpath(root).startswith(path + "/"):
            zygote.stop(root)


def remove_tree(path: str) -> None:
    global _last_big_delete
    if not os.path.lexists(path):
        return
    stop_zygotes_under(path)
    unmount_under(path)
    shutil.rmtree(path, ignore_errors=True)
    if os.path.lexists(path):  # read-only dirs or immutable bits left by a peer
        subprocess.run(["chattr", "-R", "-i", path], capture_output=True)
        subprocess.run(["rm", "-rf", "--one-file-system", path], check=False)
    _last_big_delete = time.monotonic()


def settle(seconds: float = DEFAULT_SETTLE) -> None:
    """sync (so that no earlier run's dirty pages are written back in the
    timed window), then wait a little."""
    os.sync()
    if seconds > 0:
        time.sleep(seconds)


def wait_for_ext4(log: Callable[[str], None] = print) -> float:
    """Sleeps until EXT4_RECENTCY_S after this process's last remove_tree();
    returns the seconds slept."""
    left = EXT4_RECENTCY_S - (time.monotonic() - _last_big_delete) if _last_big_delete else 0
    if left > 0:
        log(f"  waiting {left:.0f} s: ext4 without a journal is slow to create files for "
            f"{EXT4_RECENTCY_S} s after a big delete")
        os.sync()
        time.sleep(left)
    return max(left, 0)


class FreshDirs:
    """A new, never used directory under base for every run: base/name-1,
    base/name-2, ... (absent until the command makes it)."""

    def __init__(self, base: str, name: str):
        self.base, self.name, self.n = base, name, 0

    def next(self) -> str:
        self.n += 1
        return os.path.join(self.base, f"{self.name}-{self.n}")

    @property
    def current(self) -> str:
        return os.path.join(self.base, f"{self.name}-{self.n}")


# ------------------------------------------------------------------ command builders

def dockyard(root: str, *args: str) -> list[str]:
    """dockyard's CLI as a user runs it: the venv's `dockyard` script (made
    by scripts/setup.sh); `python -m tui.cli` when there is none."""
    script = os.path.join(REPO, ".venv", "bin", "dockyard")
    if os.path.exists(script):
        return [script, "--root", root, *args]
    return [VENV_PY, "-m", "tui.cli", "--root", root, *args]


_runroot_base: str | None = None


def runroot_base() -> str:
    """A short directory for podman's runroots (podman refuses a runroot path
    longer than 50 characters); remove it with cleanup_runroots()."""
    global _runroot_base
    if _runroot_base is None:
        _runroot_base = tempfile.mkdtemp(prefix="dyb-", dir="/run" if os.access("/run", os.W_OK) else None)
    return _runroot_base


def cleanup_runroots() -> None:
    global _runroot_base
    if _runroot_base:
        unmount_under(_runroot_base)
        shutil.rmtree(_runroot_base, ignore_errors=True)
        _runroot_base = None


def podman_state(state: str) -> dict:
    """podman's dirs for a state dir: root and libpod tmpdir in it, the
    runroot (small: locks, mount state) under runroot_base()."""
    return {"root": os.path.join(state, "root"),
            "runroot": os.path.join(runroot_base(), os.path.basename(state.rstrip("/"))[:20] + "-"
                                    + hashlib.sha1(os.path.abspath(state).encode()).hexdigest()[:6]),
            "tmpdir": os.path.join(state, "libpod-tmp")}


def podman(state: str, *args: str, driver: str = "vfs") -> list[str]:
    """podman with all its state under `state`, the flags this machine needs
    (runc: crun refuses hybrid cgroups; no systemd, no journald)."""
    d = podman_state(state)
    return ["podman", "--root", d["root"], "--runroot", d["runroot"], "--tmpdir", d["tmpdir"],
            "--storage-driver", driver, "--runtime", "runc", "--cgroup-manager=cgroupfs",
            "--events-backend=file", *args]


def skopeo(tmpdir: str, *args: str) -> list[str]:
    return ["skopeo", "--tmpdir", tmpdir, *args]


def peer_env(work: str) -> dict:
    """Environment for podman/skopeo: their big temporary files (TMPDIR,
    default /var/tmp) go to the bench work dir."""
    env = dict(os.environ)
    env["TMPDIR"] = os.path.join(work, "tmp")
    return env


def tool_versions() -> dict:
    def first_line(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()[0]
        except Exception as e:
            return f"unavailable ({e})"
    return {"podman": first_line(["podman", "--version"]),
            "skopeo": first_line(["skopeo", "--version"]),
            "runc": first_line(["runc", "--version"]),
            "python": sys.version.split()[0],
            "dockyard_git": first_line(["git", "-C", REPO, "rev-parse", "--short", "HEAD"])}


def machine() -> dict:
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) // 1024
    except OSError:
        pass
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    fs = sh(["findmnt", "-n", "-o", "FSTYPE,OPTIONS", "-T", DEFAULT_WORK
             if os.path.exists(DEFAULT_WORK) else "/var/tmp"], check=False).strip()
    return {"cores": os.cpu_count(), "cpu": cpu, "mem_mb": mem, "kernel": platform.release(),
            "bench_fs": fs, "cache": "warm (page cache never dropped)"}


# ------------------------------------------------------------------ reporting

def fmt_s(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f} s"


def fmt_mb(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.1f} MB"


def ratio(a: Result | None, b: Result | None) -> float | None:
    if not a or not b or not a.samples or not b.samples:
        return None
    return a.median / b.median


def comparison_table(rows: list[tuple[str, Result | None, Result | None]]) -> str:
    """A markdown table: for each row, dockyard's and the peer's median (min),
    and the ratio dockyard/peer of the medians (< 1: dockyard is faster)."""
    out = ["| work | dockyard median (min) | peer | peer median (min) | dockyard / peer |",
           "|---|---|---|---|---|"]
    for label, dy, peer in rows:
        def cell(r):
            if r is None:
                return "-"
            if not r.samples:
                return "FAILED"
            return f"{r.median:.2f} s ({r.min:.2f})"
        r = ratio(dy, peer)
        out.append(f"| {label} | {cell(dy)} | {peer.name if peer else '-'} | {cell(peer)} | "
                   f"{'-' if r is None else f'{r:.2f}x'} |")
    return "\n".join(out)


def all_results_table(results: list[Result]) -> str:
    out = ["| command | median | min | CPU (user+sys) | peak RSS | runs |",
           "|---|---|---|---|---|---|"]
    for r in results:
        if not r.samples:
            out.append(f"| {r.name} | FAILED | | | | {r.extra.get('error', '')[:120]} |")
            continue
        out.append(f"| {r.name} | {r.median:.2f} s | {r.min:.2f} s | {r.cpu_median:.2f} s | "
                   f"{r.maxrss_kb / 1024:.0f} MB | {' '.join(f'{w:.2f}' for w in r.walls)} |")
    return "\n".join(out)


def write_json(kind: str, payload: dict) -> str:
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = _dt.datetime.now().strftime("%Y-%m-%d")
    path = os.path.join(RESULTS_DIR, f"{stamp}-{kind}.json")
    if os.path.exists(path):  # a second run the same day: keep both
        path = os.path.join(RESULTS_DIR, f"{_dt.datetime.now().strftime('%Y-%m-%d-%H%M%S')}-{kind}.json")
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
        f.write("\n")
    return path


# ------------------------------------------------------------------ payloads

def words(rng) -> list[str]:
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    return ["".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(3000)]


def text(rng, vocabulary: list[str], size: int) -> bytes:
    out, n = [], 0
    while n < size:
        w = rng.choice(vocabulary)
        out.append(w)
        n += len(w) + 1
    return (" ".join(out).encode() + b"\n")[:size]


def write_payload(path: str, rng, big: int, small: int) -> int:
    """path/big (`big` bytes, 1 MiB blocks alternately random and text) and
    path/small/ (`small` text files of 100-2,000 bytes); returns the bytes."""
    vocabulary = words(rng)
    os.makedirs(os.path.join(path, "small"))
    block = 1 << 20
    with open(os.path.join(path, "big"), "wb") as f:
        left, i = big, 0
        while left:
            n = min(block, left)
            f.write(rng.randbytes(n) if i % 2 == 0 else text(rng, vocabulary, n))
            left -= n
            i += 1
    total = big
    for i in range(small):
        data = text(rng, vocabulary, rng.randint(100, 2000))
        total += len(data)
        with open(os.path.join(path, "small", f"f{i:05d}.txt"), "wb") as f:
            f.write(data)
    return total
