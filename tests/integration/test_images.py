"""The image store through the engine and the real command line: starter
image, import, tag, rmi, inspect, history, save/load round trips, df."""
import hashlib
import io
import json
import os
import tarfile

import pytest

from engine import Engine
from engine.errors import AmbiguousReference, Conflict, InvalidReference, NotFound
from tests.conftest import need_root, run_cli
from tests.oci_schema import validate


def rootfs_tar(files: dict[str, bytes], mtime: int = 1_700_000_000) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime, ti.mode = len(data), mtime, 0o644
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _root():
    need_root()


def test_starter_image_is_listed_and_runs_nothing_yet(engine, starter):
    imgs = engine.images()
    assert [i.tags for i in imgs] == [["localhost/busybox:latest"]]
    img = imgs[0]
    assert img.id == starter and img.size > 1_000_000
    # The same busybox gives the same image id: the starter tar is deterministic.
    again = Engine(engine.root + "-2")
    try:
        assert again.make_starter_image() == starter
    finally:
        again.close()
    # Unpacked: the layer directory holds busybox and its links.
    lower = engine.inspect_image("busybox")["GraphDriver"]["Data"]["LowerDir"]
    assert os.path.islink(os.path.join(lower, "bin/sh"))
    assert os.readlink(os.path.join(lower, "bin/sh")) == "busybox"


