"""dockyard pull against a real registry on 127.0.0.1: Debian's docker-registry
(distribution), started by the fixture with a config of its own (filesystem
storage in a temporary folder, a free port) and killed by its pid at the end.
Images get there through skopeo (from a tar `dockyard save` made of the
starter image) or through plain HTTP PUTs of the distribution API (an index,
an uncompressed layer).

Two things in front of the registry are written here, small and honest:
- a faulty proxy (`Proxy`) that flips one byte of one blob, or answers 503 /
  429 a few times before it passes requests on;
- a Bearer-token stub: the same proxy demanding `Authorization: Bearer T` and
  answering 401 with a `WWW-Authenticate: Bearer realm=…,service=…,scope=…`
  challenge, and a token endpoint of its own that hands out T (checking Basic
  credentials when it is given some). The real registry's token auth needs a
  token server signing JWTs with a certificate the registry trusts; this stub
  checks dockyard's side of the flow (challenge, token request with service
  and scope, credentials, caching per scope), not JWT validation.
"""
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time

import pytest

from tests.conftest import need_root, need_tool, run_cli
from tests.integration.registry_helpers import Proxy, RegistryProcess, Source, _free_port, _tiny_tar, skopeo_push


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A registry holding x/busybox:1 (gzip, Docker schema 2), x/zbusybox:oci (zstd, OCI, as stored),
    x/other:1 and x/busybox:multi (a Docker manifest list: amd64 busybox, arm64/v8 other)."""
    need_root()
    need_tool("busybox")
    need_tool("skopeo")
    need_tool("docker-registry")
    base = str(tmp_path_factory.mktemp("registry"))
    src = Source(base)
    reg = RegistryProcess(os.path.join(base, "registry"))
    try:
        digests = {
            "busybox:1": skopeo_push(src.tars[src.busybox], f"{reg.host}/x/busybox:1"),
            "other:1": skopeo_push(src.tars[src.other], f"{reg.host}/x/other:1"),
            # the starter image exactly as dockyard stores it: OCI manifest, zstd layer
            "zbusybox:oci": src.push_stored(reg, src.busybox, "x/zbusybox", "oci"),
        }
        # an index lists manifests of its own repository: the one-file image goes there too
        skopeo_push(src.tars[src.other], f"{reg.host}/x/busybox:other-arm64")
        entries = []
        for tag, plat in (("1", {"architecture": "amd64", "os": "linux"}),
                          ("other-arm64", {"architecture": "arm64", "os": "linux", "variant": "v8"})):
            data, mt = reg.get_manifest("x/busybox", tag)
            entries.append({"mediaType": mt.split(";")[0], "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
                            "size": len(data), "platform": plat})
        index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
                            "manifests": entries}).encode()
        reg.put_manifest("x/busybox", "multi", index, "application/vnd.docker.distribution.manifest.list.v2+json")
        digests["busybox:multi"] = "sha256:" + hashlib.sha256(index).hexdigest()
        yield {"src": src, "reg": reg, "digests": digests}
    finally:
        reg.stop()
        shutil.rmtree(base, ignore_errors=True)


def _pull(root: str, *args: str, check: bool = True):
    return run_cli("pull", *args, root=root, check=check)


def _store_clean(root: str) -> None:
    out = run_cli("check", root=root).stdout.decode()
    assert out.rstrip().endswith(": consistent"), out
    assert os.listdir(os.path.join(root, "tmp")) == []


def test_pull_then_run_same_image_and_digests(world, tmp_path):
    reg, src = world["reg"], world["src"]
    root = str(tmp_path / "root")
    name = f"{reg.host}/x/busybox:1"
    p = _pull(root, name)
    lines = p.stdout.decode().splitlines()
    digest = world["digests"]["busybox:1"]
    assert lines[0] == "1: Pulling from x/busybox"
    assert any(l.endswith(": Pull complete") for l in lines), lines
    assert lines[-3:] == [f"Digest: {digest}", f"Status: Downloaded newer image for {name}", name]
    (doc,) = json.loads(run_cli("inspect", name, root=root).stdout)
    assert doc["Id"] == src.busybox
    assert doc["RootFS"]["Layers"] == src.diff_ids[src.busybox]
    assert f"{reg.host}/x/busybox@{digest}" in doc["RepoDigests"]
    table = run_cli("images", "--digests", root=root).stdout.decode().splitlines()
    assert [l.split()[:4] for l in table[1:]] == [[f"{reg.host}/x/busybox", "1", digest, src.busybox[7:19]]]
    assert run_cli("run", "--rm", name, "echo", "hi", root=root).stdout == b"hi\n"
    again = _pull(root, name).stdout.decode().splitlines()
    assert again[-2] == f"Status: Image is up to date for {name}"
    assert any(l.endswith(": Already exists") for l in again), again
    # by digest: same image, no tag added; run by digest
    by_digest = f"{reg.host}/x/busybox@{digest}"
    assert _pull(root, "-q", by_digest).stdout.decode().splitlines() == [by_digest]
    assert run_cli("run", "--rm", by_digest, "echo", "pinned", root=root).stdout == b"pinned\n"
    _store_clean(root)


def test_pull_oci_zstd_and_by_digest_into_an_empty_store(world, tmp_path):
    reg, src = world["reg"], world["src"]
    root = str(tmp_path / "root")
    digest = world["digests"]["zbusybox:oci"]
    _pull(root, f"{reg.host}/x/zbusybox:oci")
    (doc,) = json.loads(run_cli("inspect", f"{reg.host}/x/zbusybox:oci", root=root).stdout)
    assert doc["Id"] == src.busybox and doc["RootFS"]["Layers"] == src.diff_ids[src.busybox]
    assert doc["Manifest"]["MediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert all(l["MediaType"].endswith("+zstd") for l in doc["Manifest"]["Layers"])
    assert doc["Manifest"]["Digest"] == digest   # the manifest is kept as served
    # pulled by digest only: listed under its repository with no tag
    root2 = str(tmp_path / "root2")
    out = _pull(root2, f"{reg.host}/x/zbusybox@{digest}").stdout.decode().splitlines()
    assert out[0] == f"{digest}: Pulling from x/zbusybox"
    rows = run_cli("images", "--digests", root=root2).stdout.decode().splitlines()[1:]
    assert [r.split()[:3] for r in rows] == [[f"{reg.host}/x/zbusybox", "<none>", digest]]
    _store_clean(root2)


def test_run_and_create_pull_a_missing_image(world, tmp_path):
    reg = world["reg"]
    root = str(tmp_path / "root")
    name = f"{reg.host}/x/busybox:1"
    never = run_cli("run", "--rm", "--pull=never", name, "true", root=root, check=False)
    assert never.returncode != 0 and b"no such image" in never.stderr
    p = run_cli("run", "--rm", name, "echo", "pulled", root=root)
    err = p.stderr.decode().splitlines()
    assert err[0] == f"Unable to find image '{name}' locally"
    assert f"Status: Downloaded newer image for {name}" in err
    assert p.stdout == b"pulled\n"
    again = run_cli("run", "--rm", name, "true", root=root)
    assert b"Unable to find" not in again.stderr and b"Pulling" not in again.stderr
    always = run_cli("create", "--pull=always", name, root=root)
    assert f"Status: Image is up to date for {name}".encode() in always.stderr
    run_cli("rm", always.stdout.decode().strip(), root=root)
    bad = run_cli("create", "--pull=sometimes", name, root=root, check=False)
    assert bad.returncode == 125 and b"invalid pull policy" in bad.stderr


def test_platform_is_chosen_from_a_manifest_list(world, tmp_path):
    reg, src = world["reg"], world["src"]
    name = f"{reg.host}/x/busybox:multi"
    root = str(tmp_path / "root")
    out = _pull(root, name).stdout.decode().splitlines()
    assert out[-3] == f"Digest: {world['digests']['busybox:multi']}"   # the list's digest, as docker
    (doc,) = json.loads(run_cli("inspect", name, root=root).stdout)
    assert doc["Id"] == src.busybox    # this host is linux/amd64
    assert f"{reg.host}/x/busybox@{world['digests']['busybox:multi']}" in doc["RepoDigests"]
    for plat in ("linux/arm64", "linux/arm64/v8", "linux/aarch64"):
        r = str(tmp_path / plat.replace("/", "-"))
        _pull(r, "--platform", plat, name)
        (doc,) = json.loads(run_cli("inspect", name, root=r).stdout)
        assert doc["Id"] == src.other, plat
    r = str(tmp_path / "s390x")
    bad = _pull(r, "--platform", "linux/s390x", name, check=False)
    assert bad.returncode != 0
    assert (f"no image for linux/s390x in {name}: it has linux/amd64, linux/arm64/v8".encode() in bad.stderr), bad.stderr
    bad = _pull(r, "--platform", "linux/arm64/v8/x", name, check=False)
    assert b"invalid platform 'linux/arm64/v8/x'" in bad.stderr


def test_unknown_tag_and_repository_are_clear(world, tmp_path):
    reg = world["reg"]
    root = str(tmp_path / "root")
    bad = _pull(root, f"{reg.host}/x/busybox:nope", check=False)
    assert bad.returncode != 0
    assert f"manifest for {reg.host}/x/busybox:nope not found: manifest unknown".encode() in bad.stderr, bad.stderr
    bad = _pull(root, f"{reg.host}/x/nothing", check=False)
    assert b"not found" in bad.stderr and b"unknown" in bad.stderr, bad.stderr
    bad = _pull(root, "-a", f"{reg.host}/x/busybox:1", check=False)
    assert b"tag can't be used with --all-tags/-a" in bad.stderr
    nobody = f"127.0.0.1:{_free_port()}"   # nothing listens there (retried, then reported)
    bad = _pull(root, f"{nobody}/x/busybox:1", check=False)
    assert f"cannot connect to {nobody}: ".encode() in bad.stderr and b"refused" in bad.stderr, bad.stderr
    _store_clean(root)


def test_pull_all_tags(world, tmp_path):
    reg, src = world["reg"], world["src"]
    root = str(tmp_path / "root")
    out = _pull(root, "-a", f"{reg.host}/x/other").stdout.decode().splitlines()
    assert out[-1] == f"{reg.host}/x/other"
    (doc,) = json.loads(run_cli("inspect", f"{reg.host}/x/other:1", root=root).stdout)
    assert doc["Id"] == src.other


def test_a_corrupted_blob_fails_naming_it_and_stores_nothing(world, tmp_path):
    reg = world["reg"]
    manifest, _ = reg.get_manifest("x/busybox", "1")
    layer = json.loads(manifest)["layers"][0]["digest"]
    proxy = Proxy(reg, corrupt=layer)
    try:
        root = str(tmp_path / "root")
        bad = _pull(root, f"{proxy.host}/x/busybox:1", check=False)
        assert bad.returncode != 0
        err = bad.stderr.decode()
        assert f"layer blob {layer}" in err and "does not match its digest" in err, err
        assert run_cli("images", "-q", root=root).stdout == b""
        _store_clean(root)
        assert os.listdir(os.path.join(root, "layers")) == []
    finally:
        proxy.stop()


def test_server_errors_are_retried_and_429_reported(world, tmp_path):
    reg, src = world["reg"], world["src"]
    proxy = Proxy(reg, fail=2, fail_status=503)
    try:
        root = str(tmp_path / "root")
        _pull(root, f"{proxy.host}/x/busybox:1")
        assert proxy.failed == 2
        (doc,) = json.loads(run_cli("inspect", f"{proxy.host}/x/busybox:1", root=root).stdout)
        assert doc["Id"] == src.busybox
    finally:
        proxy.stop()
    proxy = Proxy(reg, fail=100, fail_status=503)
    try:
        bad = _pull(str(tmp_path / "root503"), f"{proxy.host}/x/busybox:1", check=False)
        assert b"answered 503" in bad.stderr and b"still failing after retries" in bad.stderr, bad.stderr
        assert proxy.failed == 4   # the first try and 3 retries
    finally:
        proxy.stop()
    proxy = Proxy(reg, fail=100, fail_status=429)
    try:
        root = str(tmp_path / "root2")
        bad = _pull(root, f"{proxy.host}/x/busybox:1", check=False)
        assert b"too many requests (429)" in bad.stderr, bad.stderr
        _store_clean(root)
    finally:
        proxy.stop()


def test_an_uncompressed_layer_is_kept_as_served(world, tmp_path):
    from engine import Engine
    reg = world["reg"]
    tar = _tiny_tar("plain.txt", b"plain layer\n")
    diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    layer_digest = reg.put_blob("x/plain", tar)
    config_digest = reg.put_blob("x/plain", config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": config_digest, "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": layer_digest, "size": len(tar)}]}).encode()
    reg.put_manifest("x/plain", "1", manifest, "application/vnd.oci.image.manifest.v1+json")
    eng = Engine(str(tmp_path / "root"))
    try:
        events = []
        iid = eng.pull(f"{reg.host}/x/plain:1", progress=events.append)
        assert iid == config_digest
        doc = eng.inspect_image(f"{reg.host}/x/plain:1")
        assert doc["Manifest"]["Digest"] == "sha256:" + hashlib.sha256(manifest).hexdigest()
        assert doc["Manifest"]["Layers"][0]["Digest"] == layer_digest
        assert [str(e) for e in events][-2:] == [f"Digest: {doc['Manifest']['Digest']}",
                                                 f"Status: Downloaded newer image for {reg.host}/x/plain:1"]
        assert eng.check().ok
    finally:
        eng.close()


# ------------------------------------------------------------------ auth

@pytest.fixture(autouse=True)
def no_docker_config(tmp_path, monkeypatch):
    """Credentials come from docker's config.json by default: the machine's own stays out."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("DOCKYARD_CONFIG", str(tmp_path / "dockyard-config.yaml"))


