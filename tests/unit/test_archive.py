"""docker-archive and OCI archive: write, read back, and reject broken archives."""
import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
import zstandard

from engine.errors import CorruptArchive, DigestMismatch, InvalidArgument, NotFound
from engine.images import archive
from engine.images import manifest as mf
from engine.images.archive_write import SaveImage, SaveLayer, familiar_name, write_docker_archive, write_oci_archive
from tests.oci_schema import validate


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1700000000
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def compress(data: bytes, kind: str) -> bytes:
    if kind == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    if kind == "gzip":
        return gzip.compress(data, mtime=0)
    return data


LAYER_TYPES = {"zstd": mf.OCI_LAYER_ZSTD, "gzip": mf.OCI_LAYER_GZIP, "none": mf.OCI_LAYER}


def make_image(tars: list[bytes], tags: list[str], kind: str = "zstd", env=("PATH=/bin",)) -> SaveImage:
    diff_ids = [sha(t) for t in tars]
    config = mf.dumps({
        "created": "2024-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
        "config": {"Env": list(env), "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"layer {i}"} for i in range(len(tars))],
    })
    layers = []
    for t in tars:
        blob = compress(t, kind)
        layers.append(SaveLayer(diff_id=sha(t), diff_size=len(t), open_uncompressed=lambda t=t: io.BytesIO(t),
                                blob_digest=sha(blob), blob_size=len(blob), media_type=LAYER_TYPES[kind],
                                open_blob=lambda b=blob: io.BytesIO(b)))
    manifest = mf.build_manifest(mf.descriptor(mf.OCI_CONFIG, config),
                                 [mf.descriptor(l.media_type, l.blob_digest, l.blob_size) for l in layers])
    return SaveImage(config=config, config_digest=sha(config), manifest=manifest, manifest_digest=sha(manifest),
                     layers=layers, repo_tags=tags)


BASE = layer_tar({"bin/sh": b"#!fake shell\n" * 100, "etc/passwd": b"root:x:0:0::/root:/bin/sh\n"})
TOP = layer_tar({"app/run": b"hello\n"})
OTHER = layer_tar({"other": b"x" * 5000})


def images():
    return [make_image([BASE, TOP], ["docker.io/library/busybox:latest", "localhost/app:1.0"]),
            make_image([BASE, OTHER], ["quay.io/org/other:v2"], kind="gzip", env=("A=b", "C=")),
            make_image([OTHER], [])]


def write(fn, imgs, path: Path, outer: str = "none") -> Path:
    buf = io.BytesIO()
    fn(buf, imgs)
    path.write_bytes(compress(buf.getvalue(), outer))
    return path


def members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return {m.name: (t.extractfile(m).read() if m.isreg() else None) for m in t.getmembers()}


def validate_layout(files: dict[str, bytes]) -> None:
    """Every oci-layout, index, manifest and config the archive holds validates."""
    validate("layout", files["oci-layout"])
    idx = validate("index", files["index.json"])
    for d in idx["manifests"]:
        m = files["blobs/sha256/" + d["digest"][7:]]
        assert sha(m) == d["digest"] and len(m) == d["size"]
        doc = validate("manifest", m)
        cfg = files["blobs/sha256/" + doc["config"]["digest"][7:]]
        assert sha(cfg) == doc["config"]["digest"]
        validate("config", cfg)
        mf.check_invariants(doc, json.loads(cfg))
        for l in doc["layers"]:
            blob = files["blobs/sha256/" + l["digest"][7:]]
            assert sha(blob) == l["digest"] and len(blob) == l["size"]


def read_all(layer) -> bytes:
    with layer.open() as f:
        return f.read()


# ---------------------------------------------------------------- docker-archive

@pytest.mark.parametrize("outer", ["none", "gzip", "zstd"])
def test_docker_archive_round_trip(tmp_path, outer):
    spool = tmp_path / "spool"
    spool.mkdir()
    src = images()
    path = write(write_docker_archive, src, tmp_path / "a.tar", outer)
    with archive.read_archive(str(path), str(spool)) as r:
        assert len(r.images) == 3
        for want, got in zip(src, r.images):
            assert got.config == want.config and got.config_digest == want.config_digest
            assert [read_all(l) for l in got.layers] == [l.open_uncompressed().read() for l in want.layers]
            assert [l.digest for l in got.layers] == [l.diff_id for l in want.layers]
            assert all(l.media_type is None for l in got.layers)
            assert [l.size for l in got.layers] == [l.diff_size for l in want.layers]
            assert got.manifest is not None
            validate("manifest", got.manifest)
        assert r.images[0].repo_tags == ["busybox:latest", "localhost/app:1.0"]
        assert r.images[1].repo_tags == ["quay.io/org/other:v2"]
        assert r.images[2].repo_tags == []
        if outer != "none":
            assert len(os.listdir(spool)) == 1
    assert os.listdir(spool) == []


def test_docker_archive_layout(tmp_path):
    buf = io.BytesIO()
    src = images()
    write_docker_archive(buf, src)
    files = members(buf.getvalue())
    validate_layout(files)
    entries = json.loads(files["manifest.json"])
    assert entries[0] == {"Config": "blobs/sha256/" + src[0].config_digest[7:],
                          "RepoTags": ["busybox:latest", "localhost/app:1.0"],
                          "Layers": ["blobs/sha256/" + sha(BASE)[7:], "blobs/sha256/" + sha(TOP)[7:]]}
    # uncompressed layers: file digest == diff id; BASE and OTHER shared, written once
    layer_files = {n for n, d in files.items() if d is not None and n.startswith("blobs/") and d[:1] != b"{"}
    assert layer_files == {"blobs/sha256/" + sha(t)[7:] for t in (BASE, TOP, OTHER)}
    assert json.loads(files["repositories"]) == {
        "busybox": {"latest": sha(TOP)[7:]}, "localhost/app": {"1.0": sha(TOP)[7:]},
        "quay.io/org/other": {"v2": sha(OTHER)[7:]}}
    idx = json.loads(files["index.json"])
    anns = [d.get("annotations") for d in idx["manifests"]]
    assert anns == [
        {mf.ANNOTATION_CONTAINERD_NAME: "docker.io/library/busybox:latest", mf.ANNOTATION_REF_NAME: "latest"},
        {mf.ANNOTATION_CONTAINERD_NAME: "localhost/app:1.0", mf.ANNOTATION_REF_NAME: "1.0"},
        {mf.ANNOTATION_CONTAINERD_NAME: "quay.io/org/other:v2", mf.ANNOTATION_REF_NAME: "v2"},
        None]
    assert idx["manifests"][0]["platform"] == {"architecture": "amd64", "os": "linux"}
    m = json.loads(files["blobs/sha256/" + idx["manifests"][0]["digest"][7:]])
    assert [l["mediaType"] for l in m["layers"]] == [mf.OCI_LAYER, mf.OCI_LAYER]


def test_output_is_deterministic_and_normalised():
    a, b = io.BytesIO(), io.BytesIO()
    write_docker_archive(a, images())
    write_docker_archive(b, images())
    assert a.getvalue() == b.getvalue()
    with tarfile.open(fileobj=io.BytesIO(a.getvalue())) as t:
        infos = t.getmembers()
    names = [i.name for i in infos]
    assert names == sorted(names)
    assert names[:2] == ["blobs", "blobs/sha256"]
    for i in infos:
        assert (i.mtime, i.uid, i.gid, i.uname, i.gname) == (0, 0, 0, "", "")
        assert i.mode == (0o755 if i.isdir() else 0o644)


class PipeLike:
    """A non-seekable sink, like stdout."""

    def __init__(self):
        self.chunks = []

    def write(self, b):
        self.chunks.append(bytes(b))
        return len(b)

    def flush(self):
        pass


@pytest.mark.parametrize("fn", [write_docker_archive, write_oci_archive])
def test_writes_to_non_seekable_stream(fn):
    out = PipeLike()
    fn(out, images())
    ref = io.BytesIO()
    fn(ref, images())
    assert b"".join(out.chunks) == ref.getvalue()
    assert len(ref.getvalue()) % (20 * 512) == 0


def test_legacy_docker_archive(tmp_path):
    """Docker < 25: <hex>.json configs, <id>/layer.tar layers, a shared layer as a symlink."""
    img1 = make_image([BASE, TOP], [])
    img2 = make_image([BASE], [])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        def add(name, data=None, link=None, kind=tarfile.REGTYPE):
            ti = tarfile.TarInfo(name)
            if link:
                ti.type, ti.linkname = tarfile.SYMTYPE, link
            elif kind == tarfile.DIRTYPE:
                ti.type = kind
            else:
                ti.size = len(data)
            t.addfile(ti, io.BytesIO(data) if data is not None else None)
        add("aaa", kind=tarfile.DIRTYPE)
        add("aaa/layer.tar", BASE)
        add("aaa/VERSION", b"1.0")
        add("bbb/layer.tar", TOP)
        add("ccc/layer.tar", link="../aaa/layer.tar")
        add(img1.config_digest[7:] + ".json", img1.config)
        add(img2.config_digest[7:] + ".json", img2.config)
        add("./manifest.json", json.dumps([
            {"Config": img1.config_digest[7:] + ".json", "RepoTags": ["busybox:latest"],
             "Layers": ["aaa/layer.tar", "bbb/layer.tar"]},
            {"Config": img2.config_digest[7:] + ".json", "RepoTags": None, "Layers": ["ccc/layer.tar"]},
        ]).encode())
        add("repositories", b'{"busybox":{"latest":"bbb"}}')
    p = tmp_path / "legacy.tar"
    p.write_bytes(buf.getvalue())
    with archive.read_archive(str(p), str(tmp_path)) as r:
        a, b = r.images
        assert a.config_digest == img1.config_digest and a.repo_tags == ["busybox:latest"]
        assert [read_all(l) for l in a.layers] == [BASE, TOP]
        assert [l.digest for l in a.layers] == [None, None]
        assert b.repo_tags == [] and [read_all(l) for l in b.layers] == [BASE]
        assert a.manifest is None


# ---------------------------------------------------------------- OCI archive

@pytest.mark.parametrize("outer", ["none", "gzip", "zstd"])
def test_oci_archive_round_trip(tmp_path, outer):
    src = images()
    path = write(write_oci_archive, src, tmp_path / "o.tar", outer)
    with archive.read_archive(str(path), str(tmp_path)) as r:
        assert len(r.images) == 3
        for want, got in zip(src, r.images):
            assert got.config == want.config and got.config_digest == want.config_digest
            assert got.manifest == want.manifest
            assert [read_all(l) for l in got.layers] == [l.open_blob().read() for l in want.layers]
            assert [(l.digest, l.size, l.media_type) for l in got.layers] == [
                (l.blob_digest, l.blob_size, l.media_type) for l in want.layers]
        assert r.images[0].repo_tags == ["docker.io/library/busybox:latest", "localhost/app:1.0"]
        assert r.images[2].repo_tags == []
    assert sorted(os.listdir(tmp_path)) == ["o.tar"]


def test_oci_archive_layout():
    buf = io.BytesIO()
    write_oci_archive(buf, images())
    files = members(buf.getvalue())
    validate_layout(files)
    assert "manifest.json" not in files
    idx = json.loads(files["index.json"])
    assert idx["manifests"][0]["annotations"] == {
        mf.ANNOTATION_CONTAINERD_NAME: "docker.io/library/busybox:latest",
        mf.ANNOTATION_REF_NAME: "docker.io/library/busybox:latest"}
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as t:
        blobs = [m.name for m in t.getmembers() if m.name.startswith("blobs/sha256/")]
    # 3 manifests, 3 configs, layers as stored: zstd BASE, TOP, OTHER and gzip BASE, OTHER
    assert len(blobs) == len(set(blobs)) == 3 + 3 + 5
    assert files["blobs/sha256/" + sha(compress(TOP, "zstd"))[7:]] == compress(TOP, "zstd")


def build_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return path


def oci_files(img: SaveImage, index_descs: list[dict], extra: dict | None = None) -> dict[str, bytes]:
    files = {"oci-layout": mf.OCI_LAYOUT, "index.json": mf.build_index(index_descs),
             "blobs/sha256/" + img.manifest_digest[7:]: img.manifest,
             "blobs/sha256/" + img.config_digest[7:]: img.config}
    for l in img.layers:
        files["blobs/sha256/" + l.blob_digest[7:]] = l.open_blob().read()
    files.update(extra or {})
    return files


def test_nested_index_picks_host_platform(tmp_path):
    host = make_image([TOP], [])
    other = make_image([OTHER], [])
    arch = archive.host_arch()
    foreign = "s390x" if arch != "s390x" else "arm64"
    nested = mf.build_index([
        mf.descriptor(mf.OCI_MANIFEST, other.manifest, platform={"architecture": foreign, "os": "linux"}),
        mf.descriptor(mf.OCI_MANIFEST, host.manifest, platform={"architecture": arch, "os": "linux"}),
        mf.descriptor(mf.OCI_MANIFEST, other.manifest, platform={"architecture": "unknown", "os": "unknown"}),
    ])
    files = oci_files(host, [mf.descriptor(mf.OCI_INDEX, nested, annotations={
        mf.ANNOTATION_CONTAINERD_NAME: "docker.io/library/multi:latest", mf.ANNOTATION_REF_NAME: "latest"})],
        extra={"blobs/sha256/" + sha(nested)[7:]: nested})
    with archive.read_archive(str(build_tar(tmp_path / "n.tar", files)), str(tmp_path)) as r:
        (img,) = r.images
        assert img.config_digest == host.config_digest
        assert img.repo_tags == ["docker.io/library/multi:latest"]
        assert [read_all(l) for l in img.layers] == [compress(TOP, "zstd")]

    only_foreign = mf.build_index([
        mf.descriptor(mf.OCI_MANIFEST, host.manifest, platform={"architecture": foreign, "os": "linux"}),
        mf.descriptor(mf.OCI_MANIFEST, other.manifest, platform={"architecture": foreign, "os": "windows"})])
    files = oci_files(host, [mf.descriptor(mf.OCI_INDEX, only_foreign)],
                      extra={"blobs/sha256/" + sha(only_foreign)[7:]: only_foreign})
    with pytest.raises(NotFound, match="no image for linux/"):
        archive.read_archive(str(build_tar(tmp_path / "f.tar", files)), str(tmp_path))


def test_ref_name_only_tag_and_merged_entries(tmp_path):
    img = make_image([TOP], [])
    files = oci_files(img, [
        mf.descriptor(mf.OCI_MANIFEST, img.manifest, annotations={mf.ANNOTATION_REF_NAME: "latest"}),
        mf.descriptor(mf.OCI_MANIFEST, img.manifest, annotations={mf.ANNOTATION_REF_NAME: "v1"}),
        {"mediaType": "application/vnd.example.artifact+json", "digest": D_UNUSED, "size": 3},
    ])
    with archive.read_archive(str(build_tar(tmp_path / "t.tar", files)), str(tmp_path)) as r:
        (got,) = r.images
        assert got.repo_tags == ["latest", "v1"]


D_UNUSED = "sha256:" + "9" * 64


# ---------------------------------------------------------------- broken archives

def docker_bytes() -> bytes:
    buf = io.BytesIO()
    write_docker_archive(buf, images()[:1])
    return buf.getvalue()


@pytest.mark.parametrize("outer", ["none", "gzip", "zstd"])
def test_truncated_archive(tmp_path, outer):
    data = docker_bytes()
    # cut "none" inside the data of the largest member; compressed ones half way
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        big = max((m for m in t.getmembers() if m.isreg()), key=lambda m: m.size)
        cut = big.offset_data + big.size // 2
    p = tmp_path / "t.tar"
    p.write_bytes(compress(data, outer)[: len(compress(data, outer)) // 2] if outer != "none" else data[:cut])
    with pytest.raises(CorruptArchive, match="truncated or corrupt"):
        archive.read_archive(str(p), str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["t.tar"]   # spool file removed


def test_truncated_at_member_boundary_before_metadata(tmp_path):
    data = docker_bytes()
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        ms = t.getmembers()
    idx = [m.name for m in ms].index("index.json")
    p = tmp_path / "t.tar"
    p.write_bytes(data[:ms[idx].offset])   # everything after the blobs is gone
    with pytest.raises(CorruptArchive, match="not a docker-archive"):
        archive.read_archive(str(p), str(tmp_path))


def rewrite(data: bytes, change) -> bytes:
    """Copy a tar, letting change(name, bytes) return new bytes (or None to drop)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for m in src.getmembers():
            body = src.extractfile(m).read() if m.isreg() else None
            if body is not None:
                body = change(m.name, body)
                if body is None:
                    continue
                m.size = len(body)
            dst.addfile(m, io.BytesIO(body) if body is not None else None)
    return out.getvalue()


def test_manifest_names_missing_member(tmp_path):
    gone = "blobs/sha256/" + sha(TOP)[7:]
    data = rewrite(docker_bytes(), lambda n, b: None if n == gone else b)
    p = tmp_path / "m.tar"
    p.write_bytes(data)
    with pytest.raises(CorruptArchive, match=f"no member '{gone}'"):
        archive.read_archive(str(p), str(tmp_path))


def test_config_not_matching_its_name(tmp_path):
    img = images()[0]
    cfg = "blobs/sha256/" + img.config_digest[7:]
    data = rewrite(docker_bytes(), lambda n, b: b.replace(b"PATH=/bin", b"PATH=/xyz") if n == cfg else b)
    p = tmp_path / "c.tar"
    p.write_bytes(data)
    with pytest.raises(DigestMismatch, match=f"config {cfg} .*does not match its name"):
        archive.read_archive(str(p), str(tmp_path))


def test_oci_config_not_matching_descriptor(tmp_path):
    img = images()[0]
    cfg = "blobs/sha256/" + img.config_digest[7:]
    buf = io.BytesIO()
    write_oci_archive(buf, [img])
    data = rewrite(buf.getvalue(), lambda n, b: b.replace(b"PATH=/bin", b"PATH=/xyz") if n == cfg else b)
    p = tmp_path / "c.tar"
    p.write_bytes(data)
    with pytest.raises(DigestMismatch, match=f"{cfg} .*does not match its digest"):
        archive.read_archive(str(p), str(tmp_path))


def test_oci_layer_size_mismatch(tmp_path):
    img = images()[0]
    lay = "blobs/sha256/" + img.layers[1].blob_digest[7:]
    buf = io.BytesIO()
    write_oci_archive(buf, [img])
    p = tmp_path / "l.tar"
    p.write_bytes(rewrite(buf.getvalue(), lambda n, b: b + b"x" if n == lay else b))
    with pytest.raises(DigestMismatch, match="descriptor says"):
        archive.read_archive(str(p), str(tmp_path))


@pytest.mark.parametrize("content", [b"", b"this is not an archive at all\n" * 100, os.urandom(4096)])
def test_garbage_file(tmp_path, content):
    p = tmp_path / "g.tar"
    p.write_bytes(content)
    with pytest.raises(CorruptArchive, match="not a docker-archive or OCI archive"):
        archive.read_archive(str(p), str(tmp_path))


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(NotFound, match="no such file"):
        archive.read_archive(str(tmp_path / "nope.tar"), str(tmp_path))
    with pytest.raises(CorruptArchive, match="is a directory"):
        archive.read_archive(str(tmp_path), str(tmp_path))


def test_tar_of_neither_kind(tmp_path):
    p = build_tar(tmp_path / "x.tar", {"hello.txt": b"hi"})
    with pytest.raises(CorruptArchive, match="not a docker-archive .*nor an OCI archive"):
        archive.read_archive(str(p), str(tmp_path))


def test_gzip_garbage(tmp_path):
    p = tmp_path / "g.tar.gz"
    p.write_bytes(gzip.compress(b"plain text, no tar"))
    with pytest.raises(CorruptArchive, match="not a docker-archive or OCI archive"):
        archive.read_archive(str(p), str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["g.tar.gz"]


@pytest.mark.parametrize("bad", ["../evil/layer.tar", "/etc/passwd", "a/../../b"])
def test_unsafe_path_in_manifest_json(tmp_path, bad):
    img = images()[0]
    entry = [{"Config": img.config_digest[7:] + ".json", "RepoTags": [], "Layers": [bad, "l2"]}]
    p = build_tar(tmp_path / "u.tar", {img.config_digest[7:] + ".json": img.config,
                                       "manifest.json": json.dumps(entry).encode(), "l2": TOP})
    with pytest.raises(CorruptArchive, match="outside the archive"):
        archive.read_archive(str(p), str(tmp_path))


def test_symlink_escaping_archive(tmp_path):
    img = make_image([TOP], [])
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in {img.config_digest[7:] + ".json": img.config,
                           "manifest.json": json.dumps([{"Config": img.config_digest[7:] + ".json",
                                                         "Layers": ["x/layer.tar"]}]).encode()}.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        ti = tarfile.TarInfo("x/layer.tar")
        ti.type, ti.linkname = tarfile.SYMTYPE, "../../etc/passwd"
        t.addfile(ti)
    p = tmp_path / "s.tar"
    p.write_bytes(buf.getvalue())
    with pytest.raises(CorruptArchive, match="outside the archive"):
        archive.read_archive(str(p), str(tmp_path))


def test_layer_count_mismatch(tmp_path):
    img = make_image([BASE, TOP], [])
    cfg = img.config_digest[7:] + ".json"
    p = build_tar(tmp_path / "c.tar", {cfg: img.config, "l1": BASE, "manifest.json": json.dumps(
        [{"Config": cfg, "RepoTags": [], "Layers": ["l1"]}]).encode()})
    with pytest.raises(CorruptArchive, match="1 layers but the config has 2 diff ids"):
        archive.read_archive(str(p), str(tmp_path))


def test_truncated_layer_stream_raises_corrupt(tmp_path):
    """A member whose data is cut short after the archive was indexed still fails clearly."""
    img = make_image([BASE], [])
    buf = io.BytesIO()
    write_docker_archive(buf, [img])
    p = tmp_path / "a.tar"
    p.write_bytes(buf.getvalue())
    with archive.read_archive(str(p), str(tmp_path)) as r:
        layer = r.images[0].layers[0]
        with open(p, "r+b") as f:
            f.truncate(os.path.getsize(p) // 3)
        with pytest.raises(CorruptArchive, match="truncated or corrupt"):
            read_all(layer)


# ---------------------------------------------------------------- writer errors

def _with_stream(img: SaveImage, data: bytes) -> SaveImage:
    l = img.layers[-1]
    l.open_uncompressed = lambda: io.BytesIO(data)
    l.open_blob = lambda: io.BytesIO(data)
    return img


@pytest.mark.parametrize("fn", [write_docker_archive, write_oci_archive])
@pytest.mark.parametrize("change", ["short", "long", "other"])
def test_writer_rejects_stream_not_matching_declaration(fn, change):
    img = images()[0]
    real = img.layers[-1].open_uncompressed().read() if fn is write_docker_archive else img.layers[-1].open_blob().read()
    data = {"short": real[:-1], "long": real + b"\0", "other": bytes(len(real))}[change]
    with pytest.raises(DigestMismatch):
        fn(io.BytesIO(), [_with_stream(img, data)])


class ShortReads(io.RawIOBase):
    """A stream that returns a few bytes at a time, like a pipe or a decompressor."""

    def __init__(self, data):
        self._f = io.BytesIO(data)

    def readable(self):
        return True

    def read(self, n=-1):
        return self._f.read(min(n, 777) if n and n > 0 else 777)


def test_writer_handles_short_reads(tmp_path):
    img = images()[0]
    for l in img.layers:
        t = l.open_uncompressed().read()
        l.open_uncompressed = lambda t=t: ShortReads(t)
    p = write(write_docker_archive, [img], tmp_path / "s.tar")
    with archive.read_archive(str(p), str(tmp_path)) as r:
        assert [read_all(l) for l in r.images[0].layers] == [BASE, TOP]


def test_writer_checks_image_consistency():
    img = images()[0]
    img.config_digest = sha(b"other")
    with pytest.raises(DigestMismatch, match="config"):
        write_docker_archive(io.BytesIO(), [img])
    img = images()[0]
    img.layers = img.layers[:1]
    with pytest.raises(CorruptArchive):
        write_oci_archive(io.BytesIO(), [img])
    img = images()[0]
    img.repo_tags = ["busybox"]
    with pytest.raises(InvalidArgument, match="no tag"):
        write_docker_archive(io.BytesIO(), [img])


def test_same_image_twice_is_one_entry():
    a = images()[0]
    b = images()[0]
    b.repo_tags = ["docker.io/library/busybox:1", "localhost/app:1.0"]
    buf = io.BytesIO()
    write_docker_archive(buf, [a, b])
    entries = json.loads(members(buf.getvalue())["manifest.json"])
    assert len(entries) == 1
    assert entries[0]["RepoTags"] == ["busybox:latest", "localhost/app:1.0", "busybox:1"]


@pytest.mark.parametrize("full, familiar", [
    ("docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/library/busybox", "busybox"),
    ("docker.io/myorg/app:1", "myorg/app:1"),
    ("docker.io/library/a/b:1", "library/a/b:1"),
    ("localhost/x:latest", "localhost/x:latest"),
    ("localhost:5000/x:1", "localhost:5000/x:1"),
    ("quay.io/library/busybox:1", "quay.io/library/busybox:1"),
])
def test_familiar_name(full, familiar):
    assert familiar_name(full) == familiar
