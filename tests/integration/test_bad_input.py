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
from tests.conftest import ROOT, need_root
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