@pytest.fixture
def basic_registry(tmp_path):
    need_root()
    htpasswd = need_tool("htpasswd")
    path = str(tmp_path / "htpasswd")
    subprocess.run([htpasswd, "-Bbc", path, "alice", "s3cret"], check=True, capture_output=True)
    reg = RegistryProcess(str(tmp_path / "basic"), htpasswd=path)
    try:
        yield reg
    finally:
        reg.stop()


def test_basic_auth_right_and_wrong_password(world, basic_registry, tmp_path):
    from engine import Engine
    from engine.errors import Unauthorized
    src = world["src"]
    subprocess.run([need_tool("skopeo"), "--insecure-policy", "copy", "-q", "--dest-tls-verify=false",
                    "--dest-creds", "alice:s3cret", f"docker-archive:{src.tars[src.busybox]}",
                    f"docker://{basic_registry.host}/x/busybox:1"], check=True, capture_output=True, timeout=240)
    name = f"{basic_registry.host}/x/busybox:1"
    eng = Engine(str(tmp_path / "root"))
    try:
        with pytest.raises(Unauthorized, match=r"refused the credentials .*wrong user name or password") as e:
            eng.pull(name, credentials=lambda host: ("alice", "wrong"))
        assert "wrong" not in str(e.value).replace("wrong user", "")   # never the password
        with pytest.raises(Unauthorized, match=f"dockyard login {basic_registry.host}"):
            eng.pull(name)
        asked = []
        iid = eng.pull(name, credentials=lambda host: asked.append(host) or ("alice", "s3cret"))
        assert iid == src.busybox and set(asked) == {basic_registry.host}
        assert eng.check().ok
    finally:
        eng.close()
    bad = _pull(str(tmp_path / "cli"), name, check=False)
    assert bad.returncode != 0 and b"unauthorized" in bad.stderr
    # what `dockyard login` keeps (docker's config.json) is what pull uses
    os.makedirs(os.environ["DOCKER_CONFIG"])
    with open(os.path.join(os.environ["DOCKER_CONFIG"], "config.json"), "w") as f:
        json.dump({"auths": {basic_registry.host: {"auth": base64.b64encode(b"alice:s3cret").decode()}}}, f)
    out = _pull(str(tmp_path / "cli"), name).stdout.decode()
    assert f"Status: Downloaded newer image for {name}" in out and "s3cret" not in out


