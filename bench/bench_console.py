"""Key-to-echo latency in a console during a flood (issue 7; goal: under 50 ms).

A real container from the engine (a fresh store root with the starter busybox
image), a ConsoleView exec'ing `sh` in it, in a minimal Textual app run with
`run_test(headless=False)`: Textual's real Linux driver, writing its frames
to a pseudo-terminal that a thread of this process drains (so the frames are
encoded and written as they would be to a terminal).

Scenarios, in one run:
  baseline  the shell at its prompt: it echoes the key itself
  floods    running in the foreground of that console: `yes` (busybox's: one
            write a line), `cat` of a 15 MB file of numbers in a loop (64 KiB
            writes, the fastest flood a PTY carries here), and `sgr`, a `yes`
            of a green y (a colour in every line: parsed, not jumped over).
            The tty echoes the key and the echo travels behind the flood
            through the PTY, the monitor, the socket and the console's queue.
  references, the same floods without our UI:
    pty     in busybox sh on a bare PTY of this machine, read by a tight loop
            (the kernel's share: a lower bound)
    engine  in an exec session of the same container, read by a tight loop
            from the monitor's socket (the engine's share: no parsing, no UI)

The marker key is `Z` (never in a flood), pressed --presses times, --gap
seconds apart. A press is posted the way Textual's driver posts a key read
from the terminal (`driver.send_message`). For each press:
  sent    press → the key written to the monitor's socket
  fed     press → the emulator has consumed the echoed byte (parsed, or
          applied by a jump over plain lines, see tui/vt/jump.py)
  repaint press → the first frame written to the terminal after that
Median and p95 of each (and of the references' press → echo read).

Run as root: .venv/bin/python bench/bench_console.py [--presses 30] [--gap 0.2] [--floods yes,cat,sgr] [--json FILE]
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import fcntl
import json
import os
import platform
import pty
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from bench.common import stop_zygotes_under

COLS, ROWS = 80, 24
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
MARK = b"Z"
# The floods: busybox `yes` (to a terminal its stdout is line-buffered: one
# write(2) a line, ~1.3 MB/s through a PTY here), `cat` of a 15 MB file of
# numbers in a loop (64 KiB writes: ~20 MB/s through the console), and `yes`
# of a green "y" (an SGR colour in every line: never jumped over, parsed).
# {f} is the file.
FLOODS = {"yes": "yes", "cat": "while :; do cat {f}; done", "sgr": "yes \"$(printf '\\033[32my\\033[0m')\""}
FLOOD_FILE_LINES = 2_000_000


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def summary(xs: list[float]) -> dict:
    ms = [x * 1000 for x in xs]
    return {"median_ms": round(statistics.median(ms), 2), "p95_ms": round(pct(ms, 95), 2),
            "min_ms": round(min(ms), 2), "max_ms": round(max(ms), 2), "n": len(ms)}


def set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


# -- references ----------------------------------------------------------------------------

class Counted:
    """A read function that counts the bytes it returns."""

    def __init__(self, read):
        self._read, self.bytes = read, 0

    def __call__(self):
        data = self._read()
        if data:
            self.bytes += len(data)
        return data


def read_until_mark(read, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        data = read()
        if data is None:
            raise RuntimeError("the stream ended")
        if MARK in data:
            return
    raise RuntimeError("no echo")


def timed_presses(read, press, presses: int, gap: float, warm: float) -> dict:
    """Presses the marker and reads until its echo, `presses` times; the
    flood is read all along (warm-up first)."""
    read = Counted(read)
    end = time.perf_counter() + warm
    while time.perf_counter() < end:
        read()
    t_start, b_start = time.perf_counter(), read.bytes
    out = []
    for _ in range(presses):
        t0 = time.perf_counter()
        press()
        read_until_mark(read)
        out.append(time.perf_counter() - t0)
        end = time.perf_counter() + gap
        while time.perf_counter() < end:
            read()
    res = summary(out)
    res["flood_mb_s"] = round((read.bytes - b_start) / (time.perf_counter() - t_start) / 1e6, 2)
    return res


def ref_bare_pty(flood: str, presses: int, gap: float, warm: float) -> dict:
    """The flood in busybox sh on a bare PTY of this machine (cooked mode, echo
    on), read in a tight loop."""
    busybox = shutil.which("busybox")
    master, slave = pty.openpty()
    set_size(slave, ROWS, COLS)
    p = subprocess.Popen([busybox, "sh", "-c", flood], stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True)
    os.close(slave)
    try:
        return timed_presses(lambda: os.read(master, 65536), lambda: os.write(master, MARK), presses, gap, warm)
    finally:
        p.kill()
        p.wait()
        os.close(master)


def ref_engine(engine, cid: str, flood: str, presses: int, gap: float, warm: float) -> dict:
    """The flood in an exec session of the container, its frames read in a tight loop."""
    sess = engine.exec(cid, ["sh", "-c", flood], tty=True, size=(ROWS, COLS))
    try:
        def read():
            events = sess.read(262144)
            if sess.ended:
                return None
            return b"".join(v for k, v in events if k in ("stdout", "stderr"))
        return timed_presses(read, lambda: sess.send_stdin(MARK), presses, gap, warm)
    finally:
        sess.close()


# -- the console ---------------------------------------------------------------------------

class Probe:
    """Times what happens to the console after a press: the echo consumed by
    the emulator (fed or jumped over), and the next frame the app writes."""

    def __init__(self, app, view):
        self.app, self.view = app, view
        self.marks = 0              # Z consumed so far
        self.consumed_at: list[float] = []
        self.sent_at: list[float] = []
        self.writes: list[float] = []
        term = view.terminal
        real_feed, real_jump = term.feed, getattr(term, "jump", None)   # (None: a console from before jumps)

        def feed(data: bytes) -> None:
            real_feed(data)
            self._seen(data)

        def jump(data: bytes, start: int = 0) -> int:
            n = real_jump(data, start)
            self._seen(data[start:start + n])
            return n
        term.feed = feed
        if real_jump is not None:
            term.jump = jump
        real_send = view.send

        def send(data: bytes) -> None:
            if MARK in data:
                self.sent_at.append(time.perf_counter())
            real_send(data)
        view.send = send
        driver = app._driver
        real_write = driver.write

        def write(data: str) -> None:
            self.writes.append(time.perf_counter())
            real_write(data)
        driver.write = write

    def _seen(self, data: bytes) -> None:
        k = data.count(MARK)
        if k:
            t = time.perf_counter()
            self.marks += k
            self.consumed_at += [t] * k

    async def press(self, timeout: float = 30.0) -> tuple[float, float, float]:
        from textual import events
        want = self.marks + 1
        sends = len(self.sent_at)
        ev = events.Key("Z", "Z")
        ev.set_sender(self.app)
        t0 = time.perf_counter()
        self.app._driver.send_message(ev)
        deadline = t0 + timeout
        while self.marks < want:
            if time.perf_counter() > deadline:
                raise RuntimeError("the echo never reached the emulator")
            await asyncio.sleep(0.0005)
        fed = self.consumed_at[want - 1]
        while not self.writes or self.writes[-1] < fed:
            if time.perf_counter() > deadline:
                raise RuntimeError("no frame after the echo")
            await asyncio.sleep(0.0005)
        painted = next(w for w in self.writes if w >= fed)
        return self.sent_at[sends] - t0, fed - t0, painted - t0


async def console_runs(engine, cid: str, presses: int, gap: float, warm: float, floods: dict[str, str]) -> dict:
    from textual.app import App, ComposeResult

    from tui.widgets.console import ConsoleView

    class One(App, inherit_bindings=False):
        ENABLE_COMMAND_PALETTE = False

        def compose(self) -> ComposeResult:
            self.view = ConsoleView(engine, cid, "exec", command=["sh"])
            yield self.view

        def on_mount(self) -> None:
            self.view.focus()

    app = One()
    res: dict = {"flood": {}}
    async with app.run_test(headless=False, size=(COLS, ROWS)) as pilot:
        v = app.view
        deadline = time.monotonic() + 30
        while not (v.connected and any("#" in line for line in v.text())):
            if time.monotonic() > deadline:
                raise RuntimeError("the console did not connect")
            await pilot.pause(0.05)
        probe = Probe(app, v)

        async def series() -> dict:
            sent, fed, painted = [], [], []
            for _ in range(presses):
                s, f, p = await probe.press()
                sent.append(s)
                fed.append(f)
                painted.append(p)
                await asyncio.sleep(gap)
            return {"sent": summary(sent), "fed": summary(fed), "repaint": summary(painted)}

        res["baseline"] = await series()
        await pilot.press("ctrl+u")
        for name, flood in floods.items():
            v.max_queued = v.pauses = 0
            v.send(flood.encode() + b"\r")
            await asyncio.sleep(warm)
            r0, j0, t0 = v.received, getattr(v, "jumped", 0), time.monotonic()
            res["flood"][name] = await series()
            secs = time.monotonic() - t0
            res["flood"][name] |= {"received_mb_s": round((v.received - r0) / secs / 1e6, 2),
                                   "jumped_share": round((getattr(v, "jumped", 0) - j0) / max(1, v.received - r0), 3),
                                   "max_queued_kb": round(v.max_queued / 1024), "pauses": v.pauses}
            v.send(b"\x03")
            await asyncio.sleep(1.0)
            v.send(b"clear\r")
            await asyncio.sleep(0.5)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presses", type=int, default=30)
    ap.add_argument("--gap", type=float, default=0.2, help="seconds between two presses")
    ap.add_argument("--warm", type=float, default=2.0, help="seconds of flood before the first press")
    ap.add_argument("--floods", default="yes,cat,sgr", help="which floods (yes, cat, sgr)")
    ap.add_argument("--work", default="/var/tmp/dockyard-bench-console")
    ap.add_argument("--json")
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("busybox"):
        print("bench_console: run as root with busybox installed", file=sys.stderr)
        return 2
    from engine import Engine
    from engine.containers.options import RunOptions

    shutil.rmtree(args.work, ignore_errors=True)
    engine = Engine(os.path.join(args.work, "root"))
    out = sys.stdout
    res: dict = {"date": dt.datetime.now().isoformat(timespec="seconds"), "python": platform.python_version(),
                 "cpus": os.cpu_count(), "size": f"{COLS}x{ROWS}", "presses": args.presses, "gap_s": args.gap}
    try:
        engine.make_starter_image()
        cid = engine.create_container(RunOptions(image="localhost/busybox", name="bench-console", command=SLEEPER))
        engine.start_container(cid)
        print(f"console at {COLS}x{ROWS}, {args.presses} presses {args.gap}s apart, marker {MARK.decode()}", file=out)
        names = [n for n in args.floods.split(",") if n]
        res["references"] = {}
        tmp = tempfile.mkdtemp(prefix="dyb-console-")
        host_file = os.path.join(tmp, "flood")
        with open(host_file, "w") as fh:
            fh.write("".join(f"{i}\n" for i in range(1, FLOOD_FILE_LINES + 1)))
        mk = engine.exec(cid, ["sh", "-c", f"seq 1 {FLOOD_FILE_LINES} > /tmp/flood"])
        if mk.wait() != 0:
            raise RuntimeError("could not write the flood file in the container")
        mk.close()
        try:
            for name in names:
                ref = {"pty": ref_bare_pty(FLOODS[name].format(f=host_file), args.presses, args.gap, args.warm),
                       "engine": ref_engine(engine, cid, FLOODS[name].format(f="/tmp/flood"), args.presses,
                                            args.gap, args.warm)}
                res["references"][name] = ref
                print(f"{name} flood, reference, bare PTY + tight loop:    {fmt(ref['pty'])}, "
                      f"{ref['pty']['flood_mb_s']} MB/s", file=out)
                print(f"{name} flood, reference, engine exec + tight loop: {fmt(ref['engine'])}, "
                      f"{ref['engine']['flood_mb_s']} MB/s", file=out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        # Textual's driver gets a terminal of its own: a PTY drained by a thread
        master, slave = pty.openpty()
        set_size(slave, ROWS, COLS)
        saved = os.dup(0), os.dup(1), os.dup(2)
        out = os.fdopen(os.dup(1), "w", buffering=1)
        drain = threading.Thread(target=_drain, args=(master,), daemon=True)
        drain.start()
        for fd in (0, 1, 2):   # Textual's driver reads 0 and writes 2
            os.dup2(slave, fd)
        try:
            res.update(asyncio.run(console_runs(engine, cid, args.presses, args.gap, args.warm,
                                                {n: FLOODS[n].format(f="/tmp/flood") for n in names})))
        finally:
            sys.__stderr__.flush()   # Textual's last words go to its terminal, not ours
            time.sleep(0.2)
            for fd in (0, 1, 2):
                os.dup2(saved[fd], fd)
        rows = [("baseline", res["baseline"])] + [(f"{n} flood", res["flood"][n]) for n in names]
        for label, r in rows:
            print(f"console, {label:<9} press → key sent:   {fmt(r['sent'])}", file=out)
            print(f"console, {label:<9} press → echo fed:   {fmt(r['fed'])}", file=out)
            print(f"console, {label:<9} press → next frame: {fmt(r['repaint'])}", file=out)
        for n in names:
            f = res["flood"][n]
            print(f"{n} flood: {f['received_mb_s']} MB/s received, {f['jumped_share'] * 100:.0f}% jumped over, "
                  f"queue peak {f['max_queued_kb']} KiB, {f['pauses']} backpressure pauses", file=out)
    finally:
        for c in engine.containers(all=True):
            try:
                engine.remove_container(c.id, force=True)
            except Exception:
                pass
        engine.close()
        stop_zygotes_under(args.work)
        shutil.rmtree(args.work, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=2)
            fh.write("\n")
        print(f"saved {args.json}", file=out)
    return 0


def fmt(s: dict) -> str:
    return f"median {s['median_ms']:6.1f} ms, p95 {s['p95_ms']:6.1f} ms (min {s['min_ms']:.1f}, max {s['max_ms']:.1f})"


def _drain(fd: int) -> None:
    while True:
        try:
            if not os.read(fd, 65536):
                return
        except OSError:
            return


if __name__ == "__main__":
    sys.exit(main())
