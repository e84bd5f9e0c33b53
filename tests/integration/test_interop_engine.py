"""The whole path through the engine and the CLI against podman and skopeo:
dockyard save → podman load (same id and diff ids, and it runs there);
podman save → dockyard load (same ids, same files)."""
import json
import os

import pytest

from engine import Engine
from tests.conftest import run_cli
from tests.integration.test_archive_interop import ULIMITS, work  # noqa: F401  (the podman fixture)
from tests.integration.test_images import rootfs_tar


@pytest.mark.parametrize("fmt", ["docker-archive", "oci"])
def test_dockyard_save_runs_in_podman(work, engine, starter, tmp_path, fmt):  # noqa: F811
    engine.tag("busybox", "interop/box:1")
    path = str(tmp_path / "box.tar")
    with open(path, "wb") as f:
        engine.save(["interop/box:1"], f, fmt)
    work.podman("load", "-i", path)
    mine = engine.inspect_image("interop/box:1")
    theirs = work.inspect("docker.io/interop/box:1")
    assert "sha256:" + theirs["Id"].removeprefix("sha256:") == mine["Id"]
    assert theirs["RootFS"]["Layers"] == mine["RootFS"]["Layers"]
    out = work.podman("run", "--rm", *ULIMITS, "--network", "none", "docker.io/interop/box:1",
                      "sh", "-c", "echo hi from $(cat /etc/passwd | head -1 | cut -d: -f1)")
    assert out.strip() == "hi from root"
    if fmt == "docker-archive":
        cfg = json.loads(work.skopeo("inspect", "--config", f"docker-archive:{path}"))
        assert cfg["rootfs"]["diff_ids"] == mine["RootFS"]["Layers"]
    else:
        info = json.loads(work.skopeo("inspect", f"oci-archive:{path}"))
        assert info["Digest"] == mine["Manifest"]["Digest"]


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_podman_save_loads_in_dockyard(work, tmp_path, fmt):  # noqa: F811
    src = tmp_path / "rootfs.tar"
    src.write_bytes(rootfs_tar({"etc/hello": b"hello from podman\n", "bin/data": b"\x00" * 70000}))
    work.podman("import", str(src), "localhost/frompodman:2")
    theirs = work.inspect("localhost/frompodman:2")
    saved = str(tmp_path / "saved.tar")
    work.podman("save", "--format", fmt, "-o", saved, "localhost/frompodman:2")
    root = str(tmp_path / "dy")
    out = run_cli("load", "-i", saved, root=root).stdout.decode()
    assert "Loaded image: localhost/frompodman:2" in out
    eng = Engine(root)
    try:
        mine = eng.inspect_image("frompodman:2")
        assert mine["Id"] == "sha256:" + theirs["Id"].removeprefix("sha256:")
        assert mine["RootFS"]["Layers"] == theirs["RootFS"]["Layers"]
        lower = mine["GraphDriver"]["Data"]["LowerDir"]
        with open(os.path.join(lower, "etc/hello"), "rb") as f:
            assert f.read() == b"hello from podman\n"
        assert os.path.getsize(os.path.join(lower, "bin/data")) == 70000
        assert eng.check().ok
    finally:
        eng.close()
