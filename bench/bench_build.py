"""Build benchmark (issue 5): the same small Dockerfile and context built by
`dockyard build` (CLI, from the venv, bytecode caches allowed as on a user's
machine) and by `podman build` (runc, vfs): a cold build (--no-cache), a fully
cached rebuild, and a rebuild after changing the one file copied by the last
COPY. Both start FROM the starter busybox image, made by dockyard and loaded
into podman through `Engine.save` -> `podman load`.

Each contestant has its own, identical copy of the context, so that one
contestant's edit never invalidates the other's cache. Before each run an
untimed prepare step sets the last COPY's file: back to its original contents
for the cached rebuild (a hit), to new contents never built before for the
changed rebuild (a miss from the last COPY on).

Run by hand as root: .venv/bin/python bench/bench_build.py [--runs N]"""
import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import (
    REPO,
    Bench,
    cleanup_runroots,
    dockyard,
    measure,
    peer_env,
    podman,
    sh,
    stop_zygotes_under,
    unmount_under,
)

ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]

# The Dockerfile: ENV; WORKDIR; COPY a 5 MB file; a RUN that writes 200 files; CMD.
DOCKERFILE = """\
FROM {base}
ENV APP_HOME=/app GREETING=hello
WORKDIR /app
COPY last.txt /app/data.bin
RUN i=0; while [ $i -lt 200 ]; do echo "$GREETING $i" > /app/f$i; i=$((i+1)); done
CMD ["cat", "/app/f0"]
"""
FIVE_MB = 5 * 1024 * 1024
LAST_ORIGINAL = "the last COPY's file, version 0\n"


def make_context(path: str, base: str) -> None:
    os.makedirs(os.path.join(path, "src", "lib"))
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE.format(base=base))
    files = {
        "src/main.sh": "#!/bin/sh\necho main\n",
        "src/config.ini": "[app]\nname = bench\nlevel = 3\n",
        "src/README": "A small context for the build benchmark.\n" * 20,
        "src/lib/util.sh": "util() { echo util; }\n",
        "src/lib/data.bin": None,
    }
    for rel, text in files.items():
        p = os.path.join(path, rel)
        if text is None:
            with open(p, "wb") as f:
                f.write(bytes(range(256)) * 256)  # 64 KiB
        else:
            with open(p, "w") as f:
                f.write(text)
    os.chmod(os.path.join(path, "src/main.sh"), 0o755)
    with open(os.path.join(path, "last.txt"), "wb") as f:
        f.write(LAST_ORIGINAL.encode() + bytes(FIVE_MB - len(LAST_ORIGINAL)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", default="/var/tmp/dy-bench-build")
    ap.add_argument("--isolation", default=None, help="podman build --isolation (e.g. chroot); default: podman's")
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
        with open(os.path.join(work, "img.tar"), "wb") as f:
            eng.save(["busybox"], f)
        eng.close()
        sh(podman(pstate, "load", "-i", os.path.join(work, "img.tar")), env=env)

        ctx_dy, ctx_pm = os.path.join(work, "ctx-dy"), os.path.join(work, "ctx-pm")
        make_context(ctx_dy, "busybox")
        make_context(ctx_pm, "localhost/busybox:latest")

        counter = iter(range(1, 10 ** 6))

        def set_last(ctx: str, text: str) -> None:
            # The copied file: 5 MB whose first line says which version it is.
            head = text.encode()
            with open(os.path.join(ctx, "last.txt"), "wb") as f:
                f.write(head + bytes(range(256)) * ((FIVE_MB - len(head)) // 256) + b"\n" * ((FIVE_MB - len(head)) % 256))

        def restore(ctx):
            return lambda: set_last(ctx, LAST_ORIGINAL)

        def change(ctx):
            return lambda: set_last(ctx, f"the last COPY's file, version {next(counter)}\n")

        # A user's machine writes bytecode caches; this one's environment turns
        # that off, which would make every CLI start compile its sources.
        dy_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

        def dy_build(*flags):
            return dockyard(root, "build", *flags, "-t", "x", ctx_dy)

        iso = ["--isolation", args.isolation] if args.isolation else []

        def pm_build(*flags):
            return podman(pstate, "build", *flags, "--network", "none", *iso, *ULIMITS, "-t", "x", ctx_pm)

        # Prime both caches with the original context (the cached runs hit these).
        sh(dy_build(), cwd=REPO, env=dy_env)
        sh(pm_build(), env=env)

        benches = [
            Bench("dockyard cold (--no-cache)", dy_build("--no-cache"), prepare=restore(ctx_dy),
                  cwd=REPO, env=dy_env),
            Bench("podman cold (--no-cache)", pm_build("--no-cache"), prepare=restore(ctx_pm), env=env),
            Bench("dockyard cached", dy_build(), prepare=restore(ctx_dy), cwd=REPO, env=dy_env),
            Bench("podman cached", pm_build(), prepare=restore(ctx_pm), env=env),
            Bench("dockyard last COPY changed", dy_build(), prepare=change(ctx_dy), cwd=REPO, env=dy_env),
            Bench("podman last COPY changed", pm_build(), prepare=change(ctx_pm), env=env),
        ]
        results = measure(benches, runs=args.runs)

        print(f"\npodman build isolation: {args.isolation or 'default (oci)'}")
        print("\n| build | dockyard | podman (runc, vfs) | dockyard / podman |\n|---|---|---|---|")
        for label, dy, pm in [("cold (--no-cache)", "dockyard cold (--no-cache)", "podman cold (--no-cache)"),
                              ("fully cached", "dockyard cached", "podman cached"),
                              ("last COPY's file changed", "dockyard last COPY changed",
                               "podman last COPY changed")]:
            d, p = results[dy], results[pm]
            if not d.samples or not p.samples:
                print(f"| {label} | {'FAILED' if not d.samples else f'{d.median * 1000:.0f} ms'} | "
                      f"{'FAILED' if not p.samples else f'{p.median * 1000:.0f} ms'} | - |")
                continue
            print(f"| {label} | {d.median * 1000:.0f} ms | {p.median * 1000:.0f} ms | "
                  f"{d.median / p.median:.2f} |")
        print("\nCPU (user+sys) medians: " + ", ".join(
            f"{r.name} {r.cpu_median * 1000:.0f} ms" for r in results.values() if r.samples))
        return 0 if all(r.samples for r in results.values()) else 1
    finally:
        unmount_under(work)
        subprocess.run(podman(pstate, "system", "reset", "-f"), env=env, capture_output=True)
        cleanup_runroots()
        stop_zygotes_under(work)
        unmount_under(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
