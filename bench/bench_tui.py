"""TUI benchmark (issue 6), in a real terminal (tmux, 160x48, TERM=xterm-256color):

1. launch to first full frame: from spawning `python -m tui.cli` to the screen
   showing the header counts and the image rows (the first refresh applied);
   on a root with one image, and on a root with 300 containers and 100 images;
2. key press to repaint with 300 containers (20 of them running) and 100
   images: `tmux send-keys j` in the containers pane until the pane's content
   (with its colours, capture-pane -e) changes;
3. idle CPU of the TUI process with 50 running containers, from psutil's
   cpu_times over 30 s (the refresh is every second: one images() and one
   containers() call, stats for the running containers on screen).

Run by hand as root: .venv/bin/python bench/bench_tui.py [--idle-seconds 30] [--keys 40]
Results go to bench/results/DATE-tui.json; the figures are in docs/tui.md."""
import argparse
import datetime as dt
import io
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
PY = os.path.join(REPO, ".venv", "bin", "python")
if not os.path.exists(PY):
    PY = sys.executable
from bench.common import stop_zygotes_under

SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
W, H = 160, 48


def capture(session: str, escapes: bool = False) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p"] + (["-e"] if escapes else []) + ["-t", session],
                          capture_output=True, text=True).stdout


class TUI:
    """The TUI in a detached tmux session; `pid` is the Python process itself."""

    def __init__(self, root: str):
        self.session = f"dockyard-bench-{uuid.uuid4().hex[:8]}"
        cmd = (f"cd {shlex.quote(REPO)} && TERM=xterm-256color DOCKYARD_CONFIG=/nonexistent "
               f"exec {shlex.quote(PY)} -m tui.cli --root {shlex.quote(root)}")
        self.t0 = time.perf_counter()
        subprocess.run(["tmux", "new-session", "-d", "-s", self.session, "-x", str(W), "-y", str(H), cmd], check=True)
        self.pid = int(subprocess.run(["tmux", "display", "-p", "-t", self.session, "#{pane_pid}"],
                                      capture_output=True, text=True).stdout.strip())

    def wait(self, pred, timeout: float = 60.0, poll: float = 0.005) -> float:
        """Seconds from the launch until pred(screen) holds."""
        deadline = time.perf_counter() + timeout
        screen = ""
        while time.perf_counter() < deadline:
            screen = capture(self.session)
            if pred(screen):
                return time.perf_counter() - self.t0
            time.sleep(poll)
        raise RuntimeError(f"timed out; the screen was:\n{screen}")

    def keys(self, *k: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.session] + list(k), check=True)

    def close(self) -> None:
        try:
            self.keys("q")
            time.sleep(0.5)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", self.session], capture_output=True)


def full_frame(n_containers: int, n_images: int):
    want_c = f"/{n_containers} containers running"
    want_i = f"{n_images} image"

    def pred(screen: str) -> bool:
        return want_c in screen and want_i in screen and "IMAGE ID" in screen and "localhost/busybox" in screen
    return pred


