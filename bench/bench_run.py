"""Container start benchmark (issue 3): `run --rm --network none IMAGE true`
through dockyard's CLI and through the Engine API in-process, against
`podman run --rm --network none` (runc) and `runc run` of the same rootfs as a
bundle; and the RSS of one idle monitor against podman's conmon.

Run by hand as root: .venv/bin/python bench/bench_run.py [--runs N]"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import REPO, Bench, dockyard, measure, peer_env, sh
from bench.common import podman as _podman

ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def podman(state: str, *args: str) -> list[str]:
    """podman on overlay, as dockyard runs containers (vfs would copy the
    rootfs for every container)."""
    return _podman(state, *args, driver="overlay")


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def engine_api_runs(root: str, runs: int, zygote: bool = True) -> list[float]:
    """create + start + wait + remove of `true` through the Engine API, in
    this process; with or without the store's monitor zygote."""
    from engine import Engine
    from engine.containers.options import RunOptions
    old = os.environ.get("DOCKYARD_ZYGOTE")
    os.environ["DOCKYARD_ZYGOTE"] = "1" if zygote else "0"
    eng = Engine(root)
    times = []
    try:
        for _ in range(runs + 1):
            t0 = time.perf_counter()
            cid = eng.create_container(RunOptions(image="busybox", command=["true"], network="none"))
            eng.start_container(cid)
            eng.wait_container(cid)
            eng.remove_container(cid)
            times.append(time.perf_counter() - t0)
    finally:
        eng.close()
        if old is None:
            os.environ.pop("DOCKYARD_ZYGOTE", None)
        else:
            os.environ["DOCKYARD_ZYGOTE"] = old
    return times[1:]  # the first is the warm-up


def monitor_rss(root: str) -> tuple[int, int, int]:
    """RSS (KiB) of one idle container's monitor right after its start (forked
    by the zygote, with the set-up modules), once it re-executed itself lean,
    and of the zygote."""
    from engine.runtime import zygote
    cid = sh(dockyard(root, "run", "-d", "busybox", "sleep", "300"), cwd=REPO).strip()
    try:
        with open(os.path.join(root, "containers", cid, "state.json")) as f:
            pid = json.load(f)["monitor_pid"]
        first = rss_kb(pid)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"--resume" in f.read():
                    break
            time.sleep(0.05)
        time.sleep(0.2)
        lean = rss_kb(pid)
        zyg = [p for p, r in zygote.zygote_roots().items() if os.path.realpath(r) == os.path.realpath(root)]
        return first, lean, rss_kb(zyg[0]) if zyg else 0
    finally:
        sh(dockyard(root, "rm", "-f", cid), cwd=REPO)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--work", default="/var/tmp/dy-bench-run")
    args = ap.parse_args()
    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env = peer_env(work)
    os.makedirs(env["TMPDIR"], exist_ok=True)
    root = os.path.join(work, "dy")
    pstate = os.path.join(work, "pm")
    try:
        sh(dockyard(root, "images"), cwd=REPO)
        from engine import Engine
        eng = Engine(root)
        eng.make_starter_image()
        lower = eng.inspect_image("busybox")["GraphDriver"]["Data"]["LowerDir"]
        with open(os.path.join(work, "img.tar"), "wb") as f:
            eng.save(["busybox"], f)
        eng.close()
        sh(podman(pstate, "load", "-i", os.path.join(work, "img.tar")), env=env)
        bundle = os.path.join(work, "bundle")
        os.makedirs(bundle)
        shutil.copytree(lower, os.path.join(bundle, "rootfs"), symlinks=True)
        sh(["runc", "spec"], cwd=bundle)
        with open(os.path.join(bundle, "config.json")) as f:
            spec = json.load(f)
        spec["process"]["terminal"] = False
        spec["process"]["args"] = ["true"]
        spec["root"]["readonly"] = False
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(spec, f)
        counter = iter(range(10 ** 6))
        # A user's machine writes bytecode caches; this one's environment turns
        # that off, which would make every CLI start compile its sources.
        dy_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "DOCKYARD_ZYGOTE")}
        no_zygote = dict(dy_env, DOCKYARD_ZYGOTE="0")

        def stop_zygote():
            from engine.runtime import zygote
            zygote.stop(root)

        run_true = dockyard(root, "run", "--rm", "--network", "none", "busybox", "true")
        benches = [
            Bench("dockyard CLI run --rm true", run_true, cwd=REPO, env=dy_env),
            Bench("dockyard CLI, zygote not running yet", run_true, cwd=REPO, env=dy_env, prepare=stop_zygote),
            Bench("dockyard CLI, DOCKYARD_ZYGOTE=0", run_true, cwd=REPO, env=no_zygote),
            Bench("podman run --rm true (runc)", podman(pstate, "run", "--rm", *ULIMITS, "--network", "none",
                                                        "localhost/busybox:latest", "true"), env=env),
            Bench("runc run (bundle)", lambda: ["runc", "run", "--bundle", bundle, f"dy-bench-{next(counter)}"]),
        ]
        results = measure(benches, runs=args.runs)
        # The API runs interleaved with runc's, so that drift falls on both.
        api, api_direct, runc_again = [], [], []
        for _ in range(args.runs):
            api += engine_api_runs(root, 1)
            api_direct += engine_api_runs(root, 1, zygote=False)
            t0 = time.perf_counter()
            sh(["runc", "run", "--bundle", bundle, f"dy-bench-{next(counter)}"])
            runc_again.append(time.perf_counter() - t0)

        # Memory of one idle container's keeper: our monitor against podman's conmon.
        first_rss, mon_rss, zygote_rss = monitor_rss(root)
        pid_ = sh(podman(pstate, "run", "-d", *ULIMITS, "--network", "none", "localhost/busybox:latest",
                         "sleep", "300"), env=env).strip()
        conmon = subprocess.run(["pgrep", "-f", f"conmon.*{pid_}"], capture_output=True, text=True).stdout.split()
        conmon_rss = rss_kb(int(conmon[0])) if conmon else 0
        sh(podman(pstate, "rm", "-f", "-t", "0", pid_), env=env)

        print("API samples (ms):", [round(x * 1000) for x in api], "runc:", [round(x * 1000) for x in runc_again])
        rows = [(name, r.median) for name, r in results.items() if r.samples]
        rows.append(("dockyard Engine API (in-process)", statistics.median(api)))
        rows.append(("dockyard Engine API, DOCKYARD_ZYGOTE=0", statistics.median(api_direct)))
        rows.append(("runc run (bundle), beside the API runs", statistics.median(runc_again)))
        podman_t = results["podman run --rm true (runc)"].median
        runc_t = statistics.median(runc_again)
        print(f"\n{'what':<44} {'median':>9} {'/podman':>8} {'/runc':>7}")
        for name, t in rows:
            print(f"{name:<44} {t * 1000:7.0f}ms {t / podman_t:8.2f} {t / runc_t:7.2f}")
        print(f"\nidle monitor RSS: dockyard {mon_rss / 1024:.1f} MB (lean; {first_rss / 1024:.1f} MB in its first "
              f"2 s, forked from the zygote), conmon {conmon_rss / 1024:.1f} MB; the zygote {zygote_rss / 1024:.1f} MB "
              "(one per store root, gone when idle)")
        return 0
    finally:
        from engine.runtime import zygote
        zygote.stop(root)
        for line in sh(["mount"], check=False).splitlines():
            if work in line:
                subprocess.run(["umount", "-l", line.split()[2]], capture_output=True)
        subprocess.run(podman(pstate, "system", "reset", "-f"), env=env, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