def test_bearer_token_flow_with_a_token_stub(world, tmp_path):
    from engine import Engine
    from engine.errors import Unauthorized
    reg, src = world["reg"], world["src"]
    proxy = Proxy(reg, bearer="tok-123", token_creds=("bob", "pw"))
    try:
        name = f"{proxy.host}/x/busybox:1"
        eng = Engine(str(tmp_path / "root"))
        try:
            with pytest.raises(Unauthorized, match="wants credentials"):
                eng.pull(name)
            with pytest.raises(Unauthorized, match="refused the credentials"):
                eng.pull(name, credentials=lambda host: ("bob", "nope"))
            proxy.token_requests.clear()
            assert eng.pull(name, credentials=lambda host: ("bob", "pw")) == src.busybox
            # one token for the one scope, however many requests the pull made
            assert proxy.token_requests == ["repository:x/busybox:pull"]
            assert eng.check().ok
        finally:
            eng.close()
        # anonymous tokens: a token server that asks for no credentials
        proxy.token_creds = None
        eng = Engine(str(tmp_path / "anon"))
        try:
            assert eng.pull(name) == src.busybox
        finally:
            eng.close()
    finally:
        proxy.stop()


@pytest.mark.parametrize("zygote", ["1", "0"], ids=["in-a-zygote-worker", "in-the-process"])
def test_interrupted_pull_leaves_nothing(world, tmp_path, zygote):
    """Ctrl-C (SIGINT to the command) while a blob is on its way: the store is as before."""
    reg = world["reg"]
    gate = threading.Event()

    proxy = Proxy(reg)
    orig = proxy.server.RequestHandlerClass.do_GET

    def slow_get(self):
        if "/blobs/" in self.path and not self.path.endswith(json.loads(reg.get_manifest("x/busybox", "1")[0])
                                                               ["config"]["digest"]):
            gate.set()
            time.sleep(5)   # the download is on its way when SIGINT comes
        return orig(self)

    proxy.server.RequestHandlerClass.do_GET = slow_get
    root = str(tmp_path / "root")
    try:
        import sys

        from tests.conftest import ROOT
        env = dict(os.environ, DOCKYARD_ROOT=root, PYTHONPATH=ROOT, DOCKYARD_ZYGOTE=zygote)
        p = subprocess.Popen([sys.executable, "-m", "tui.cli", "pull", f"{proxy.host}/x/busybox:1"], env=env,
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             # a test run in the background ignores SIGINT: the command must not
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        assert gate.wait(60)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=60)
        assert p.returncode == 130
        assert run_cli("images", "-q", root=root).stdout == b""
        _store_clean(root)
    finally:
        proxy.stop()