def tiny_tar(i: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        data = f"image {i}\n".encode()
        ti = tarfile.TarInfo(f"file{i}")
        ti.size, ti.mtime = len(data), 1_700_000_000
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def launch_times(root: str, n_c: int, n_i: int, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        tui = TUI(root)
        try:
            out.append(tui.wait(full_frame(n_c, n_i)))
        finally:
            tui.close()
    return out


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--idle-seconds", type=float, default=30)
    ap.add_argument("--keys", type=int, default=40)
    ap.add_argument("--launches", type=int, default=5)
    ap.add_argument("--work", default="/var/tmp/dockyard-bench-tui")
    args = ap.parse_args()
    if os.geteuid() != 0 or not shutil.which("tmux"):
        print("bench_tui: run as root with tmux installed", file=sys.stderr)
        return 2
    import psutil

    from engine import Engine
    from engine.containers.options import RunOptions

    shutil.rmtree(args.work, ignore_errors=True)
    root = os.path.join(args.work, "root")
    eng = Engine(root)
    eng.make_starter_image()
    res: dict = {"date": dt.datetime.now().isoformat(timespec="seconds"), "terminal": f"tmux {W}x{H}",
                 "cpus": os.cpu_count()}
    try:
        # 1a. launch, one image
        t = launch_times(root, 0, 1, args.launches)
        res["launch_1_image_s"] = {"median": statistics.median(t), "min": min(t), "max": max(t)}
        print(f"launch to first full frame, 1 image: median {statistics.median(t) * 1000:.0f} ms "
              f"(min {min(t) * 1000:.0f}, max {max(t) * 1000:.0f})")

        # populate: 100 images, 300 containers (20 running)
        t0 = time.perf_counter()
        for i in range(99):
            eng.import_image(io.BytesIO(tiny_tar(i)), f"bench/img{i:03d}:latest")
        cids = []
        for i in range(300):
            cids.append(eng.create_container(RunOptions(image="localhost/busybox", name=f"c{i:03d}",
                                                        command=SLEEPER)))
        for cid in cids[:20]:
            eng.start_container(cid)
        res["populate_s"] = time.perf_counter() - t0
        print(f"made 99 more images and 300 containers (20 running) in {res['populate_s']:.1f} s")

        # what one refresh costs the engine at this size (in a thread of the TUI)
        ticks = []
        for _ in range(10):
            t1 = time.perf_counter()
            eng.images()
            eng.containers(all=True)
            ticks.append(time.perf_counter() - t1)
        res["engine_tick_300c_100i_ms"] = statistics.median(ticks) * 1000
        print(f"one refresh's engine calls (images + containers): median {res['engine_tick_300c_100i_ms']:.1f} ms")

        # 1b. launch with the big lists
        t = launch_times(root, 300, 100, args.launches)
        res["launch_300c_100i_s"] = {"median": statistics.median(t), "min": min(t), "max": max(t)}
        print(f"launch to first full frame, 300 containers + 100 images: median {statistics.median(t) * 1000:.0f} ms "
              f"(min {min(t) * 1000:.0f}, max {max(t) * 1000:.0f})")

        # 2. key press to repaint
        tui = TUI(root)
        try:
            tui.wait(full_frame(300, 100))
            time.sleep(2)
            lat = []
            for i in range(args.keys):
                before = capture(tui.session, escapes=True)
                t1 = time.perf_counter()
                tui.keys("j" if (i // 10) % 2 == 0 else "k")
                while True:
                    now = capture(tui.session, escapes=True)
                    if now != before:
                        break
                    if time.perf_counter() - t1 > 5:
                        raise RuntimeError("no repaint within 5 s")
                    time.sleep(0.001)
                lat.append(time.perf_counter() - t1)
                time.sleep(0.15)
            res["key_to_repaint_ms"] = {"median": statistics.median(lat) * 1000, "p95": pct(lat, 95) * 1000,
                                        "max": max(lat) * 1000, "n": len(lat)}
            print(f"key press to repaint (300 containers, 100 images): median {statistics.median(lat) * 1000:.1f} ms, "
                  f"p95 {pct(lat, 95) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms (tmux capture-pane polled)")
        finally:
            tui.close()

        # 3. idle CPU with 50 running containers
        for cid in cids[20:50]:
            eng.start_container(cid)
        tui = TUI(root)
        try:
            tui.wait(full_frame(300, 100))
            time.sleep(3)
            p = psutil.Process(tui.pid)
            c0 = p.cpu_times()
            w0 = time.perf_counter()
            time.sleep(args.idle_seconds)
            c1 = p.cpu_times()
            wall = time.perf_counter() - w0
            cpu = (c1.user - c0.user) + (c1.system - c0.system)
            res["idle_cpu_50_running"] = {"percent_of_one_cpu": cpu / wall * 100, "cpu_s": cpu, "wall_s": wall,
                                          "rss_mb": p.memory_info().rss / 1e6}
            print(f"idle CPU with 50 running containers (300 listed): {cpu / wall * 100:.1f}% of one CPU "
                  f"({cpu:.2f} s in {wall:.0f} s), RSS {p.memory_info().rss / 1e6:.0f} MB")
        finally:
            tui.close()
    finally:
        for c in eng.containers(all=True):
            try:
                eng.remove_container(c.id, force=True)
            except Exception:
                pass
        eng.close()
        stop_zygotes_under(args.work)
        shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    out = os.path.join(REPO, "bench", "results", f"{dt.date.today().isoformat()}-tui.json")
    with open(out, "w") as f:
        json.dump(res, f, indent=2)
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
