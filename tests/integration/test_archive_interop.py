"""docker-archive and OCI archives against the real podman and skopeo: what we write
loads there with the same image id and diff ids, and what podman saves reads here.

podman runs with a private --root/--runroot in a temporary folder (vfs driver: no
mounts to undo) and its temporary files in that folder too; the folder is removed
after each test. Under CI=true a missing tool or missing root fails, never skips."""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile

import pytest
import zstandard

from engine.images import archive
from engine.images import manifest as mf
from engine.images.archive_write import SaveImage, SaveLayer, write_docker_archive, write_oci_archive
from engine.layers import compression
from tests.conftest import need_root, need_tool
from tests.oci_schema import validate

ULIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


class Podman:
    def __init__(self, base: str):
        self.base = base
        self.tmp = os.path.join(base, "tmp")
        os.makedirs(self.tmp)
        self.env = dict(os.environ, TMPDIR=self.tmp)
        self.flags = ["--root", os.path.join(base, "root"), "--runroot", os.path.join(base, "run"),
                      "--storage-driver", "vfs", "--runtime", "runc", "--cgroup-manager=cgroupfs",
                      "--events-backend=file"]

    def run(self, tool: str, *args: str) -> str:
        cmd = ["podman", *self.flags, *args] if tool == "podman" else [tool, *args]
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.env, stdin=subprocess.DEVNULL,
                           timeout=240)
        if p.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {p.returncode}:\n{p.stderr}")
        return p.stdout

    def podman(self, *args: str) -> str:
        return self.run("podman", *args)

    def skopeo(self, *args: str) -> str:
        return self.run("skopeo", *args)

    def inspect(self, ref: str) -> dict:
        (doc,) = json.loads(self.podman("image", "inspect", ref))
        return doc


@pytest.fixture
def work():
    need_root()
    need_tool("podman")
    need_tool("skopeo")
    need_tool("runc")
    if not os.path.isfile("/bin/busybox"):
        need_tool("/bin/busybox")   # skips or fails with the reason
    base = tempfile.mkdtemp(prefix="dockyard-archive-interop-")
    try:
        yield Podman(base)
    finally:
        shutil.rmtree(base)


