"""Image load and save: dockyard against podman and skopeo, in the same run.

The issue's benchmark: load and save of a ~200 MB image (many small files plus a
few large ones) against `podman load` / `podman save` and `skopeo copy`; report
the ratios. Goal: at least as fast as podman on both.

The test image is made here, deterministically (a fixed seed): a one-layer
rootfs of 20,000 small text-ish files (1-8 KB), 3 large partly compressible
files and the static busybox with its links, imported once into a dockyard
root and into podman. Then, each command 5 times (median) after a warm-up run,
interleaved, warm cache, every load into a fresh empty root: a new directory
each run, after an untimed `sync` and pause. Roots are not deleted between
runs but at the end: on this ext4-without-a-journal disk, creating files for
minutes after a big delete costs 3-5x the CPU (common.EXT4_RECENTCY_S;
--delete-between-runs shows it).

  save   dockyard save -o F IMG             vs  podman save --format docker-archive -o F IMG
         dockyard save --format oci-archive vs  podman save --format oci-archive
  load   dockyard load -i F  vs  podman load -i F, for F = podman's docker-archive,
         dockyard's docker-archive and podman's oci-archive;
         skopeo copy docker-archive:F oci:DIR as a reference (copies blobs, unpacks nothing)

Run as root: `bench/run.sh` (or .venv/bin/python bench/bench_images.py --help).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import pstats
import random
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import Bench, Result

IMG = "localhost/bench-image:latest"
SEED = 20261127
MTIME = 1_700_000_000
GENERATOR_VERSION = 1


# --------------------------------------------------------------------- the test image

def _vocabulary(rng: random.Random, n: int = 4096) -> list[str]:
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [12, 9, 8, 8, 7, 7, 6, 6, 6, 4, 4, 3, 3, 2, 2, 2, 2, 2, 1.5, 1, 1, 0.8, 0.2, 0.2, 0.1, 0.1]
    words = set()
    while len(words) < n:
        words.add("".join(rng.choices(letters, weights, k=rng.randint(2, 10))))
    extra = ["{", "}", "(", ")", "=", "==", "->", "return", "if", "else", "for", "0", "1", "None", "#"]
    return sorted(words) + extra


def _text(rng: random.Random, vocab: list[str], size: int) -> bytes:
    """About size bytes of text-ish content (words from vocab, lines of 4-14
    words): compresses to about a third with gzip."""
    out = []
    n = 0
    while n < size:
        line = " ".join(rng.choices(vocab, k=rng.randint(4, 14)))
        out.append(line)
        n += len(line) + 1
    return ("\n".join(out) + "\n").encode()[:size]


_LOW_ENTROPY = bytes.maketrans(bytes(range(256)), bytes(b"abcdefghijklmnop"[i % 16] for i in range(256)))


def _large(rng: random.Random, size: int) -> bytes:
    """Random-ish, partly compressible: 64 KiB chunks, half of them random
    bytes, half of them random over a 16-symbol alphabet (4 bits a byte)."""
    chunks = []
    left = size
    while left > 0:
        n = min(65536, left)
        b = rng.randbytes(n)
        if rng.random() < 0.5:
            b = b.translate(_LOW_ENTROPY)
        chunks.append(b)
        left -= n
    return b"".join(chunks)


def make_rootfs_tar(path: str, small_files: int = 20_000, large_sizes=(40 << 20, 32 << 20, 20 << 20),
                    busybox: str = "/bin/busybox") -> dict:
    """Writes the test image's rootfs tar at path; the same bytes every time
    for the same arguments and busybox. Returns a description of it."""
    rng = random.Random(SEED)
    vocab = _vocabulary(rng)
    t0 = time.perf_counter()

    def info(name, *, type_=tarfile.REGTYPE, size=0, mode=0o644, linkname=""):
        ti = tarfile.TarInfo(name)
        ti.type, ti.size, ti.mode, ti.linkname = type_, size, mode, linkname
        ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = MTIME, 0, 0, "root", "root"
        return ti

    small_bytes = 0
    with open(path, "wb") as f, tarfile.open(fileobj=f, mode="w", format=tarfile.GNU_FORMAT) as tf:
        def d(name):
            tf.addfile(info(name, type_=tarfile.DIRTYPE, mode=0o755))

        def reg(name, data, mode=0o644):
            tf.addfile(info(name, size=len(data), mode=mode), io.BytesIO(data))

        for name in ("bin", "etc", "tmp", "opt", "opt/big", "usr", "usr/share", "usr/share/bench"):
            d(name)
        with open(busybox, "rb") as bf:
            reg("bin/busybox", bf.read(), 0o755)
        applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
        for a in sorted(set(applets) - {"busybox"}):
            tf.addfile(info(f"bin/{a}", type_=tarfile.SYMTYPE, mode=0o777, linkname="busybox"))
        reg("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        reg("etc/group", b"root:x:0:\nnobody:x:65534:\n")
        per_dir = 100
        for i in range(small_files):
            if i % per_dir == 0:
                d(f"usr/share/bench/{i // per_dir:03d}")
            data = _text(rng, vocab, rng.randint(1024, 8192))
            small_bytes += len(data)
            reg(f"usr/share/bench/{i // per_dir:03d}/f{i:05d}.txt", data)
        for k, size in enumerate(large_sizes, 1):
            reg(f"opt/big/blob{k}.bin", _large(rng, size))
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return {"path": path, "tar_bytes": os.path.getsize(path), "sha256": h.hexdigest(),
            "small_files": small_files, "small_bytes": small_bytes,
            "large_files": list(large_sizes), "busybox_applet_links": len(set(applets) - {"busybox"}),
            "seed": SEED, "generator_version": GENERATOR_VERSION,
            "made_in_s": round(time.perf_counter() - t0, 1)}


# --------------------------------------------------------------------- the runs

class Run:
    def __init__(self, args):
        self.args = args
        self.work = os.path.abspath(args.work)
        self.runs_dir = os.path.join(self.work, "runs")
        self.out_dir = os.path.join(self.work, "out")
        self.arch_dir = os.path.join(self.work, "archives")
        self.base_dy = os.path.join(self.work, "base", "dockyard")
        self.base_pm = os.path.join(self.work, "base", "podman")
        self.env = common.peer_env(self.work)
        self.info: dict = {}
        self.results: dict[str, Result] = {}

    def log(self, msg: str) -> None:
        print(msg, flush=True)

    # -- commands
    def dy(self, root, *a):
        return common.dockyard(root, *a)

    def pm(self, state, *a):
        return common.podman(state, *a, driver=self.args.driver)

    def bench(self, name, cmd, prepare=None, after=None, peer=False):
        return Bench(name, cmd, prepare=prepare, after=after,
                     cwd=common.REPO, env=self.env if peer else None)

    def remove_output(self, path):
        def prep():
            if os.path.exists(path):
                os.unlink(path)
            common.settle(1)
        return prep

    def fresh(self, name):
        """A new directory for each run (see common.EXT4_RECENTCY_S), made
        after an untimed sync + pause; with --delete-between-runs the previous
        run's directory is removed first (the slow case on this disk)."""
        fd = common.FreshDirs(self.runs_dir, name)

        def prepare():
            if self.args.delete_between_runs and fd.n:
                common.remove_tree(fd.current)
            common.settle(self.args.settle)
        return fd, prepare

    def record_size(self, path):
        def after(r: Result):
            r.extra["archive_bytes"] = os.path.getsize(path)
        return after

    # -- steps
    def setup(self):
        common.remove_tree(self.work)
        for d in (self.runs_dir, self.out_dir, self.arch_dir, os.path.dirname(self.base_dy), self.env["TMPDIR"]):
            os.makedirs(d, exist_ok=True)
        common.DEFAULT_WORK = self.work
        self.info["machine"] = common.machine()
        self.info["versions"] = common.tool_versions()
        self.log(f"making the test image ({self.args.small_files} small files + 3 large + busybox) ...")
        self.rootfs = os.path.join(self.work, "rootfs.tar")
        self.info["image"] = make_rootfs_tar(self.rootfs, self.args.small_files)
        self.log(f"  {self.info['image']['tar_bytes'] / 1e6:.1f} MB tar, sha256 "
                 f"{self.info['image']['sha256'][:16]}..., made in {self.info['image']['made_in_s']} s")
        self.log("importing it into dockyard and podman (once, not compared) ...")
        imp = {}
        s = common.run_once(self.dy(self.base_dy, "import", self.rootfs, IMG), cwd=common.REPO)
        imp["dockyard_import_s"] = round(s.wall, 2)
        s = common.run_once(self.pm(self.base_pm, "import", self.rootfs, IMG), env=self.env)
        imp["podman_import_s"] = round(s.wall, 2)
        self.info["import"] = imp
        self.log(f"  dockyard import {imp['dockyard_import_s']} s, podman import {imp['podman_import_s']} s")
        self.info["image_ids"] = {
            "dockyard": common.sh(self.dy(self.base_dy, "images", "-q", "--no-trunc"), cwd=common.REPO, check=False).strip()
            or common.sh(self.dy(self.base_dy, "images", "-q"), cwd=common.REPO, check=False).strip(),
            "podman": common.sh(self.pm(self.base_pm, "images", "-q", "--no-trunc"), env=self.env).strip()}
        common.settle(self.args.settle)

    def save(self):
        self.log(f"\nsave: {self.args.runs} runs each (+1 warm-up), interleaved")
        o = self.out_dir
        files = {"dy-docker": f"{o}/dy-docker.tar", "pm-docker": f"{o}/pm-docker.tar",
                 "dy-oci": f"{o}/dy-oci.tar", "pm-oci": f"{o}/pm-oci.tar"}
        benches = [
            self.bench("dockyard save (docker-archive)",
                       self.dy(self.base_dy, "save", "-o", files["dy-docker"], IMG),
                       self.remove_output(files["dy-docker"]), self.record_size(files["dy-docker"])),
            self.bench("podman save --format docker-archive",
                       self.pm(self.base_pm, "save", "--format", "docker-archive", "-o", files["pm-docker"], IMG),
                       self.remove_output(files["pm-docker"]), self.record_size(files["pm-docker"]), peer=True),
            self.bench("dockyard save --format oci-archive",
                       self.dy(self.base_dy, "save", "--format", "oci-archive", "-o", files["dy-oci"], IMG),
                       self.remove_output(files["dy-oci"]), self.record_size(files["dy-oci"])),
            self.bench("podman save --format oci-archive",
                       self.pm(self.base_pm, "save", "--format", "oci-archive", "-o", files["pm-oci"], IMG),
                       self.remove_output(files["pm-oci"]), self.record_size(files["pm-oci"]), peer=True),
        ]
        self.results.update(common.measure(benches, self.args.runs, log=self.log))
        # The archives the load runs read: the last save of each.
        self.archives = {}
        for k, p in files.items():
            if os.path.exists(p):
                dst = os.path.join(self.arch_dir, os.path.basename(p))
                os.replace(p, dst)
                self.archives[k] = dst
        self.info["archives"] = {k: {"path": p, "bytes": os.path.getsize(p)} for k, p in self.archives.items()}

    def load(self):
        how = ("the previous one removed" if self.args.delete_between_runs else "a new directory")
        self.log(f"\nload: {self.args.runs} runs each (+1 warm-up), interleaved, each into a fresh root "
                 f"({how}, sync, {self.args.settle:g} s pause: untimed)")
        a = self.archives
        benches = []

        def pair(label, key):
            if key not in a:
                self.log(f"  no {key} archive (its save failed): skipping {label}")
                return
            dy, dy_prep = self.fresh(f"dy-{key}")
            pm, pm_prep = self.fresh(f"pm-{key}")
            benches.append(self.bench(f"dockyard load ({label})",
                                      lambda: self.dy(dy.next(), "load", "-q", "-i", a[key]),
                                      dy_prep, self.check_dy(dy)))
            benches.append(self.bench(f"podman load ({label})",
                                      lambda: self.pm(pm.next(), "load", "-q", "-i", a[key]),
                                      pm_prep, self.check_pm(pm), peer=True))

        pair("podman's docker-archive", "pm-docker")
        pair("dockyard's docker-archive", "dy-docker")
        pair("podman's oci-archive", "pm-oci")
        if "pm-docker" in a:
            for label, extra in (("uncompressed", ["--dest-oci-accept-uncompressed-layers"]), ("gzip", [])):
                sk, sk_prep = self.fresh(f"skopeo-{label}")
                benches.append(self.bench(
                    f"skopeo copy docker-archive -> oci ({label})",
                    lambda sk=sk, extra=extra: common.skopeo(
                        self.env["TMPDIR"], "copy", "-q", *extra,
                        f"docker-archive:{a['pm-docker']}", f"oci:{sk.next()}:latest"),
                    sk_prep, peer=True))
        if not self.args.delete_between_runs:
            common.wait_for_ext4(self.log)
        self.results.update(common.measure(benches, self.args.runs, log=self.log))

    def check_dy(self, fd):
        def after(res: Result):
            res.extra["images_after"] = common.sh(self.dy(fd.current, "images"), cwd=common.REPO, check=False).strip()
        return after

    def check_pm(self, fd):
        def after(res: Result):
            res.extra["images_after"] = common.sh(self.pm(fd.current, "images"), env=self.env, check=False).strip()
        return after

    def profile(self, what: str, cmd_args: list[str], root: str) -> dict:
        """cProfile of one dockyard run (into a new root for a load)."""
        common.settle(self.args.settle)
        out = os.path.join(self.work, f"profile-{what}.prof")
        cmd = [common.VENV_PY, "-m", "cProfile", "-o", out, "-m", "tui.cli", "--root", root, *cmd_args]
        s = common.run_once(cmd, cwd=common.REPO)
        texts = {}
        for key in ("cumulative", "tottime"):
            buf = io.StringIO()
            st = pstats.Stats(out, stream=buf)
            st.strip_dirs().sort_stats(key).print_stats(25)
            texts[key] = buf.getvalue()
        dst = os.path.join(common.RESULTS_DIR, f"{time.strftime('%Y-%m-%d')}-images-profile-{what}.txt")
        os.makedirs(common.RESULTS_DIR, exist_ok=True)
        with open(dst, "w") as f:
            f.write(f"# {' '.join(cmd)}\n# wall under cProfile: {s.wall:.2f} s\n\n")
            f.write(texts["cumulative"] + "\n\n" + texts["tottime"])
        self.log(f"\ncProfile of {what} ({s.wall:.2f} s under the profiler), by cumulative time "
                 f"(full: {os.path.relpath(dst, common.REPO)}):")
        self.log("\n".join(texts["cumulative"].splitlines()[:40]))
        return {"wall_under_profiler_s": round(s.wall, 2), "file": dst,
                "cumulative": texts["cumulative"], "tottime": texts["tottime"]}

    def report(self) -> str:
        R = self.results.get
        rows = [
            ("save, docker-archive", R("dockyard save (docker-archive)"), R("podman save --format docker-archive")),
            ("save, oci-archive", R("dockyard save --format oci-archive"), R("podman save --format oci-archive")),
            ("load podman's docker-archive", R("dockyard load (podman's docker-archive)"),
             R("podman load (podman's docker-archive)")),
            ("load dockyard's docker-archive", R("dockyard load (dockyard's docker-archive)"),
             R("podman load (dockyard's docker-archive)")),
            ("load podman's oci-archive", R("dockyard load (podman's oci-archive)"),
             R("podman load (podman's oci-archive)")),
            ("load podman's docker-archive vs skopeo copy (blobs only, reference)",
             R("dockyard load (podman's docker-archive)"), R("skopeo copy docker-archive -> oci (uncompressed)")),
            ("load podman's docker-archive vs skopeo copy (gzip, reference)",
             R("dockyard load (podman's docker-archive)"), R("skopeo copy docker-archive -> oci (gzip)")),
        ]
        lines = ["## dockyard / peer (medians; < 1 means dockyard is faster)", "",
                 common.comparison_table(rows), "", "## every command", "",
                 common.all_results_table(list(self.results.values())), "", "## archives", "",
                 "| archive | size |", "|---|---|"]
        for k, v in self.info.get("archives", {}).items():
            lines.append(f"| {k} | {common.fmt_mb(v['bytes'])} |")
        imp = self.info.get("import", {})
        lines += ["", f"import of the {self.info['image']['tar_bytes'] / 1e6:.0f} MB rootfs tar (once): dockyard "
                  f"{imp.get('dockyard_import_s')} s, podman {imp.get('podman_import_s')} s"]
        return "\n".join(lines)

    def payload(self) -> dict:
        return {"benchmark": "images", "date": time.strftime("%Y-%m-%d %H:%M:%S"),
                "settings": {"runs": self.args.runs, "warmup": 1, "settle_s": self.args.settle,
                             "delete_between_runs": self.args.delete_between_runs,
                             "podman_storage_driver": self.args.driver, "work": self.work,
                             "cache": "warm"},
                **self.info, "results": [r.as_dict() for r in self.results.values()]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=common.DEFAULT_RUNS, help="measured runs per command (default %(default)s)")
    ap.add_argument("--settle", type=float, default=common.DEFAULT_SETTLE,
                    help="seconds to wait after the untimed sync before each run (default %(default)s)")
    ap.add_argument("--delete-between-runs", action="store_true",
                    help="remove the previous run's root before each load instead of using a new "
                         "directory (slow on ext4 without a journal: see common.EXT4_RECENTCY_S)")
    ap.add_argument("--work", default=common.DEFAULT_WORK, help="bench work dir, removed at the end (default %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--driver", default="vfs", choices=["vfs", "overlay"], help="podman storage driver")
    ap.add_argument("--small-files", type=int, default=20_000)
    ap.add_argument("--profile", choices=["auto", "always", "never"], default="always",
                    help="cProfile one dockyard load and save after the runs (auto: only when "
                         "slower than podman; default %(default)s)")
    ap.add_argument("--only", choices=["save", "load", "all"], default="all",
                    help="load needs the archives the save step makes, so it runs save too")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_images: run as root (podman's rootful storage, fresh roots)", file=sys.stderr)
        return 2
    run = Run(args)
    try:
        run.setup()
        run.save()
        if args.only in ("load", "all"):
            run.load()
        profiles = {}
        R = run.results
        def slower(dy, pm):
            r = common.ratio(R.get(dy), R.get(pm))
            return r is None or r > 1
        want_load = args.profile == "always" or (args.profile == "auto" and slower(
            "dockyard load (podman's docker-archive)", "podman load (podman's docker-archive)"))
        want_save = args.profile == "always" or (args.profile == "auto" and slower(
            "dockyard save (docker-archive)", "podman save --format docker-archive"))
        if want_load and "pm-docker" in run.archives and args.only != "save":
            profiles["load"] = run.profile("load", ["load", "-q", "-i", run.archives["pm-docker"]],
                                           common.FreshDirs(run.runs_dir, "profile-load").next())
        if want_save:
            out = os.path.join(run.out_dir, "profile-save.tar")
            profiles["save"] = run.profile("save", ["save", "-o", out, IMG], run.base_dy)
        payload = run.payload()
        payload["profiles"] = {k: {kk: vv for kk, vv in v.items()} for k, v in profiles.items()}
        path = common.write_json("images", payload)
        print("\n" + run.report())
        print(f"\nraw results: {os.path.relpath(path, common.REPO)}")
        print(f"machine: {payload['machine']['cores']} cores, {payload['machine']['cpu']}, "
              f"{payload['machine']['mem_mb']} MB; warm cache; podman storage driver {args.driver}")
    finally:
        common.cleanup_runroots()
        if not args.keep:
            common.remove_tree(run.work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
