"""Registry pull (issue 12): `dockyard pull` against `podman pull` and
`skopeo copy` from a registry on 127.0.0.1, in the same run.

The registry is Debian's docker-registry (distribution) with a config file of
its own (filesystem storage in the work dir, http.addr 127.0.0.1:<free port>),
started here and killed by its pid at the end. Two images, made with dockyard
from the starter busybox and pushed with `skopeo copy docker-archive:<dockyard
save tar> docker://...` (gzip layers, Docker schema 2, as podman pushes them):

  big    one layer of ~120 MB: busybox plus a 110 MB file (half random bytes,
         half text) and 10,000 small text files (`dockyard import`);
  five   five small layers: busybox plus four COPY layers of 100 small text
         files each (`dockyard build`).

The contestants, each into a new store / root / directory made (and
initialised: for dockyard two commands, so its zygote runs) untimed before the
run, after a sync and a pause:

  dockyard pull   `dockyard --root R pull 127.0.0.1:PORT/bench/big:1` (fetch,
                  verify, unpack into the store; plain HTTP for 127.0.0.1);
  podman pull     `podman --root ... --storage-driver overlay pull
                  --tls-verify=false ...` (fetch, verify, unpack);
  skopeo copy     `skopeo copy docker://... oci:DIR:x` (fetch and write the
                  blobs, no unpack: a floor for the transfer itself).

1 warm-up + N runs each, interleaved. Nothing is deleted until the end (see
common.EXT4_RECENTCY_S). Goal (issue 12): pull <= 0.5x podman's time.

Run as root: `.venv/bin/python bench/bench_pull.py [--runs N] [--only big|five|all]`.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import Bench, FreshDirs, Result

sys.path.insert(0, common.REPO)

SEED = 20261212
BIG = 110 * 1000 * 1000
SMALL = 10_000
FIVE_LAYERS = 4          # COPY layers on top of busybox
FIVE_FILES = 100         # files per COPY layer
REPOS = {"big": "bench/big:1", "five": "bench/five:1"}
LABELS = {"big": "pull ~120 MB, 1 layer", "five": "pull 5 small layers"}


# --------------------------------------------------------------------- inputs

def make_payload(path: str, rng: random.Random) -> int:
    """bench_commit's payload (common.write_payload), 110 MB: busybox's files fill the rest of ~120 MB."""
    return common.write_payload(path, rng, BIG, SMALL)


def big_rootfs_tar(out: str, busybox_tar: str, payload: str) -> None:
    """The starter busybox rootfs plus the payload under /data, as one tar."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        with tarfile.open(busybox_tar) as src:
            for m in src.getmembers():
                t.addfile(m, src.extractfile(m) if m.isreg() else None)
        t.add(payload, arcname="data")


