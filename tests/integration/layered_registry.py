"""A real registry on 127.0.0.1 (registry_helpers.py's RegistryProcess: Debian's
docker-registry) holding a three-layer image, for the progress tests (the
command line's bars in tmux, the TUI's pull dialog). The image is put through
the distribution API by hand: an OCI manifest, a config, three uncompressed
tar layers, one of them large enough (6 MB of random bytes) for the pull to
report byte counts."""
import hashlib
import io
import json
import os
import shutil
import tarfile
import threading
import urllib.request

import pytest

from tests.conftest import need_root, need_tool
from tests.integration.registry_helpers import Proxy, RegistryProcess

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1_700_000_000
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def seed_layered(reg: RegistryProcess, repo: str, tag: str) -> dict:
    """Pushes a 3-layer image; returns its image id and its layers' short ids."""
    rnd = hashlib.sha256(b"dockyard").digest()
    big = b"".join(hashlib.sha256(rnd + i.to_bytes(4, "big")).digest() for i in range(6 * 1024 * 1024 // 32))
    layers = [_tar({"etc/one.txt": b"one\n"}), _tar({"big.bin": big}), _tar({"etc/three.txt": b"three\n"})]
    diff_ids = ["sha256:" + hashlib.sha256(t).hexdigest() for t in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/big.bin"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids},
                         "history": [{"created_by": f"layer {i}"} for i in range(3)]}).encode()
    descs = []
    for t in layers:
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": reg.put_blob(repo, t),
                      "size": len(t)})
    cdigest = reg.put_blob(repo, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cdigest,
                                      "size": len(config)}, "layers": descs}).encode()
    reg.put_manifest(repo, tag, manifest, OCI_MANIFEST)
    return {"image_id": cdigest, "shorts": [d["digest"][7:19] for d in descs],
            "ref": f"{reg.host}/{repo}:{tag}"}


class SlowBlob(Proxy):
    """The registry behind a proxy that sends half of one blob, then waits for
    `go` before the rest: the pull is caught mid-download."""

    def __init__(self, upstream, digest: str):
        super().__init__(upstream)
        self.half_sent, self.go = threading.Event(), threading.Event()
        handler = self.server.RequestHandlerClass
        plain_get = handler.do_GET
        proxy = self

        def do_GET(h):
            if not h.path.endswith("/blobs/" + digest):
                return plain_get(h)
            with urllib.request.urlopen(f"http://{upstream.host}{h.path}") as r:
                body = r.read()
            h.send_response(200)
            h.send_header("Content-Length", str(len(body)))
            h.send_header("Content-Type", "application/octet-stream")
            h.end_headers()
            h.wfile.write(body[:len(body) // 2])
            h.wfile.flush()
            proxy.half_sent.set()
            proxy.go.wait(60)
            h.wfile.write(body[len(body) // 2:])

        handler.do_GET = do_GET


@pytest.fixture(scope="module")
def layered(tmp_path_factory):
    """{"reg": the registry, "image": seed_layered's answer for x/layered:1}."""
    need_root()
    need_tool("docker-registry")
    base = str(tmp_path_factory.mktemp("layered-registry"))
    reg = RegistryProcess(os.path.join(base, "registry"))
    try:
        yield {"reg": reg, "image": seed_layered(reg, "x/layered", "1")}
    finally:
        reg.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_docker_config(tmp_path, monkeypatch):
    """Credentials come from docker's config.json by default: the machine's own stays out."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("DOCKYARD_CONFIG", str(tmp_path / "dockyard-config.yaml"))
