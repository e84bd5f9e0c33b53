"""Terminal emulator throughput (issue 7): dockyard's tui.vt against pyte
(pyte.ByteStream + pyte.Screen), same data, same run, 80x24 screens.

Workloads:
  plain   log-like lines of ASCII text (default 20 MB)
  sgr     coloured `ls -l --color`-like output: an SGR change every few words
  repaint full-screen frames as `top`/`htop` draw them: cursor addressing,
          erase to end of line, colours, every row of the screen each frame

Data is fed in 64 KiB chunks (a PTY read size). Each contestant gets one
unmeasured warm-up pass over a small prefix; the figure is the best of
--repeat runs. pyte is given a smaller slice of the data (--pyte-mb), since at
well under 1 MB/s 20 MB would take a minute per repeat; MB/s is per byte fed.

Needs the bench extra (pyte): .venv/bin/pip install -e ".[bench]"
Run: .venv/bin/python bench/bench_vt.py [--mb 20] [--pyte-mb 2] [--repeat 3] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tui.vt import Terminal

CHUNK = 65536
COLS, ROWS = 80, 24


def plain_data(size: int) -> bytes:
    rnd = random.Random(1)
    words = ["GET", "/api/v1/containers", "200", "OK", "INFO", "worker", "started", "pid=4242",
             "took", "12.5ms", "user=root", "level=debug", "msg=\"layer extracted\"", "sha256:ab12cd"]
    out, n, i = [], 0, 0
    while n < size:
        line = f"2026-11-27T13:{i // 60 % 60:02d}:{i % 60:02d}Z " + " ".join(
            rnd.choice(words) for _ in range(rnd.randint(3, 12))) + "\n"
        out.append(line)
        n += len(line)
        i += 1
    return "".join(out).encode()[:size]


def sgr_data(size: int) -> bytes:
    rnd = random.Random(2)
    colors = ["\x1b[01;34m", "\x1b[01;32m", "\x1b[01;36m", "\x1b[40;33;01m", "\x1b[38;5;208m",
              "\x1b[38;2;255;128;0m", "\x1b[1;4;35m"]
    out, n, i = [], 0, 0
    while n < size:
        c = rnd.choice(colors)
        line = (f"-rw-r--r-- 1 root root {rnd.randint(0, 10**6):>8} Nov 27 13:{i % 60:02d} "
                f"{c}file{i}.{rnd.choice(['py', 'txt', 'tar.gz', 'so'])}\x1b[0m  "
                f"\x1b[2m# {rnd.randint(0, 999)}\x1b[22m \x1b[7mX\x1b[27m\r\n")
        out.append(line)
        n += len(line)
        i += 1
    return "".join(out).encode()[:size]


def repaint_data(size: int) -> bytes:
    rnd = random.Random(3)
    out, n, frame = [], 0, 0
    while n < size:
        parts = ["\x1b[H"]
        parts.append(f"\x1b[1mtop - 13:{frame % 60:02d}:00 up 3 days, load average: "
                     f"{rnd.random():.2f}\x1b[m\x1b[K\r\n")
        parts.append("\x1b[7m  PID USER      PR  NI    VIRT    RES  %CPU %MEM     TIME+ COMMAND"
                     "      \x1b[m\x1b[K\r\n")
        for row in range(3, ROWS + 1):
            cpu = rnd.random() * 100
            color = "\x1b[1;31m" if cpu > 80 else ("\x1b[32m" if cpu > 20 else "")
            parts.append(f"\x1b[{row};1H{color}{rnd.randint(1, 99999):>5} root      20   0 "
                         f"{rnd.randint(10**4, 10**6):>7} {rnd.randint(10**3, 10**5):>6} "
                         f"{cpu:5.1f} {rnd.random() * 10:4.1f}   0:{rnd.randint(0, 59):02d}.00 "
                         f"proc{rnd.randint(0, 99)}\x1b[m\x1b[K")
        parts.append("\x1b[J")
        frame_s = "".join(parts)
        out.append(frame_s)
        n += len(frame_s)
        frame += 1
    return "".join(out).encode()[:size]


def run_ours(data: bytes) -> float:
    term = Terminal(COLS, ROWS, scrollback=1000)
    feed = term.feed
    t = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        feed(data[i:i + CHUNK])
    return time.perf_counter() - t


def run_pyte(data: bytes) -> float:
    import pyte
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    t = time.perf_counter()
    for i in range(0, len(data), CHUNK):
        stream.feed(data[i:i + CHUNK])
    return time.perf_counter() - t


def best_mbps(fn, data: bytes, repeat: int) -> float:
    fn(data[:CHUNK * 4])   # warm-up
    best = min(fn(data) for _ in range(repeat))
    return len(data) / best / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--pyte-mb", type=float, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    try:
        from importlib.metadata import version

        import pyte
        pyte_version = version("pyte")
    except ImportError:
        pyte = None
        pyte_version = None
    results = {}
    print(f"python {platform.python_version()}, pyte {pyte_version}, {COLS}x{ROWS}, chunks of {CHUNK} B")
    print(f"{'workload':<9} {'ours MB/s':>10} {'pyte MB/s':>10} {'ratio':>7}")
    for name, gen in (("plain", plain_data), ("sgr", sgr_data), ("repaint", repaint_data)):
        data = gen(int(args.mb * 1e6))
        ours = best_mbps(run_ours, data, args.repeat)
        theirs = best_mbps(run_pyte, data[:int(args.pyte_mb * 1e6)], args.repeat) if pyte else None
        ratio = ours / theirs if theirs else None
        results[name] = {"ours_mbps": round(ours, 2), "pyte_mbps": theirs and round(theirs, 3),
                         "ratio": ratio and round(ratio, 1), "bytes": len(data)}
        print(f"{name:<9} {ours:>10.2f} {theirs or float('nan'):>10.3f} {ratio or float('nan'):>6.1f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"python": platform.python_version(), "pyte": pyte_version,
                       "mb": args.mb, "pyte_mb": args.pyte_mb, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