def five_context(path: str, rng: random.Random) -> int:
    words = common.words(rng)
    total = 0
    lines = ["FROM localhost/busybox:latest"]
    for layer in range(1, FIVE_LAYERS + 1):
        d = os.path.join(path, f"l{layer}")
        os.makedirs(d)
        for i in range(FIVE_FILES):
            data = common.text(rng, words, rng.randint(100, 2000))
            total += len(data)
            with open(os.path.join(d, f"f{i:03d}.txt"), "wb") as f:
                f.write(data)
        lines.append(f"COPY l{layer} /l{layer}")
    lines.append('CMD ["sh"]')
    with open(os.path.join(path, "Dockerfile"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def du_bytes(path: str) -> int | None:
    out = common.sh(["du", "-sb", "--one-file-system", path], check=False).split()
    return int(out[0]) if out else None


def image_id(cmd: list[str], **kw) -> str | None:
    """The image id (sha256:...) from an `inspect` command's JSON."""
    try:
        iid = json.loads(common.sh(cmd, **kw))[0]["Id"]
    except (common.CommandFailed, ValueError, LookupError):
        return None
    return iid if iid.startswith("sha256:") else "sha256:" + iid


# --------------------------------------------------------------------- the runs

class Run:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.work)
        self.env = common.peer_env(self.work)
        self.src_root = os.path.join(self.work, "source")
        self.reg_dir = os.path.join(self.work, "registry")
        self.registry: subprocess.Popen | None = None
        self.reg_log = None
        self.host = ""
        self.info: dict = {}
        self.results: dict[str, Result] = {}

    def log(self, msg: str) -> None:
        print(msg, flush=True)

    def dy(self, root: str, *a: str) -> list[str]:
        return common.dockyard(root, *a)

    # -- the registry
    def start_registry(self) -> None:
        os.makedirs(self.reg_dir)
        port = free_port()
        self.host = f"127.0.0.1:{port}"
        config = os.path.join(self.reg_dir, "config.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                    f"    rootdirectory: {self.reg_dir}/data\nhttp:\n  addr: {self.host}\n")
        self.reg_log = open(os.path.join(self.reg_dir, "log"), "wb")
        self.registry = subprocess.Popen(["docker-registry", "serve", config], stdout=self.reg_log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            if self.registry.poll() is not None:
                with open(self.reg_log.name) as f:
                    raise RuntimeError(f"docker-registry exited: {f.read()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"docker-registry did not listen on {self.host}") from None
                time.sleep(0.1)
        self.info["registry"] = {"addr": self.host, "pid": self.registry.pid,
                                 "version": common.sh(["docker-registry", "--version"], check=False).strip()}
        self.log(f"docker-registry (pid {self.registry.pid}) on {self.host}")

    def stop_registry(self) -> None:
        if self.registry is None:
            return
        if self.registry.poll() is None:
            os.kill(self.registry.pid, signal.SIGTERM)
            try:
                self.registry.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.registry.pid, signal.SIGKILL)
                self.registry.wait()
        if self.reg_log:
            self.reg_log.close()
        self.registry = None

    # -- the images
    def push(self, tar: str, name: str) -> dict:
        dest = f"docker://{self.host}/{REPOS[name]}"
        t0 = time.perf_counter()
        common.sh(common.skopeo(self.env["TMPDIR"], "copy", "-q", "--dest-tls-verify=false",
                                f"docker-archive:{tar}", dest), env=self.env)
        pushed = time.perf_counter() - t0
        raw = json.loads(common.sh(common.skopeo(self.env["TMPDIR"], "inspect", "--raw", "--tls-verify=false",
                                                 dest), env=self.env))
        doc = json.loads(common.sh(common.skopeo(self.env["TMPDIR"], "inspect", "--tls-verify=false", dest),
                                   env=self.env))
        sizes = [l["size"] for l in raw["layers"]]
        self.log(f"  pushed {REPOS[name]}: {len(sizes)} layer(s), {sum(sizes) / 1e6:.1f} MB gzip "
                 f"({raw['mediaType']}), {pushed:.1f} s")
        return {"ref": f"{self.host}/{REPOS[name]}", "digest": doc["Digest"], "manifest_media_type": raw["mediaType"],
                "layer_media_types": sorted({l["mediaType"] for l in raw["layers"]}),
                "layer_blob_bytes": sizes, "blob_bytes_total": sum(sizes)}

    def setup(self) -> None:
        if os.path.lexists(self.work):
            common.remove_tree(self.work)
            self.log("  removed an old work dir: sync and 60 s of quiet (ext4 without a journal)")
            common.settle(60)
        os.makedirs(self.env["TMPDIR"])
        self.info["machine"] = common.machine()
        self.info["versions"] = common.tool_versions()
        self.start_registry()
        from engine.images.starter import find_busybox, starter_tar
        busybox_tar = os.path.join(self.work, "busybox.tar")
        with open(busybox_tar, "wb") as f:
            f.write(starter_tar(find_busybox()))
        common.sh(self.dy(self.src_root, "import", busybox_tar, "localhost/busybox:latest"), cwd=common.REPO)
        rng = random.Random(SEED)
        images: dict = {}
        if self.args.only in ("big", "all"):
            t0 = time.perf_counter()
            payload = os.path.join(self.work, "payload")
            n = make_payload(payload, rng)
            rootfs = os.path.join(self.work, "big-rootfs.tar")
            big_rootfs_tar(rootfs, busybox_tar, payload)
            common.sh(self.dy(self.src_root, "import", "-m", "bench: busybox + 110 MB file + 10,000 files",
                              rootfs, "localhost/bench/big:1"), cwd=common.REPO)
            os.unlink(rootfs)
            arch = os.path.join(self.work, "big.tar")
            common.sh(self.dy(self.src_root, "save", "-o", arch, "localhost/bench/big:1"), cwd=common.REPO)
            self.log(f"big image made in {time.perf_counter() - t0:.1f} s")
            images["big"] = {"payload_bytes": n, "tar_bytes": os.path.getsize(arch), **self.push(arch, "big")}
        if self.args.only in ("five", "all"):
            ctx = os.path.join(self.work, "five-ctx")
            n = five_context(ctx, rng)
            common.sh(self.dy(self.src_root, "build", "-q", "--network", "none", "-t", "localhost/bench/five:1",
                              ctx), cwd=common.REPO)
            arch = os.path.join(self.work, "five.tar")
            common.sh(self.dy(self.src_root, "save", "-o", arch, "localhost/bench/five:1"), cwd=common.REPO)
            images["five"] = {"payload_bytes": n, "tar_bytes": os.path.getsize(arch), **self.push(arch, "five")}
        self.info["images"] = images
        common.settle(self.args.settle)

    # -- one image, three contestants
    def pull(self, name: str) -> None:
        ref = f"{self.host}/{REPOS[name]}"
        self.log(f"{LABELS[name]}: {ref}")
        dy_dirs = FreshDirs(self.work, f"dy-{name}")
        pm_dirs = FreshDirs(self.work, f"pm-{name}")
        sk_dirs = FreshDirs(self.work, f"sk-{name}")

        def pm(*a: str) -> list[str]:
            return common.podman(pm_dirs.current, *a, driver="overlay")

        def prep_dy() -> None:
            # The first command makes the store; the second starts its zygote, as any
            # second command on a store does (it stays 10 minutes): a pull is timed
            # as a user who has used the store lately sees it, like bench_run's runs.
            common.sh(self.dy(dy_dirs.next(), "images", "-q"), cwd=common.REPO)
            common.sh(self.dy(dy_dirs.current, "images", "-q"), cwd=common.REPO)
            common.settle(self.args.settle)

        def prep_pm() -> None:
            pm_dirs.next()
            common.sh(pm("images", "-q"), env=self.env)                            # makes the store
            common.settle(self.args.settle)

        def prep_sk() -> None:
            os.makedirs(sk_dirs.next())
            common.settle(self.args.settle)

        def after_dy(r: Result) -> None:
            r.extra.update(image_id=image_id(self.dy(dy_dirs.current, "inspect", ref), cwd=common.REPO),
                           store_bytes=du_bytes(dy_dirs.current))

        def after_pm(r: Result) -> None:
            r.extra.update(image_id=image_id(pm("image", "inspect", ref), env=self.env),
                           store_bytes=du_bytes(common.podman_state(pm_dirs.current)["root"]))

        def after_sk(r: Result) -> None:
            r.extra.update(store_bytes=du_bytes(os.path.join(sk_dirs.current, "oci")))

        benches = [
            Bench(f"{name}: dockyard pull", lambda: self.dy(dy_dirs.current, "pull", ref), prepare=prep_dy,
                  cwd=common.REPO, after=after_dy),
            Bench(f"{name}: podman pull (overlay)", lambda: pm("pull", "-q", "--tls-verify=false", ref),
                  prepare=prep_pm, env=self.env, after=after_pm),
            Bench(f"{name}: skopeo copy (oci dir)",
                  lambda: common.skopeo(self.env["TMPDIR"], "copy", "-q", "--src-tls-verify=false",
                                        f"docker://{ref}", f"oci:{os.path.join(sk_dirs.current, 'oci')}:x"),
                  prepare=prep_sk, env=self.env, after=after_sk),
        ]
        res = common.measure(benches, runs=self.args.runs, log=self.log)
        self.results.update(res)

    def report(self) -> str:
        rows = []
        for name in REPOS:
            dy = self.results.get(f"{name}: dockyard pull")
            if dy is None:
                continue
            rows.append((LABELS[name], dy, self.results.get(f"{name}: podman pull (overlay)")))
            rows.append((LABELS[name] + " (skopeo: no unpack)", dy, self.results.get(f"{name}: skopeo copy (oci dir)")))
        lines = [common.comparison_table(rows), ""]
        for name, img in self.info.get("images", {}).items():
            lines.append(f"{name}: {len(img['layer_blob_bytes'])} layer(s), {img['blob_bytes_total'] / 1e6:.1f} MB "
                         f"gzip on the registry, {img['tar_bytes'] / 1e6:.1f} MB as a docker-archive")
        for k, r in self.results.items():
            if r.samples and r.extra.get("store_bytes") is not None:
                lines.append(f"{k}: {r.extra['store_bytes'] / 1e6:.1f} MB on disk after a pull"
                             + (f", image {r.extra['image_id'][:19]}" if r.extra.get("image_id") else ""))
        for name in REPOS:
            a = self.results.get(f"{name}: dockyard pull")
            b = self.results.get(f"{name}: podman pull (overlay)")
            if a and b and a.extra.get("image_id") and b.extra.get("image_id"):
                same = a.extra["image_id"] == b.extra["image_id"]
                lines.append(f"{name}: dockyard's and podman's image ids {'are the same' if same else 'DIFFER'}")
        lines += ["", common.all_results_table(list(self.results.values()))]
        return "\n".join(lines)

    def cleanup(self) -> None:
        self.stop_registry()
        common.cleanup_runroots()
        if not self.args.keep:
            common.remove_tree(self.work)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--settle", type=float, default=common.DEFAULT_SETTLE)
    ap.add_argument("--work", default="/var/tmp/dyb-pull")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (the registry is stopped anyway)")
    ap.add_argument("--only", choices=["big", "five", "all"], default="all")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_pull: run as root", file=sys.stderr)
        return 2
    run = Run(args)
    try:
        run.setup()
        for name in REPOS:
            if args.only in (name, "all"):
                run.pull(name)
        payload = {**run.info, "runs": args.runs, "podman_driver": "overlay",
                   "results": {k: v.as_dict() for k, v in run.results.items()}}
        path = common.write_json("pull", payload)
        print("\n" + run.report())
        print(f"\nraw results: {os.path.relpath(path, common.REPO)}")
    finally:
        run.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
