"""pull when things go wrong or happen at once, against the real registry on
127.0.0.1 (registry_helpers.py): two pulls of one layer at the same time,
a blob body cut off halfway (resumed with Range), a full disk, docker.io
mirrors from config.yaml."""
import io
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

from tests.conftest import ROOT, need_root, need_tool, run_cli
from tests.integration.registry_helpers import Proxy, RegistryProcess, Source, _free_port, skopeo_push

BIG = 12 << 20   # a layer of random bytes: more than the 8 MB tmpfs of the disk-full test, and slow enough to cut


@pytest.fixture(autouse=True)
def no_docker_config(tmp_path, monkeypatch):
    """Credentials and registry settings: the machine's own stay out."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("DOCKYARD_CONFIG", str(tmp_path / "dockyard-config.yaml"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A registry holding x/busybox:1 (the starter image), library/busybox:latest
    (the same, for docker.io's mirror) and x/big:1 (one 12 MB layer of random bytes)."""
    need_root()
    need_tool("busybox")
    need_tool("skopeo")
    need_tool("docker-registry")
    base = str(tmp_path_factory.mktemp("robust"))
    src = Source(base)
    from engine import Engine
    eng = Engine(src.root)
    try:
        buf = io.BytesIO()
        import tarfile
        with tarfile.open(fileobj=buf, mode="w") as t:
            ti = tarfile.TarInfo("big.bin")
            ti.size, ti.mtime = BIG, 1_700_000_000
            t.addfile(ti, io.BytesIO(os.urandom(BIG)))
        buf.seek(0)
        big = eng.import_image(buf, "localhost/big:1")
        big_tar = os.path.join(base, "big.tar")
        with open(big_tar, "wb") as f:
            eng.save(["localhost/big:1"], f)
    finally:
        eng.close()
    reg = RegistryProcess(os.path.join(base, "registry"))
    try:
        skopeo_push(src.tars[src.busybox], f"{reg.host}/x/busybox:1")
        skopeo_push(src.tars[src.busybox], f"{reg.host}/library/busybox:latest")
        skopeo_push(big_tar, f"{reg.host}/x/big:1")
        yield {"src": src, "reg": reg, "big": big}
    finally:
        reg.stop()
        shutil.rmtree(base, ignore_errors=True)


def _layer(reg, repo: str, tag: str) -> str:
    manifest, _ = reg.get_manifest(repo, tag)
    return json.loads(manifest)["layers"][0]["digest"]


def _store_clean(root: str) -> None:
    out = run_cli("check", root=root).stdout.decode()
    assert out.rstrip().endswith(": consistent"), out
    assert os.listdir(os.path.join(root, "tmp")) == []


