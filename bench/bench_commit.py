"""Commit and the layer model: dockyard against podman, in the same run.

The issue's benchmark:
  commit   a container that wrote 100 MB in one file plus 10,000 small files:
           `dockyard commit C IMG` vs `podman commit C IMG` (time), and the size
           of the layer each makes to ship: dockyard's stored zstd blob against
           podman's gzip one (what `podman push` writes: podman keeps layers
           uncompressed until then, so its blob is made by pushing to an OCI dir,
           untimed).
  tree     time to the first answer of the layer model (Engine.layer_tree) for
           an image of 100,000 files in 3 layers, in a fresh process: from the
           file indexes recorded at load, and, for reference, built from the
           unpacked layer directories (an index-less, older store).

The payload (made here, deterministic): a 100 MB file, half random bytes and
half text, and 10,000 files of 100-2,000 bytes of text. Each run commits a new
container that copied the payload in from a read-only bind (`cp -r`: new
mtimes, so no run's layer equals another's and nothing dedups); containers
are made untimed, before the run, after a sync and pause; nothing is deleted
until the end (see common.EXT4_RECENTCY_S). Goal: commit faster than podman,
zstd layer no larger than podman's gzip one, the tree in under 200 ms.

Run as root: `.venv/bin/python bench/bench_commit.py [--runs N] [--driver vfs|overlay]`.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import Bench, Result

sys.path.insert(0, common.REPO)

SEED = 20261204
BIG = 100 * 1000 * 1000
SMALL = 10_000
TREE_FILES = 100_000
ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]
COPY = "cp -r /src/big /big && cp -r /src/small /small"


# --------------------------------------------------------------------- inputs

def make_payload(path: str) -> dict:
    total = common.write_payload(path, random.Random(SEED), BIG, SMALL)
    return {"big_bytes": BIG, "small_files": SMALL, "payload_bytes": total}


def tree_image_archive(path: str) -> dict:
    """A docker-archive of a 3-layer image of 100,000 files: 60,000 in the
    base, 30,000 in the second (5,000 of them overwriting base files), 10,000 in
    the third (with 1,000 whiteouts and an opaque directory)."""
    import hashlib

    from engine.images import manifest as mf
    from engine.images.archive_write import SaveImage, SaveLayer, write_docker_archive
    rng = random.Random(SEED + 1)

    def tar(entries) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
            for name, data in entries:
                ti = tarfile.TarInfo(name)
                ti.mtime = 1_700_000_000
                if data is None:
                    ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                    t.addfile(ti)
                else:
                    ti.size = len(data)
                    t.addfile(ti, io.BytesIO(data))
        return buf.getvalue()

    def files(prefix, dirs, per):
        out = [(prefix, None)]
        for d in range(dirs):
            out.append((f"{prefix}/d{d:03d}", None))
            out += [(f"{prefix}/d{d:03d}/f{f:03d}", rng.randbytes(rng.randint(0, 64))) for f in range(per)]
        return out

    l0 = files("usr", 600, 99)
    l1 = [("usr", None)] + [(f"usr/d{d:03d}", None) for d in range(50)]
    l1 += [(f"usr/d{d:03d}/f{f:03d}", b"new") for d in range(50) for f in range(100)]
    l1 += files("opt", 250, 99)[:30_000 - len(l1)]
    l2 = [("usr", None)] + [(f"usr/d{d:03d}", None) for d in range(100, 110)]
    l2 += [(f"usr/d{d:03d}/.wh.f{f:03d}", b"") for d in range(100, 110) for f in range(99)]
    l2 += [("usr/.wh.d200", b""), ("usr/d300", None), ("usr/d300/.wh..wh..opq", b"")]
    l2 += files("srv", 90, 99)[:10_000 - len(l2)]
    tars = [tar(l) for l in (l0, l1, l2)]
    sha = lambda b: "sha256:" + hashlib.sha256(b).hexdigest()
    config = mf.dumps({"architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
                       "config": {"Cmd": ["sh"]}, "rootfs": {"type": "layers", "diff_ids": [sha(t) for t in tars]},
                       "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"}
                                   for i in range(3)]})
    layers = [SaveLayer(diff_id=sha(t), diff_size=len(t), open_uncompressed=lambda t=t: io.BytesIO(t),
                        blob_digest=sha(t), blob_size=len(t), media_type=mf.DOCKER_LAYER,
                        open_blob=lambda t=t: io.BytesIO(t)) for t in tars]
    manifest = mf.build_manifest(mf.descriptor(mf.OCI_CONFIG, config),
                                 [mf.descriptor(mf.OCI_LAYER, l.blob_digest, l.blob_size) for l in layers])
    img = SaveImage(config=config, config_digest=sha(config), manifest=manifest, manifest_digest=sha(manifest),
                    layers=layers, repo_tags=["localhost/tree:100k"])
    with open(path, "wb") as f:
        write_docker_archive(f, [img])
    return {"entries_per_layer": [len(l0), len(l1), len(l2)], "entries": len(l0) + len(l1) + len(l2)}


TREE_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {repo!r})
from engine import Engine
eng = Engine({root!r})
t1 = time.perf_counter()
if {drop}:
    with eng.store.db.tx() as c:
        c.execute("DELETE FROM layer_files")
    t1 = time.perf_counter()
tree = eng.layer_tree("localhost/tree:100k")
t2 = time.perf_counter()
print(json.dumps({{"first_answer_s": t2 - t1, "with_imports_s": t2 - t0, "files": tree.file_count,
                  "efficiency": tree.efficiency, "wasted_bytes": tree.wasted_bytes,
                  "layers": [[l.added, l.modified, l.removed] for l in tree.layers]}}))
"""


