"""Bad input on purpose: each gets a clear error naming the thing, and the
store is left exactly as it was (or, after kill -9, swept and consistent)."""
import glob
import hashlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tarfile
import time

import pytest

from engine import Engine
from engine.errors import CorruptArchive, DigestMismatch, InvalidReference, NotFound, UnsafeArchive
from tests.conftest import ROOT, need_root, run_cli
from tests.integration.test_images import rootfs_tar


@pytest.fixture(autouse=True)
def _root():
    need_root()


def snapshot(root: str) -> tuple:
    files = []
    for dirpath, dirs, names in os.walk(root):
        for n in names + dirs:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            if rel.startswith("db.sqlite3") or rel == "lock":
                continue
            st = os.lstat(p)
            files.append((rel, st.st_mode, st.st_size if not os.path.isdir(p) else 0))
    db = sqlite3.connect(os.path.join(root, "db.sqlite3"))
    rows = tuple(tuple(db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall())
                 for t in ("layers", "layer_blobs", "images", "tags", "containers"))
    db.close()
    return tuple(sorted(files)), rows


def archive(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def docker_archive(layer: bytes, diff_id: str | None = None, config_extra: dict | None = None) -> bytes:
    diff_id = diff_id or "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}, **(config_extra or {})}).encode()
    chex = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{chex}.json", "RepoTags": ["bad:one"], "Layers": ["l1/layer.tar"]}]).encode()
    return archive({"manifest.json": manifest, f"{chex}.json": config, "l1/layer.tar": layer})


def test_truncated_archive(engine, starter, tmp_path):
    good = docker_archive(rootfs_tar({"f": b"x" * 100_000}))
    before = snapshot(engine.root)
    for cut in (len(good) // 2, 700):
        p = tmp_path / f"cut{cut}.tar"
        p.write_bytes(good[:cut])
        with pytest.raises(CorruptArchive, match="truncated or corrupt|not a|holds no"):
            engine.load(str(p))
        assert snapshot(engine.root) == before


def test_garbage_file(engine, tmp_path):
    p = tmp_path / "junk"
    p.write_bytes(os.urandom(5000))
    with pytest.raises(CorruptArchive):
        engine.load(str(p))


def test_layer_not_matching_config_diff_id(engine, starter, tmp_path):
    before = snapshot(engine.root)
    p = tmp_path / "mismatch.tar"
    p.write_bytes(docker_archive(rootfs_tar({"f": b"1"}), diff_id="sha256:" + "0" * 64))
    with pytest.raises(DigestMismatch, match="diff id"):
        engine.load(str(p))
    assert snapshot(engine.root) == before


def test_manifest_naming_missing_member(engine, tmp_path):
    good = docker_archive(rootfs_tar({"f": b"1"}))
    with tarfile.open(fileobj=io.BytesIO(good)) as t:
        members = {m.name: t.extractfile(m).read() for m in t}
    del members["l1/layer.tar"]
    p = tmp_path / "missing.tar"
    p.write_bytes(archive(members))
    with pytest.raises(CorruptArchive, match="l1/layer.tar"):
        engine.load(str(p))
    assert engine.images() == []


def test_escaping_layer_is_refused_and_nothing_lands(engine, starter, tmp_path):
    before = snapshot(engine.root)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        ti = tarfile.TarInfo("../../../escaped")
        ti.size = 3
        tar.addfile(ti, io.BytesIO(b"bad"))
    with pytest.raises(UnsafeArchive, match="escaped"):
        engine.import_image(io.BytesIO(buf.getvalue()), "evil:1")
    assert snapshot(engine.root) == before
    assert not os.path.exists(os.path.join(os.path.dirname(engine.root), "escaped"))


def test_corrupt_blob_found_by_check_and_reads(engine, starter, tmp_path):
    doc = engine.inspect_image("busybox")
    layer_blob = doc["Manifest"]["Layers"][0]["Digest"]
    path = os.path.join(engine.root, "blobs/sha256", layer_blob[7:])
    with open(path, "r+b") as f:
        f.seek(100)
        f.write(b"\0garbage\0")
    rep = engine.check()
    assert not rep.ok
    assert any(layer_blob in p and "does not match its digest" in p for p in rep.problems)
    with pytest.raises(DigestMismatch, match=layer_blob):
        with open(tmp_path / "o.tar", "wb") as f:
            engine.save(["busybox"], f)
    rep = engine.check(repair=True)
    assert any("removed image" in r for r in rep.repaired)
    assert engine.images() == []
    assert engine.check().ok


def test_tampered_unpacked_layer_found_by_check(engine, starter):
    lower = engine.inspect_image("busybox")["GraphDriver"]["Data"]["LowerDir"]
    with open(os.path.join(lower, "etc/passwd"), "ab") as f:
        f.write(b"evil:x:0:0::/:/bin/sh\n")
    rep = engine.check()
    assert any("etc/passwd" in p for p in rep.problems), rep.problems


def test_unknown_and_malformed_references(engine, starter, tmp_path):
    with pytest.raises(NotFound, match="no such image: ghost:1"):
        engine.image("ghost:1")
    with pytest.raises(InvalidReference, match="invalid reference format"):
        engine.tag("busybox", "ns/UPPER")
    with pytest.raises(InvalidReference):
        engine.tag("busybox", "a:b:c")
    with pytest.raises(NotFound):
        with open(tmp_path / "x", "wb") as f:
            engine.save(["ghost"], f)


def _count(d: str) -> int:
    try:
        return len(os.listdir(d))
    except FileNotFoundError:  # renamed into place meanwhile
        return 0


def test_kill_9_during_load_leaves_a_consistent_store(tmp_path):
    root = str(tmp_path / "root")
    big = rootfs_tar({f"d/{i}": os.urandom(64 * 1024) for i in range(1200)})  # ~78 MB of incompressible data
    arch = tmp_path / "big.tar"
    arch.write_bytes(docker_archive(big))
    env = dict(os.environ, PYTHONPATH=ROOT, DOCKYARD_ROOT=root)
    proc = subprocess.Popen([sys.executable, "-m", "tui.cli", "load", "-i", str(arch)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    staging = os.path.join(root, "tmp")
    deadline = time.time() + 60
    while time.time() < deadline:
        # Kill once a layer is half unpacked in the staging area.
        half = os.path.join(staging, "*", "d")
        if any(_count(d) > 100 for d in glob.glob(half)):
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert os.listdir(staging), "the kill should have landed mid-load"
    eng = Engine(root)
    try:
        assert os.listdir(staging) == []
        rep = eng.check()
        assert rep.ok, rep.problems
        assert eng.images() == []
        # The interrupted load can simply be run again.
        eng.load(str(arch))
        assert [i.tags for i in eng.images()] == [["bad:one"]]
    finally:
        eng.close()


def _entry(name, kind=tarfile.REGTYPE, data=b"", mode=0o644, link=""):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.linkname, ti.mtime = kind, mode, link, 1_700_000_000
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
        return ti, io.BytesIO(data)
    return ti, None


def test_import_through_in_layer_symlinks_is_consistent(tmp_path):
    """Odd but valid tars (in-layer symlinks in names, hardlinks whose headers
    disagree on the mode, entries replacing earlier ones): `check` must verify
    what unpacking left, not call the layer corrupt, and --repair must keep it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for ti, data in [
            _entry("etc", tarfile.DIRTYPE, mode=0o755),
            _entry("localetc", tarfile.SYMTYPE, link="/etc"),
            _entry("localetc/unbroken", data=b"kept\n"),
            _entry("usr/bin/perl5.36", data=b"#!perl\n", mode=0o755),
            _entry("usr/bin/perl", tarfile.LNKTYPE, mode=0o755, link="usr/bin/perl5.36"),
            _entry("usr/bin/perlbug", tarfile.LNKTYPE, mode=0o644, link="usr/bin/perl5.36"),
            _entry("lib", tarfile.SYMTYPE, link="usr/lib"),
            _entry("lib/x.so", data=b"elf"),
            _entry("usr/lib", tarfile.DIRTYPE, mode=0o750),
            _entry("twice", data=b"first"),
            _entry("twice", data=b"second"),
            _entry("tree", tarfile.DIRTYPE), _entry("tree/leaf", data=b"1"), _entry("tree", data=b"a file now"),
        ]:
            tar.addfile(ti, data)
    (tmp_path / "odd.tar").write_bytes(buf.getvalue())
    root = str(tmp_path / "root")
    iid = run_cli("import", str(tmp_path / "odd.tar"), "odd:1", root=root).stdout.decode().strip()

    out = run_cli("check", root=root).stdout.decode()
    assert "problem" not in out and out.rstrip().endswith(": consistent"), out
    out = run_cli("check", "--repair", root=root).stdout.decode()
    assert "removed" not in out and out.rstrip().endswith(": consistent"), out
    assert run_cli("images", "-q", root=root).stdout.decode().split() == [iid[7:19]]

    eng = Engine(root)
    try:
        layer = eng.inspect_image("odd:1")["GraphDriver"]["Data"]["LowerDir"]
        tree = eng.layer_tree("odd:1")
    finally:
        eng.close()
    # where extraction put them
    assert open(os.path.join(layer, "etc/unbroken"), "rb").read() == b"kept\n"
    assert open(os.path.join(layer, "usr/lib/x.so"), "rb").read() == b"elf"
    assert open(os.path.join(layer, "twice"), "rb").read() == b"second"
    assert open(os.path.join(layer, "tree"), "rb").read() == b"a file now"
    modes = {n: os.stat(os.path.join(layer, "usr/bin", n)).st_mode & 0o777 for n in ("perl5.36", "perl", "perlbug")}
    assert modes == {"perl5.36": 0o644, "perl": 0o644, "perlbug": 0o644}
    # and the layer tree shows the same: resolved paths, the final modes, no replaced entries
    files = {n.path: (n.type, n.mode) for n in tree.walk()}
    assert files["/etc/unbroken"] == ("file", 0o644) and "/localetc/unbroken" not in files
    assert files["/usr/lib/x.so"][0] == "file" and "/lib/x.so" not in files
    assert files["/usr/lib"] == ("dir", 0o750)
    assert {files[f"/usr/bin/{n}"][1] for n in ("perl5.36", "perl", "perlbug")} == {0o644}
    assert files["/tree"][0] == "file" and "/tree/leaf" not in files
    assert tree.node("/twice").size == len(b"second")
    doc = json.loads(run_cli("image", "tree", "--json", "odd:1", root=root).stdout)
    paths = [c["path"] for c in doc["layers"][0]["changes"]]
    assert "/etc/unbroken" in paths and "/localetc/unbroken" not in paths and paths.count("/twice") == 1
