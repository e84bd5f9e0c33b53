"""build's FROM pulls, against the real registry on 127.0.0.1
(registry_helpers.py): a missing base is pulled (the default), `--pull`
pulls a newer image under the same tag (and the cache follows the new
base's id), `FROM name@sha256:…` by digest; the pull's lines are in the
build's output."""
import json
import os
import shutil

import pytest

from tests.conftest import need_root, need_tool, run_cli
from tests.integration.registry_helpers import RegistryProcess, Source, skopeo_push


@pytest.fixture(autouse=True)
def no_docker_config(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("DOCKYARD_CONFIG", str(tmp_path / "dockyard-config.yaml"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    need_root()
    need_tool("busybox")
    need_tool("skopeo")
    need_tool("docker-registry")
    base = str(tmp_path_factory.mktemp("buildpull"))
    src = Source(base)
    reg = RegistryProcess(os.path.join(base, "registry"))
    try:
        yield {"src": src, "reg": reg}
    finally:
        reg.stop()
        shutil.rmtree(base, ignore_errors=True)


def _build(root: str, ctx, text: str, *flags: str, check: bool = True):
    (ctx / "Dockerfile").write_text(text)
    return run_cli("build", *flags, "-t", "localhost/out:1", str(ctx), root=root, check=check)


def _base_layers(root: str) -> list[str]:
    (doc,) = json.loads(run_cli("inspect", "localhost/out:1", root=root).stdout)
    return doc["RootFS"]["Layers"]


def test_a_missing_from_image_is_pulled_and_pull_always_pulls_again(world, tmp_path):
    reg, src = world["reg"], world["src"]
    name = f"{reg.host}/x/base:1"
    skopeo_push(src.tars[src.busybox], name)
    root, ctx = str(tmp_path / "root"), tmp_path / "ctx"
    ctx.mkdir()
    text = f"FROM {name}\nLABEL built=yes\n"
    err = _build(root, ctx, text).stderr.decode()
    assert f"Unable to find image '{name}' locally" in err and "1: Pulling from x/base" in err, err
    assert f"Status: Downloaded newer image for {name}" in err
    assert _base_layers(root) == src.diff_ids[src.busybox]
    # present now: no pull, the LABEL step cached
    err = _build(root, ctx, text).stderr.decode()
    assert "Pulling from" not in err and "CACHED" in err, err
    # the tag moves to another image: without --pull the stored one stays the base
    skopeo_push(src.tars[src.other], name)
    _build(root, ctx, text)
    assert _base_layers(root) == src.diff_ids[src.busybox]
    # --pull: the newer image is pulled and becomes the base; the cache key is its id, so no CACHED
    err = _build(root, ctx, text, "--pull").stderr.decode()
    assert f"Status: Downloaded newer image for {name}" in err and "CACHED" not in err, err
    assert _base_layers(root) == src.diff_ids[src.other]
    err = _build(root, ctx, text, "--pull").stderr.decode()
    assert f"Status: Image is up to date for {name}" in err and "CACHED" in err, err
    out = run_cli("check", root=root).stdout.decode()
    assert out.rstrip().endswith(": consistent"), out


def test_from_by_digest_and_a_clear_error(world, tmp_path):
    reg, src = world["reg"], world["src"]
    digest = skopeo_push(src.tars[src.busybox], f"{reg.host}/x/pinned:1")
    root, ctx = str(tmp_path / "root"), tmp_path / "ctx"
    ctx.mkdir()
    err = _build(root, ctx, f"FROM {reg.host}/x/pinned@{digest}\nRUN echo pinned > /p\n").stderr.decode()
    assert f"{digest}: Pulling from x/pinned" in err, err
    assert _base_layers(root)[:-1] == src.diff_ids[src.busybox]
    assert run_cli("run", "--rm", "localhost/out:1", "cat", "/p", root=root).stdout == b"pinned\n"
    bad = _build(root, ctx, f"FROM {reg.host}/x/nothing:1\n", check=False)
    assert bad.returncode != 0
    msg = bad.stderr.decode()
    assert (f"Dockerfile:1: {reg.host}/x/nothing:1: image not found in the store, and pulling it failed: "
            f"manifest for {reg.host}/x/nothing:1 not found") in msg, msg