def _cli(root: str, *args: str) -> subprocess.Popen:
    env = dict(os.environ, DOCKYARD_ROOT=root, PYTHONPATH=ROOT)
    return subprocess.Popen([sys.executable, "-m", "tui.cli", *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_two_pulls_at_once_fetch_the_layer_once(world, tmp_path):
    """Two `dockyard pull` processes of one image: the second waits for the
    first's layer instead of fetching it too (the proxy counts the blob's GETs)."""
    reg, src = world["reg"], world["src"]
    layer = _layer(reg, "x/busybox", "1")
    hold = threading.Event()
    proxy = Proxy(reg, hold=hold, hold_blobs=(layer,))
    root = str(tmp_path / "root")
    name = f"{proxy.host}/x/busybox:1"
    first = second = None
    try:
        first = _cli(root, "pull", name)
        assert proxy.holding.wait(60), "the first pull never asked for the layer"
        second = _cli(root, "pull", name)
        # Without the lock the second pull would fetch the layer too and block on `hold` with no
        # "Waiting": let it through after a while so that the test fails instead of hanging.
        release = threading.Timer(60, hold.set)
        release.start()
        seen = []
        for line in second.stdout:   # the second pull says it waits before the first may go on
            seen.append(line.decode().rstrip())
            if seen[-1] == f"{layer[7:19]}: Waiting":
                break
        assert seen and seen[-1] == f"{layer[7:19]}: Waiting", seen
        release.cancel()
        hold.set()
        out1, err1 = first.communicate(timeout=120)
        out2, err2 = second.communicate(timeout=120)
        assert first.returncode == 0, err1
        assert second.returncode == 0, err2
        assert f"{layer[7:19]}: Already exists" in out2.decode().splitlines(), out2
        assert f"{layer[7:19]}: Pull complete" in out1.decode().splitlines(), out1
        assert proxy.blob_gets(layer) == [None]   # one download of the layer for both pulls
        (doc,) = json.loads(run_cli("inspect", name, root=root).stdout)
        assert doc["Id"] == src.busybox
        _store_clean(root)
        run_cli("images", root=root)   # an engine start with no pull at work clears the lock files
        assert os.listdir(os.path.join(root, "pulls")) == []
    finally:
        hold.set()
        for p in (first, second):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
        proxy.stop()


def test_a_layer_lock_left_by_a_killed_pull_is_harmless(world, tmp_path):
    """kill -9 during a pull: its lock file stays, its flock is gone; the next pull goes on."""
    reg, src = world["reg"], world["src"]
    layer = _layer(reg, "x/busybox", "1")
    hold = threading.Event()
    proxy = Proxy(reg, hold=hold, hold_blobs=(layer,))
    root = str(tmp_path / "root")
    name = f"{proxy.host}/x/busybox:1"
    try:
        p = _cli(root, "pull", name)
        assert proxy.holding.wait(60)
        p.kill()
        p.communicate(timeout=60)
        assert os.listdir(os.path.join(root, "pulls"))   # left behind
        proxy.hold = None
        hold.set()
        out = run_cli("pull", name, root=root).stdout.decode().splitlines()
        assert f"{layer[7:19]}: Pull complete" in out and f"{layer[7:19]}: Waiting" not in out, out
        (doc,) = json.loads(run_cli("inspect", name, root=root).stdout)
        assert doc["Id"] == src.busybox
        _store_clean(root)
        run_cli("images", root=root)   # an engine start with no pull at work clears the lock files
        assert os.listdir(os.path.join(root, "pulls")) == []
    finally:
        hold.set()
        proxy.stop()


def test_a_dropped_connection_is_resumed_with_range(world, tmp_path):
    reg = world["reg"]
    layer = _layer(reg, "x/big", "1")
    proxy = Proxy(reg, drop=layer, drops=2)
    root = str(tmp_path / "root")
    name = f"{proxy.host}/x/big:1"
    try:
        run_cli("pull", name, root=root)
        gets = proxy.blob_gets(layer)
        assert proxy.dropped == 2 and gets[0] is None and len(gets) == 3, gets
        assert all(g.startswith("bytes=") and g.endswith("-") and int(g[6:-1]) > 0 for g in gets[1:]), gets
        (doc,) = json.loads(run_cli("inspect", name, root=root).stdout)
        assert doc["Id"] == world["big"]
        _store_clean(root)
    finally:
        proxy.stop()


def test_a_registry_that_cannot_resume_fails_clearly(world, tmp_path):
    reg = world["reg"]
    layer = _layer(reg, "x/big", "1")
    proxy = Proxy(reg, drop=layer, ignore_range=True)
    root = str(tmp_path / "root")
    try:
        bad = run_cli("pull", f"{proxy.host}/x/big:1", root=root, check=False)
        assert bad.returncode != 0
        err = bad.stderr.decode()
        assert f"layer blob {layer}" in err and "cannot resume it (it answered 200 to a Range request)" in err, err
        assert run_cli("images", "-q", root=root).stdout == b""
        _store_clean(root)
    finally:
        proxy.stop()


def test_disk_full_names_the_blob_and_leaves_nothing(world, tmp_path):
    reg = world["reg"]
    layer = _layer(reg, "x/big", "1")
    root = str(tmp_path / "small")
    os.makedirs(root)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", root], check=True)
    try:
        bad = run_cli("pull", f"{reg.host}/x/big:1", root=root, check=False)
        assert bad.returncode != 0
        err = bad.stderr.decode()
        assert f"no space left on device while pulling {layer} into {root}" in err, err
        assert run_cli("images", "-q", root=root).stdout == b""
        _store_clean(root)
        assert "note:" not in run_cli("check", root=root).stdout.decode()
        assert os.listdir(os.path.join(root, "layers")) == []
        assert os.listdir(os.path.join(root, "blobs", "sha256")) == []
    finally:
        from engine.runtime import zygote
        zygote.stop(root)   # the store's zygote keeps the mount busy
        subprocess.run(["umount", root], check=True)


def test_docker_io_pulls_go_to_the_mirrors_first(world, tmp_path):
    """config.yaml's mirrors serve `pull busybox`: a dead mirror falls through
    to the next, which has the image, so registry-1.docker.io is never asked."""
    reg, src = world["reg"], world["src"]
    proxy = Proxy(reg)
    dead = f"http://127.0.0.1:{_free_port()}"
    with open(os.environ["DOCKYARD_CONFIG"], "w") as f:
        f.write(f"registries:\n  mirrors: [{dead}, http://{proxy.host}]\n")
    root = str(tmp_path / "root")
    try:
        out = run_cli("pull", "busybox", root=root).stdout.decode().splitlines()
        assert out[0] == "latest: Pulling from library/busybox"
        assert out[-2:] == ["Status: Downloaded newer image for busybox:latest", "docker.io/library/busybox:latest"]
        assert any(line.startswith(f"mirror {dead} failed") for line in out), out
        assert ("GET", "/v2/library/busybox/manifests/latest", None) in proxy.requests
        (doc,) = json.loads(run_cli("inspect", "busybox", root=root).stdout)
        assert doc["Id"] == src.busybox
        assert any(d.startswith("busybox@sha256:") for d in doc["RepoDigests"]), doc
        assert run_cli("run", "--rm", "busybox", "echo", "mirrored", root=root).stdout == b"mirrored\n"
        _store_clean(root)
    finally:
        proxy.stop()


def _keep_identity_token(host: str, token: str) -> None:
    """config.json as `docker login` leaves it when the token server gave a refresh_token."""
    import base64
    os.makedirs(os.environ["DOCKER_CONFIG"], exist_ok=True)
    with open(os.path.join(os.environ["DOCKER_CONFIG"], "config.json"), "w") as f:
        json.dump({"auths": {host: {"auth": base64.b64encode(b"bob:").decode(), "identitytoken": token}}}, f)


def test_an_identity_token_is_a_refresh_token(world, tmp_path):
    """config.json's identitytoken: POST grant_type=refresh_token to the realm; a
    realm without that (404) gets GET with Basic, as docker's client falls back."""
    reg, src = world["reg"], world["src"]
    proxy = Proxy(reg, bearer="tok-rt", refresh_token="rt-1")
    try:
        name = f"{proxy.host}/x/busybox:1"
        _keep_identity_token(proxy.host, "rt-1")
        out = run_cli("pull", name, root=str(tmp_path / "root")).stdout.decode()
        assert "rt-1" not in out
        assert [(p["grant_type"], p["refresh_token"], p["service"], p["scope"]) for p in proxy.token_posts] == [
            ("refresh_token", "rt-1", "stub-registry", "repository:x/busybox:pull")]
        assert not [r for r in proxy.requests if r[0] == "GET" and r[1].startswith("/token")]
        (doc,) = json.loads(run_cli("inspect", name, root=str(tmp_path / "root")).stdout)
        assert doc["Id"] == src.busybox
        # `dockyard login HOST` with nothing given checks the kept identity token the same way
        p = run_cli("login", proxy.host, root=str(tmp_path / "root"))
        assert p.stdout.decode().splitlines() == ["Authenticating with existing credentials...", "Login Succeeded"]
        assert len(proxy.token_posts) == 2
        # a refresh token the server no longer takes: a clear error, never the token itself
        _keep_identity_token(proxy.host, "rt-old")
        bad = run_cli("pull", name, root=str(tmp_path / "root2"), check=False)
        err = bad.stderr.decode()
        assert bad.returncode != 0 and "refused the identity token" in err and "rt-old" not in err, err
        # no OAuth endpoint: GET with the token as Basic credentials
        proxy.oauth, proxy.token_creds = False, ("<token>", "rt-1")
        _keep_identity_token(proxy.host, "rt-1")
        run_cli("pull", name, root=str(tmp_path / "root3"))
        assert [r for r in proxy.requests if r[0] == "GET" and r[1].startswith("/token")]
    finally:
        proxy.stop()


def test_an_upper_layer_done_first_waits_for_the_one_below(world, tmp_path):
    """Layers download in parallel and the small top one finishes first: its
    rows name the layer below as parent, so it is recorded after that one
    (it failed with a foreign-key error before), and the pull succeeds."""
    reg, src = world["reg"], world["src"]
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "top.txt").write_text("on top\n")
    from engine import Engine
    eng = Engine(src.root)
    try:
        two = eng.build(str(ctx), tags=["localhost/two:1"],
                        dockerfile_text="FROM localhost/busybox:latest\nCOPY top.txt /top.txt\n")
        tar = str(tmp_path / "two.tar")
        with open(tar, "wb") as f:
            eng.save(["localhost/two:1"], f)
    finally:
        eng.close()
    skopeo_push(tar, f"{reg.host}/x/two:1")
    manifest, _ = reg.get_manifest("x/two", "1")
    bottom, top = [d["digest"] for d in json.loads(manifest)["layers"]]
    hold = threading.Event()
    proxy = Proxy(reg, hold=hold, hold_blobs=(bottom,))
    root = str(tmp_path / "root")
    name = f"{proxy.host}/x/two:1"
    try:
        p = _cli(root, "pull", name)
        assert proxy.holding.wait(60)
        layers = os.path.join(root, "layers")
        while p.poll() is None and not [n for n in os.listdir(layers) if not n.startswith(".")]:
            threading.Event().wait(0.05)   # until the top layer is unpacked (the bottom one is held)
        threading.Event().wait(0.5)        # room for it to try recording itself
        hold.set()
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        assert f"{top[7:19]}: Pull complete" in out.decode().splitlines()
        (doc,) = json.loads(run_cli("inspect", name, root=root).stdout)
        assert doc["Id"] == two
        _store_clean(root)
    finally:
        hold.set()
        proxy.stop()