def test_import_ids_match_docker_definitions(engine, tmp_path):
    data = rootfs_tar({"hello.txt": b"hello\n", "etc/motd": b"hi\n"})
    iid = engine.import_image(io.BytesIO(data), "example/app:1")
    cfg = engine.inspect_image("example/app:1")
    # diff id = sha256 of the uncompressed tar; image id = sha256 of the config bytes.
    assert cfg["RootFS"]["Layers"] == ["sha256:" + hashlib.sha256(data).hexdigest()]
    config_bytes = open(os.path.join(engine.root, "blobs/sha256", iid[7:]), "rb").read()
    assert iid == "sha256:" + hashlib.sha256(config_bytes).hexdigest()
    assert cfg["RepoTags"] == ["example/app:1"]
    assert cfg["Manifest"]["Layers"][0]["MediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    validate("config", config_bytes)
    man = open(os.path.join(engine.root, "blobs/sha256", cfg["Manifest"]["Digest"][7:]), "rb").read()
    validate("manifest", man)


def test_reference_resolution_and_errors(engine, starter):
    # Short names resolve as podman does: docker.io first, then localhost.
    assert engine.image("busybox").id == starter
    assert engine.image("localhost/busybox").id == starter
    assert engine.image(starter[7:15]).id == starter
    assert engine.image(starter).id == starter
    with pytest.raises(NotFound, match="no such image: nosuch"):
        engine.image("nosuch")
    with pytest.raises(InvalidReference, match="must be lowercase"):
        engine.image("BusyBox/Thing")
    engine.tag("busybox", "docker.io/library/busybox:latest")
    other = engine.import_image(io.BytesIO(rootfs_tar({"x": b"1"})), "docker.io/library/busybox:latest")
    # Now docker.io's busybox exists and wins over localhost's.
    assert engine.image("busybox").id == other
    # Ambiguous prefixes name the candidates: 17 images, 16 first hex digits.
    ids = [starter, other] + [engine.import_image(io.BytesIO(rootfs_tar({"n": str(i).encode()}))) for i in range(15)]
    first = [i[7] for i in ids]
    dup = next(c for c in first if first.count(c) > 1)
    with pytest.raises(AmbiguousReference, match=f'short id "{dup}" is ambiguous'):
        engine.image(dup)


def test_tag_and_rmi_follow_docker(engine, starter):
    engine.tag("busybox", "mine:v1")
    engine.tag("busybox", "mine:v2")
    # An id with several tags needs -f.
    with pytest.raises(Conflict, match="must be forced"):
        engine.remove_image(starter[7:19])
    # Removing one tag of several only untags.
    assert engine.remove_image("mine:v1") == [("Untagged", "docker.io/library/mine:v1")]
    assert engine.image("mine:v2").id == starter
    out = engine.remove_image(starter[7:19], force=True)
    assert ("Deleted", starter) in out
    assert engine.images() == []
    # Everything the image held is gone from disk.
    assert os.listdir(os.path.join(engine.root, "layers")) == []
    assert os.listdir(os.path.join(engine.root, "blobs/sha256")) == []
    assert engine.check().ok


def test_rmi_refused_while_a_container_uses_it(engine, starter):
    with engine.store.db.tx() as c:
        c.execute("INSERT INTO containers(id, name, image_id, created, state) VALUES (?,?,?,?,?)",
                  ("c" * 64, "user", starter, 0, "exited"))
    with pytest.raises(Conflict, match="container cccccccccccc is using"):
        engine.remove_image("busybox")
    assert engine.image("busybox").id == starter
    with engine.store.db.tx() as c:
        c.execute("DELETE FROM containers")


def test_history_and_inspect(engine, starter):
    h = engine.history("busybox")
    assert len(h) == 1 and h[0].id == starter and h[0].size > 0
    assert "busybox" in h[0].created_by
    doc = engine.inspect_image("busybox")
    assert doc["Config"]["Cmd"] == ["sh"]
    assert doc["RepoTags"] == ["localhost/busybox:latest"]


def test_save_load_round_trip_keeps_ids(engine, starter, tmp_path):
    data = rootfs_tar({"a": b"a" * 5000})
    engine.import_image(io.BytesIO(data), "two:layers")
    for fmt in ("docker-archive", "oci"):
        path = tmp_path / f"out-{fmt}.tar"
        with open(path, "wb") as f:
            engine.save(["busybox", "two:layers"], f, fmt)
        other = Engine(str(tmp_path / f"other-{fmt}"))
        try:
            loaded = other.load(str(path))
            assert sorted(i for i, _ in loaded) == sorted([starter, engine.image("two:layers").id])
            assert {t for i in other.images() for t in i.tags} == {"localhost/busybox:latest", "two:layers"}
            assert other.inspect_image("busybox")["RootFS"] == engine.inspect_image("busybox")["RootFS"]
            assert other.check().ok
        finally:
            other.close()


def test_cli_images_save_load_rmi(tmp_path):
    root = str(tmp_path / "cli")
    data = rootfs_tar({"f": b"x" * 100})
    (tmp_path / "r.tar").write_bytes(data)
    iid = run_cli("import", str(tmp_path / "r.tar"), "cli/img:t", root=root).stdout.decode().strip()
    assert iid.startswith("sha256:")
    out = run_cli("images", root=root).stdout.decode().splitlines()
    assert out[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert out[1].split()[:3] == ["cli/img", "t", iid[7:19]]
    js = json.loads(run_cli("images", "--format", "json", root=root).stdout)
    assert js["Repository"] == "cli/img" and js["ID"] == iid[7:19]
    assert run_cli("images", "-q", root=root).stdout.decode().split() == [iid[7:19]]
    archive = run_cli("save", "cli/img:t", root=root).stdout
    root2 = str(tmp_path / "cli2")
    p = run_cli("load", root=root2, input=archive)
    assert p.stdout.decode().strip() == "Loaded image: cli/img:t"
    assert run_cli("rmi", "cli/img:t", root=root2).stdout.decode().splitlines() == [
        "Untagged: cli/img:t", f"Deleted: {iid}"]
    bad = run_cli("rmi", "nope:1", root=root2, check=False)
    assert bad.returncode == 1 and b"no such image: nope:1" in bad.stderr
    bad = run_cli("inspect", "nope", root=root2, check=False)
    assert bad.returncode == 125 and b"Error: no such object: nope" in bad.stderr
    df = run_cli("system", "df", root=root).stdout.decode()
    assert df.splitlines()[1].split()[:3] == ["Images", "1", "0"]
    assert "consistent" in run_cli("check", root=root).stdout.decode()


def test_root_is_private(engine):
    assert oct(os.stat(engine.root).st_mode & 0o777) == "0o700"