def busybox_rootfs_tar() -> bytes:
    """A busybox root: bin/busybox, bin/sh -> busybox, a minimal /etc/passwd and /etc/group."""
    buf = io.BytesIO()
    with open("/bin/busybox", "rb") as f:
        bb = f.read()

    def add(t, name, data=None, link=None, mode=0o644, is_dir=False):
        ti = tarfile.TarInfo(name)
        ti.mtime = 1_700_000_000
        if is_dir:
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        elif link:
            ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, link, 0o777
        else:
            ti.size, ti.mode = len(data), mode
        t.addfile(ti, io.BytesIO(data) if data is not None else None)

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for d in ("bin", "etc", "tmp"):
            add(t, d, is_dir=True)
        add(t, "bin/busybox", bb, mode=0o755)
        for name in ("sh", "echo", "cat", "ls"):
            add(t, f"bin/{name}", link="busybox")
        add(t, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
        add(t, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
    return buf.getvalue()


def extra_layer_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        data = b"hello from dockyard\n"
        ti = tarfile.TarInfo("greeting")
        ti.size, ti.mtime = len(data), 1_700_000_000
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def save_image(tars: list[bytes], tags: list[str]) -> SaveImage:
    """An image as the store would hand it over: zstd layers and an OCI manifest."""
    config = mf.dumps({
        "created": "2024-01-01T00:00:00Z", "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha(t) for t in tars]},
        "history": [{"created": "2024-01-01T00:00:00Z", "created_by": f"layer {i}"} for i in range(len(tars))],
    })
    layers = []
    for t in tars:
        blob = zstandard.ZstdCompressor().compress(t)
        layers.append(SaveLayer(diff_id=sha(t), diff_size=len(t), open_uncompressed=lambda t=t: io.BytesIO(t),
                                blob_digest=sha(blob), blob_size=len(blob), media_type=mf.OCI_LAYER_ZSTD,
                                open_blob=lambda b=blob: io.BytesIO(b)))
    manifest = mf.build_manifest(mf.descriptor(mf.OCI_CONFIG, config),
                                 [mf.descriptor(mf.OCI_LAYER_ZSTD, l.blob_digest, l.blob_size) for l in layers])
    validate("config", config)
    validate("manifest", manifest)
    return SaveImage(config=config, config_digest=sha(config), manifest=manifest, manifest_digest=sha(manifest),
                     layers=layers, repo_tags=tags)


def write_file(path: str, fn, images) -> str:
    with open(path, "wb") as f:
        fn(f, images)
    return path


def test_docker_archive_loads_in_podman_and_skopeo(work):
    base = busybox_rootfs_tar()
    img = save_image([base], ["docker.io/library/busybox:latest", "localhost/x:latest"])
    top = save_image([base, extra_layer_tar()], ["localhost/withgreeting:1"])
    path = write_file(os.path.join(work.base, "d.tar"), write_docker_archive, [img, top])

    work.podman("load", "-i", path)
    for want in (img, top):
        doc = work.inspect(want.config_digest[7:])
        assert doc["Id"] == want.config_digest[7:]
        assert doc["RootFS"]["Layers"] == [l.diff_id for l in want.layers]
    assert "localhost/x:latest" in work.inspect("localhost/x:latest")["RepoTags"]
    # podman's own rule: a short name from an archive ("busybox:latest") lands in localhost/
    assert sorted(work.inspect(img.config_digest[7:])["RepoTags"]) == ["localhost/busybox:latest", "localhost/x:latest"]
    out = work.podman("run", "--rm", *ULIMITS, "--network", "none", "localhost/withgreeting:1",
                      "sh", "-c", "cat /greeting; ls /bin")
    assert "hello from dockyard" in out and "busybox" in out

    config = json.loads(work.skopeo("inspect", "--config", f"docker-archive:{path}:localhost/x:latest"))
    assert config["rootfs"]["diff_ids"] == [img.layers[0].diff_id]
    ocidir = os.path.join(work.base, "ocidir")
    work.skopeo("copy", "-q", f"docker-archive:{path}:localhost/withgreeting:1", f"oci:{ocidir}:t")
    with open(os.path.join(ocidir, "index.json"), "rb") as f:
        validate("index", f.read())


def test_oci_archive_loads_in_podman_and_skopeo(work):
    img = save_image([busybox_rootfs_tar()], ["localhost/ociimg:latest"])
    path = write_file(os.path.join(work.base, "o.tar"), write_oci_archive, [img])

    doc = json.loads(work.skopeo("inspect", f"oci-archive:{path}"))
    assert doc["Digest"] == img.manifest_digest
    assert doc["Layers"] == [img.layers[0].blob_digest]
    config = json.loads(work.skopeo("inspect", "--config", f"oci-archive:{path}"))
    assert config["rootfs"]["diff_ids"] == [img.layers[0].diff_id]

    work.podman("load", "-i", path)
    doc = work.inspect("localhost/ociimg:latest")
    assert doc["Id"] == img.config_digest[7:]
    assert doc["RootFS"]["Layers"] == [img.layers[0].diff_id]
    out = work.podman("run", "--rm", *ULIMITS, "--network", "none", "localhost/ociimg:latest", "sh", "-c", "echo ok")
    assert out.strip() == "ok"


def _diff_id(layer: archive.ArchiveLayer) -> str:
    h = hashlib.sha256()
    with layer.open() as raw:
        stream = compression.open_decompressed(raw)
        while chunk := stream.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_podman_save_reads_back(work, fmt):
    src = os.path.join(work.base, "rootfs.tar")
    with open(src, "wb") as f:
        f.write(busybox_rootfs_tar())
    work.podman("import", src, "localhost/imported:1")
    doc = work.inspect("localhost/imported:1")
    saved = os.path.join(work.base, "saved.tar")
    work.podman("save", "--format", fmt, "-o", saved, "localhost/imported:1")

    with open(saved, "rb") as f:
        raw = f.read()
    gz = os.path.join(work.base, "saved.tar.gz")
    with open(gz, "wb") as f:
        f.write(gzip.compress(raw, compresslevel=1))
    spool = os.path.join(work.base, "spool")
    os.mkdir(spool)
    for path in (saved, gz):
        with archive.read_archive(path, spool) as r:
            (img,) = r.images
            assert img.config_digest == "sha256:" + doc["Id"]
            assert sha(img.config) == img.config_digest
            assert json.loads(img.config)["rootfs"]["diff_ids"] == doc["RootFS"]["Layers"]
            assert [_diff_id(l) for l in img.layers] == doc["RootFS"]["Layers"]
            assert img.repo_tags == ["localhost/imported:1"]
            if fmt == "oci-archive":
                assert img.manifest is not None
                validate("manifest", img.manifest)
                for l in img.layers:
                    with l.open() as f:
                        assert sha(f.read()) == l.digest
        assert os.listdir(spool) == []