# --------------------------------------------------------------------- the runs

class Run:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.work)
        self.payload_dir = os.path.join(self.work, "payload")
        self.dy_root = os.path.join(self.work, "dockyard")
        self.pm_state = os.path.join(self.work, "podman")
        self.env = common.peer_env(self.work)
        self.info: dict = {}
        self.results: dict[str, Result] = {}
        self.n_dy = self.n_pm = 0

    def log(self, msg: str) -> None:
        print(msg, flush=True)

    def pm(self, *a) -> list[str]:
        return common.podman(self.pm_state, *a, driver=self.args.driver)

    def setup(self) -> None:
        common.remove_tree(self.work)
        os.makedirs(self.env["TMPDIR"], exist_ok=True)
        self.info["machine"] = common.machine()
        self.info["versions"] = common.tool_versions()
        t0 = time.perf_counter()
        self.info["payload"] = make_payload(self.payload_dir)
        self.log(f"payload made in {time.perf_counter() - t0:.1f} s")
        from engine import Engine
        from engine.images.starter import find_busybox, starter_tar
        eng = Engine(self.dy_root)
        eng.make_starter_image()
        eng.close()
        base_tar = os.path.join(self.work, "busybox.tar")
        with open(base_tar, "wb") as f:
            f.write(starter_tar(find_busybox()))
        common.sh(self.pm("import", "-q", "--change", "CMD [\"sh\"]", base_tar, "localhost/busybox:latest"),
                  env=self.env)

    # -- commit
    def _dy_container(self) -> None:
        self.n_dy += 1
        common.sh(common.dockyard(self.dy_root, "run", "--name", f"d{self.n_dy}", "-v",
                                  f"{self.payload_dir}:/src:ro", "busybox", "sh", "-c", COPY), cwd=common.REPO)
        common.settle(self.args.settle)

    def _pm_container(self) -> None:
        self.n_pm += 1
        common.sh(self.pm("run", *ULIMITS, "--network", "none", "--name", f"p{self.n_pm}", "-v",
                          f"{self.payload_dir}:/src:ro", "localhost/busybox:latest", "sh", "-c", COPY),
                  env=self.env)
        common.settle(self.args.settle)

    def _dy_size(self, r: Result) -> None:
        from engine import Engine
        eng = Engine(self.dy_root)
        try:
            doc = eng.inspect_image(f"localhost/commit:{self.n_dy}")
            desc = doc["Manifest"]["Layers"][-1]
            row = eng.store.db.query("SELECT diff_size FROM layers WHERE diff_id = ?",
                                     (doc["RootFS"]["Layers"][-1],))[0]
            r.extra.update(layer_blob_bytes=desc["Size"], layer_media_type=desc["MediaType"],
                           layer_tar_bytes=row["diff_size"])
        finally:
            eng.close()

    def _pm_size(self, r: Result) -> None:
        out = os.path.join(self.work, "podman-push")
        common.sh(self.pm("push", "-q", f"localhost/commit:{self.n_pm}", f"oci:{out}:x"), env=self.env)
        with open(os.path.join(out, "index.json")) as f:
            mdig = json.load(f)["manifests"][0]["digest"]
        with open(os.path.join(out, "blobs", "sha256", mdig[7:])) as f:
            desc = json.load(f)["layers"][-1]
        doc = json.loads(common.sh(self.pm("image", "inspect", f"localhost/commit:{self.n_pm}"), env=self.env))[0]
        r.extra.update(layer_blob_bytes=desc["size"], layer_media_type=desc["mediaType"],
                       podman_image_size=doc.get("Size"))

    def commit(self) -> None:
        self.log("commit: 100 MB file + 10,000 small files")
        benches = [
            Bench("dockyard commit", lambda: common.dockyard(self.dy_root, "commit", f"d{self.n_dy}",
                                                             f"localhost/commit:{self.n_dy}"),
                  prepare=self._dy_container, cwd=common.REPO, after=self._dy_size),
            Bench(f"podman commit ({self.args.driver})", lambda: self.pm("commit", "-q", f"p{self.n_pm}",
                                                                         f"localhost/commit:{self.n_pm}"),
                  prepare=self._pm_container, env=self.env, after=self._pm_size),
        ]
        self.results.update(common.measure(benches, runs=self.args.runs, log=self.log))

    # -- tree
    def tree(self) -> None:
        arch = os.path.join(self.work, "tree.tar")
        self.info["tree_image"] = tree_image_archive(arch)
        common.sh(common.dockyard(self.dy_root, "load", "-q", "-i", arch), cwd=common.REPO)
        os.unlink(arch)
        out = {}
        for name, drop in (("from the recorded indexes", False), ("built from the layer dirs (no index)", True)):
            samples = []
            for i in range(self.args.runs + 1):
                code = TREE_PROBE.format(repo=common.REPO, root=self.dy_root, drop=drop)
                p = subprocess.run([common.VENV_PY, "-c", code], capture_output=True, text=True, check=True)
                doc = json.loads(p.stdout)
                self.log(f"  layer_tree {name}: {1000 * doc['first_answer_s']:.0f} ms "
                         f"({1000 * doc['with_imports_s']:.0f} ms with the imports)")
                if i:  # the first is a warm-up
                    samples.append(doc)
            out[name] = {"median_ms": round(1000 * statistics.median(s["first_answer_s"] for s in samples), 1),
                         "min_ms": round(1000 * min(s["first_answer_s"] for s in samples), 1),
                         "median_with_imports_ms": round(1000 * statistics.median(s["with_imports_s"]
                                                                                  for s in samples), 1),
                         "files": samples[0]["files"], "efficiency": samples[0]["efficiency"],
                         "wasted_bytes": samples[0]["wasted_bytes"], "layers": samples[0]["layers"]}
        self.info["tree"] = out

    def report(self) -> str:
        dy = self.results.get("dockyard commit")
        pm = self.results.get(f"podman commit ({self.args.driver})")
        lines = [common.comparison_table([("commit 100 MB + 10,000 files", dy, pm)]), ""]
        if dy and pm and dy.samples and pm.samples:
            a, b = dy.extra.get("layer_blob_bytes"), pm.extra.get("layer_blob_bytes")
            lines.append(f"layer to ship: dockyard {common.fmt_mb(a)} ({dy.extra.get('layer_media_type')}), "
                         f"podman {common.fmt_mb(b)} ({pm.extra.get('layer_media_type')}); "
                         f"ratio {a / b:.3f}; uncompressed tar {common.fmt_mb(dy.extra.get('layer_tar_bytes'))}")
        for name, t in self.info.get("tree", {}).items():
            lines.append(f"layer model of {t['files']} files, {name}: median {t['median_ms']} ms "
                         f"(min {t['min_ms']}; {t['median_with_imports_ms']} ms with the imports)")
        lines += ["", common.all_results_table([r for r in self.results.values()])]
        return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=common.DEFAULT_RUNS)
    ap.add_argument("--settle", type=float, default=common.DEFAULT_SETTLE)
    ap.add_argument("--work", default=os.path.join(common.DEFAULT_WORK, "commit"))
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--driver", default="vfs", choices=["vfs", "overlay"], help="podman storage driver")
    ap.add_argument("--only", choices=["commit", "tree", "all"], default="all")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_commit: run as root", file=sys.stderr)
        return 2
    run = Run(args)
    try:
        run.setup()
        if args.only in ("commit", "all"):
            run.commit()
        if args.only in ("tree", "all"):
            run.tree()
        payload = {**run.info, "results": {k: v.as_dict() for k, v in run.results.items()},
                   "podman_driver": args.driver}
        path = common.write_json("commit", payload)
        print("\n" + run.report())
        print(f"\nraw results: {os.path.relpath(path, common.REPO)}")
    finally:
        for cid in common.sh(common.dockyard(run.dy_root, "ps", "-aq"), cwd=common.REPO, check=False).split():
            common.sh(common.dockyard(run.dy_root, "rm", "-f", cid), cwd=common.REPO, check=False)
        common.sh(run.pm("rm", "-a", "-f"), env=run.env, check=False)
        if hasattr(common, "cleanup_runroots"):
            common.cleanup_runroots()
        if not args.keep:
            common.remove_tree(run.work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
