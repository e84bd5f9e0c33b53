"""Registry push (issue 12): `dockyard push` against `podman push` and
`skopeo copy` to a registry on 127.0.0.1, in the same run.

The registry and the two images are bench_pull.py's (Debian's docker-registry
with a config of its own; "big": one ~120 MB layer, "five": busybox plus four
COPY layers), made with dockyard. The same content is given to each
contestant, untimed, before the runs:

  dockyard push   the images in dockyard's store (zstd layers, OCI manifest,
                  as `import`/`build` store them): pushed as they are;
  podman push     `podman load` of `dockyard save`'s docker-archive into an
                  overlay store: podman compresses the layers with gzip as it
                  pushes (its default, and what it does for any local image);
  skopeo copy     `skopeo copy oci:DIR docker://...` from `dockyard save
                  --format oci` unpacked: the stored zstd blobs sent as they
                  are, no compression (a floor for the transfer itself).

Before every run (untimed) the registry is stopped, its storage removed and
it is started again on the same port: nothing is "already exists", and no
tool can mount a blob from an earlier run. 1 warm-up + N runs each,
interleaved. Goal (issue 12): push <= podman's time.

Run as root: `.venv/bin/python bench/bench_push.py [--runs N] [--only big|five|all]`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_pull
import common
from common import Bench

LABELS = {"big": "push ~120 MB, 1 layer", "five": "push 5 small layers"}


class PushRun(bench_pull.Run):
    def __init__(self, args):
        super().__init__(args)
        self.pm_state = os.path.join(self.work, "podman")
        self.oci_dirs: dict[str, str] = {}
        self.port = 0

    def pm(self, *a: str) -> list[str]:
        return common.podman(self.pm_state, *a, driver="overlay")

    def push(self, tar: str, name: str) -> dict:
        """bench_pull's setup pushes with skopeo to check the image: here the
        same content goes into podman's store and an OCI dir instead."""
        ref = f"{self.host}/{bench_pull.REPOS[name]}"
        local = f"localhost/{bench_pull.REPOS[name]}"
        common.sh(self.pm("load", "-q", "-i", tar), env=self.env)
        common.sh(self.pm("tag", local, ref), env=self.env)
        common.sh(self.dy(self.src_root, "tag", local, ref), cwd=common.REPO)
        arch = os.path.join(self.work, f"{name}.oci.tar")
        common.sh(self.dy(self.src_root, "save", "--format", "oci", "-o", arch, local), cwd=common.REPO)
        d = os.path.join(self.work, f"{name}-oci")
        os.makedirs(d)
        common.sh(["tar", "-C", d, "-xf", arch])
        os.unlink(arch)
        self.oci_dirs[name] = d
        self.log(f"  {name}: ready in dockyard, podman and {d}")
        return {"ref": ref}

    def restart_registry(self) -> None:
        """A registry with empty storage on the same address."""
        self.stop_registry()
        shutil.rmtree(os.path.join(self.reg_dir, "data"), ignore_errors=True)
        config = os.path.join(self.reg_dir, "config.yml")
        self.reg_log = open(os.path.join(self.reg_dir, "log"), "ab")
        self.registry = subprocess.Popen(["docker-registry", "serve", config], stdout=self.reg_log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        port = int(self.host.rsplit(":", 1)[1])
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
            except OSError:
                if self.registry.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"docker-registry did not come back on {self.host}") from None
                time.sleep(0.05)

    def run_push(self, name: str) -> None:
        ref = f"{self.host}/{bench_pull.REPOS[name]}"
        self.log(f"{LABELS[name]}: {ref}")

        def fresh() -> None:
            self.restart_registry()
            common.settle(self.args.settle)

        benches = [
            Bench(f"{name}: dockyard push", self.dy(self.src_root, "push", ref), prepare=fresh, cwd=common.REPO),
            Bench(f"{name}: podman push (gzip)", self.pm("push", "-q", "--tls-verify=false", ref), prepare=fresh,
                  env=self.env),
            Bench(f"{name}: skopeo copy (oci dir, as is)",
                  common.skopeo(self.env["TMPDIR"], "copy", "-q", "--dest-tls-verify=false",
                                f"oci:{self.oci_dirs[name]}", f"docker://{ref}"), prepare=fresh, env=self.env),
        ]
        res = common.measure(benches, runs=self.args.runs, log=self.log)
        # what dockyard's push leaves on the registry: skopeo's digest of it
        fresh()
        common.sh(self.dy(self.src_root, "push", ref), cwd=common.REPO)
        out = common.sh(common.skopeo(self.env["TMPDIR"], "inspect", "--tls-verify=false", f"docker://{ref}"),
                        env=self.env)
        res[f"{name}: dockyard push"].extra["digest"] = json.loads(out)["Digest"]
        self.results.update(res)

    def report(self) -> str:
        rows = []
        for name in bench_pull.REPOS:
            dy = self.results.get(f"{name}: dockyard push")
            if dy is None:
                continue
            rows.append((LABELS[name], dy, self.results.get(f"{name}: podman push (gzip)")))
            rows.append((LABELS[name] + " (skopeo: no compression)", dy,
                         self.results.get(f"{name}: skopeo copy (oci dir, as is)")))
        lines = [common.comparison_table(rows), ""]
        for k, r in self.results.items():
            if r.extra.get("digest"):
                lines.append(f"{k}: manifest {r.extra['digest'][:19]} on the registry (skopeo inspect)")
        lines += ["", common.all_results_table(list(self.results.values()))]
        return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--settle", type=float, default=common.DEFAULT_SETTLE)
    ap.add_argument("--work", default="/var/tmp/dyb-push")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (the registry is stopped anyway)")
    ap.add_argument("--only", choices=["big", "five", "all"], default="all")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_push: run as root", file=sys.stderr)
        return 2
    run = PushRun(args)
    try:
        run.setup()
        for name in bench_pull.REPOS:
            if args.only in (name, "all"):
                run.run_push(name)
        payload = {**run.info, "runs": args.runs, "podman_driver": "overlay",
                   "results": {k: v.as_dict() for k, v in run.results.items()}}
        path = common.write_json("push", payload)
        print("\n" + run.report())
        print(f"\nraw results: {os.path.relpath(path, common.REPO)}")
    finally:
        run.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