def test_a_schema1_manifest_is_refused_clearly(world, tmp_path):
    # distribution no longer stores schema 1: the proxy serves one, as old registries still do
    schema1 = json.dumps({"schemaVersion": 1, "name": "x/old", "tag": "1", "architecture": "amd64",
                          "fsLayers": [], "history": [], "signatures": []}).encode()
    proxy = Proxy(world["reg"], canned={
        "/v2/x/old/manifests/1": ("application/vnd.docker.distribution.manifest.v1+prettyjws", schema1)})
    try:
        root = str(tmp_path / "root")
        bad = _pull(root, f"{proxy.host}/x/old:1", check=False)
        assert bad.returncode != 0
        assert b"is a Docker schema 1 manifest, which dockyard does not pull" in bad.stderr, bad.stderr
        _store_clean(root)
    finally:
        proxy.stop()


def test_tls_registry_with_its_ca_in_certs_d(world, tmp_path):
    """HTTPS with a CA made here: trusted through certs.d/HOST/ca.crt; without
    it the certificate is refused, with no fall-back to plain HTTP."""
    from engine import Engine
    from engine.errors import RegistryError
    from engine.images.pull import pull
    openssl = need_tool("openssl")
    d = str(tmp_path)

    def ssl_(*args):
        subprocess.run([openssl, *args], check=True, capture_output=True, cwd=d)
    ssl_("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", "ca.key", "-out", "ca.crt",
         "-subj", "/CN=dockyard test CA")
    ssl_("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    ssl_("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
         "-out", "srv.crt", "-extfile", "ext")
    reg = RegistryProcess(os.path.join(d, "tls"), tls=(os.path.join(d, "srv.crt"), os.path.join(d, "srv.key")))
    try:
        src = world["src"]
        skopeo_push(src.tars[src.busybox], f"{reg.host}/x/busybox:1")
        certs = os.path.join(d, "certs.d")
        os.makedirs(os.path.join(certs, reg.host))
        eng = Engine(os.path.join(d, "root"))
        try:
            with pytest.raises(RegistryError, match=f"TLS error talking to {reg.host}: .*certs.d/{reg.host}/ca.crt"):
                pull(eng.store, f"{reg.host}/x/busybox:1", certs_dir=certs)
            shutil.copy(os.path.join(d, "ca.crt"), os.path.join(certs, reg.host, "ca.crt"))
            assert pull(eng.store, f"{reg.host}/x/busybox:1", certs_dir=certs) == src.busybox
            assert eng.check().ok
        finally:
            eng.close()
    finally:
        reg.stop()
