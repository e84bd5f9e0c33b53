"""dockyard push against a real registry on 127.0.0.1 (Debian's docker-registry,
test_registry.py's RegistryProcess), checked with skopeo and podman: the
pushed manifest digest is skopeo's, podman pulls and runs what dockyard
pushed, dockyard pulls and runs what podman pushed. A small proxy in front
of the registry (PushProxy, below) counts the requests by method, can make
the upload locations relative and can answer 500 to blob PUTs."""
import hashlib
import http.client
import http.server
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from tests.conftest import need_root, need_tool, run_cli
from tests.integration.registry_helpers import RegistryProcess, _tiny_tar
from tests.integration.test_archive_interop import ULIMITS, Podman, busybox_rootfs_tar
from tests.integration.test_registry import _store_clean


@pytest.fixture(autouse=True)
def no_docker_config(tmp_path, monkeypatch):
    """Credentials come from docker's config.json by default: the machine's own stays out."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.setenv("DOCKYARD_CONFIG", str(tmp_path / "dockyard-config.yaml"))


@pytest.fixture
def registry(tmp_path):
    """An empty registry of the test's own."""
    need_root()
    need_tool("docker-registry")
    reg = RegistryProcess(str(tmp_path / "registry"))
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture
def podman(no_docker_config):
    need_root()
    need_tool("podman")
    need_tool("runc")
    base = tempfile.mkdtemp(prefix="dockyard-push-podman-")
    try:
        p = Podman(base)
        p.env.pop("DOCKER_CONFIG", None)   # podman reads it too, and wants the file there: its own, empty
        p.env["REGISTRY_AUTH_FILE"] = os.path.join(base, "auth.json")
        with open(p.env["REGISTRY_AUTH_FILE"], "w") as f:
            f.write("{}")
        yield p
    finally:
        shutil.rmtree(base)


class PushProxy:
    """Passes every request (GET, HEAD, POST, PATCH, PUT, bodies and all) to
    the registry and counts them as "METHOD kind" (kind: blobs, uploads,
    manifests). fail_put: answer that status to blob PUTs; relative: hand
    out upload locations as paths, not URLs."""

    def __init__(self, upstream: RegistryProcess, *, fail_put: int | None = None, relative: bool = False,
                 stall_put: threading.Event | None = None, bearer: str | None = None):
        self.upstream, self.fail_put, self.relative = upstream, fail_put, relative
        self.bearer = bearer         # demand this token; GET /token hands it out and records the scope asked
        self.scopes: list[str] = []
        self.stall_put = stall_put   # set when a blob PUT arrives, which then waits 5 s
        self.seen: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                path = self.path.split("?")[0]
                if path == "/token":
                    from urllib.parse import parse_qs, urlparse
                    proxy.scopes += parse_qs(urlparse(self.path).query).get("scope", [])
                    return self._send(200, json.dumps({"token": proxy.bearer, "expires_in": 300}).encode(),
                                      [("Content-Type", "application/json")])
                if proxy.bearer and self.headers.get("Authorization") != f"Bearer {proxy.bearer}":
                    realm = f"http://{proxy.host}/token"
                    return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                                      [("WWW-Authenticate", f'Bearer realm="{realm}",service="stub"')])
                kind = "uploads" if "/blobs/uploads/" in path else "blobs" if "/blobs/" in path else \
                    "manifests" if "/manifests/" in path else "other"
                proxy.seen.append(f"{self.command} {kind}")
                if proxy.stall_put and self.command == "PUT" and kind == "uploads":
                    proxy.stall_put.set()
                    time.sleep(5)   # the upload is on its way when SIGINT comes
                if proxy.fail_put and self.command == "PUT" and kind == "uploads":
                    return self._send(proxy.fail_put, b'{"errors":[{"code":"UNKNOWN","message":"storage broke"}]}',
                                      [("Content-Type", "application/json")])
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "host")}
                headers["Host"] = proxy.host   # the registry's Locations then point here
                conn.request(self.command, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                conn.close()
                out = []
                for k, v in r.getheaders():
                    if k.lower() in ("content-length", "connection", "transfer-encoding"):
                        continue
                    if k.lower() == "location" and proxy.relative and v.startswith("http"):
                        v = "/" + v.split("/", 3)[3]
                    out.append((k, v))
                self._send(r.status, data, out)

            def _send(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def skopeo_inspect(ref: str, raw: bool = False):
    out = subprocess.run([need_tool("skopeo"), "inspect", "--tls-verify=false", *(["--raw"] if raw else []),
                          f"docker://{ref}"], check=True, capture_output=True, timeout=120,
                         stdin=subprocess.DEVNULL).stdout
    return out if raw else json.loads(out)


def _push(root: str, *args: str, check: bool = True):
    return run_cli("push", *args, root=root, check=check)


def _image(root: str, tar: bytes, name: str) -> str:
    return run_cli("import", "-", name, root=root, input=tar).stdout.decode().strip()


def test_push_then_skopeo_and_podman_pull_and_run(registry, podman, tmp_path):
    """An image never pulled, into an empty registry; then again (already
    exists) and to a second repository (mounted)."""
    root = str(tmp_path / "root")
    iid = _image(root, busybox_rootfs_tar(), "localhost/box:1")
    name = f"{registry.host}/x/box:1"
    run_cli("tag", "localhost/box:1", name, root=root)
    lines = _push(root, name).stdout.decode().splitlines()
    (doc,) = json.loads(run_cli("inspect", name, root=root).stdout)
    digest = doc["Manifest"]["Digest"]
    short = doc["RootFS"]["Layers"][0][7:19]
    size = len(skopeo_inspect(name, raw=True))
    # not a terminal: docker's plain lines, the byte-counted "Pushing" left out (jsonmessage)
    assert lines == [f"The push refers to repository [{registry.host}/x/box]", f"{short}: Preparing",
                     f"{short}: Pushed", f"1: digest: {digest} size: {size}"], lines
    # skopeo's digest is ours: of the bytes served, and what it reports
    assert "sha256:" + hashlib.sha256(skopeo_inspect(name, raw=True)).hexdigest() == digest
    theirs = skopeo_inspect(name)
    assert theirs["Digest"] == digest
    assert theirs["Layers"] == [l["Digest"] for l in doc["Manifest"]["Layers"]]
    (doc,) = json.loads(run_cli("inspect", name, root=root).stdout)
    assert f"{registry.host}/x/box@{digest}" in doc["RepoDigests"]
    rows = run_cli("images", "--digests", root=root).stdout.decode().splitlines()[1:]
    assert [registry.host + "/x/box", "1", digest, iid[7:19]] in [r.split()[:4] for r in rows], rows
    # podman pulls the zstd/OCI image and gets the same image id, and runs it
    podman.podman("pull", "-q", "--tls-verify=false", name)
    assert "sha256:" + podman.inspect(name)["Id"] == iid
    out = podman.podman("run", "--rm", *ULIMITS, "--network", "none", name, "echo", "pushed by dockyard")
    assert out == "pushed by dockyard\n"
    again = _push(root, name).stdout.decode().splitlines()
    assert again[1:] == [f"{short}: Preparing", f"{short}: Layer already exists", f"1: digest: {digest} size: {size}"]
    other = f"{registry.host}/y/box:2"
    run_cli("tag", name, other, root=root)
    moved = _push(root, other).stdout.decode().splitlines()
    assert moved[1:] == [f"{short}: Preparing", f"{short}: Mounted from x/box", f"2: digest: {digest} size: {size}"]
    assert skopeo_inspect(other)["Digest"] == digest
    _store_clean(root)


def test_a_mount_the_registry_refuses_falls_back_to_an_upload(registry, tmp_path):
    """The store believes x/ghost holds the blob (a repository since deleted,
    say): the registry answers the mount with 202 and the blob is uploaded."""
    from engine import Engine
    eng = Engine(str(tmp_path / "root"))
    try:
        name = f"{registry.host}/y/real:1"
        iid = eng.import_image(io.BytesIO(_tiny_tar("hello.txt", b"hello\n")), name)
        with eng.store.db.tx() as c:
            c.execute("INSERT INTO repo_digests(name, digest, image_id) VALUES (?, ?, ?)",
                      (f"{registry.host}/x/ghost", eng.image(iid).digest, iid))
        events = []
        digest = eng.push(name, progress=events.append)
        statuses = [e.status for e in events if e.id]
        assert statuses == ["Preparing", "Pushing", "Pushing", "Pushed"], statuses
        assert skopeo_inspect(name)["Digest"] == digest
    finally:
        eng.close()


def test_podman_push_then_dockyard_pull_run_and_push_elsewhere(registry, podman, tmp_path):
    """podman's image (gzip, Docker schema 2) through dockyard and on to
    another repository: its manifest digest is kept exactly."""
    tar = tmp_path / "rootfs.tar"
    tar.write_bytes(busybox_rootfs_tar())
    podman.podman("import", str(tar), "localhost/frompodman:1")
    name = f"{registry.host}/p/frompodman:1"
    podman.podman("push", "-q", "--tls-verify=false", "localhost/frompodman:1", f"docker://{name}")
    digest = skopeo_inspect(name)["Digest"]
    root = str(tmp_path / "root")
    run_cli("pull", name, root=root)
    (doc,) = json.loads(run_cli("inspect", name, root=root).stdout)
    assert doc["Id"] == "sha256:" + podman.inspect("localhost/frompodman:1")["Id"]
    assert run_cli("run", "--rm", name, "echo", "from podman", root=root).stdout == b"from podman\n"
    elsewhere = f"{registry.host}/q/copy:1"
    run_cli("tag", name, elsewhere, root=root)
    lines = _push(root, elsewhere).stdout.decode().splitlines()
    assert any(l.endswith(": Mounted from p/frompodman") for l in lines), lines
    assert lines[-1].startswith(f"1: digest: {digest} size: ")
    assert skopeo_inspect(elsewhere)["Digest"] == digest
    _store_clean(root)


def test_chunked_upload_with_relative_locations(registry, tmp_path, monkeypatch):
    """Blobs over the (lowered) threshold go in PATCHes, each to the location
    the previous answer named, here given as a path; the registry has the image."""
    from engine import Engine
    from engine.registry import upload
    monkeypatch.setattr(upload, "CHUNKED_OVER", 200_000)
    monkeypatch.setattr(upload, "CHUNK_SIZE", 256 << 10)
    proxy = PushProxy(registry, relative=True)
    try:
        eng = Engine(str(tmp_path / "root"))
        try:
            iid = eng.import_image(io.BytesIO(busybox_rootfs_tar()), f"{proxy.host}/x/chunked:1")
            size = json.loads(eng.store.blobs.read_bytes(eng.image(iid).digest))["layers"][0]["size"]
            assert size > 3 * (256 << 10)
            events = []
            digest = eng.push(f"{proxy.host}/x/chunked:1", progress=events.append)
            assert digest == eng.image(iid).digest
            assert proxy.seen.count("PATCH uploads") == -(-size // (256 << 10))
            assert proxy.seen.count("PUT uploads") == 2   # the layer's closing PUT, the config's monolithic one
            counts = [e.current for e in events if e.status == "Pushing"]
            assert counts[0] == 0 and counts[-1] == size and counts == sorted(counts)
        finally:
            eng.close()
        assert skopeo_inspect(f"{registry.host}/x/chunked:1")["Digest"] == digest
        eng = Engine(str(tmp_path / "again"))
        try:
            assert eng.pull(f"{registry.host}/x/chunked:1") == iid
            assert eng.check().ok
        finally:
            eng.close()
    finally:
        proxy.stop()


def test_push_asks_bearer_tokens_for_the_push_scope(registry, tmp_path):
    from engine import Engine
    proxy = PushProxy(registry, bearer="tok-push")
    try:
        eng = Engine(str(tmp_path / "root"))
        try:
            name = f"{proxy.host}/x/tok:1"
            eng.import_image(io.BytesIO(_tiny_tar("hello.txt", b"hello\n")), name)
            digest = eng.push(name, credentials=lambda host: None)
            # one token for the one scope, however many requests the push made
            assert proxy.scopes == ["repository:x/tok:pull,push"]
        finally:
            eng.close()
        assert skopeo_inspect(f"{registry.host}/x/tok:1")["Digest"] == digest
    finally:
        proxy.stop()


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


def test_push_with_htpasswd_auth(basic_registry, tmp_path):
    from engine import Engine
    from engine.errors import Unauthorized
    name = f"{basic_registry.host}/x/secret:1"
    eng = Engine(str(tmp_path / "root"))
    try:
        eng.import_image(io.BytesIO(_tiny_tar("hello.txt", b"hello\n")), name)
        with pytest.raises(Unauthorized, match=r"refused the credentials .*wrong user name or password") as e:
            eng.push(name, credentials=lambda host: ("alice", "wrong"))
        assert "wrong" not in str(e.value).replace("wrong user", "")   # never the password
        with pytest.raises(Unauthorized, match=f"dockyard login {basic_registry.host}"):
            eng.push(name, credentials=lambda host: None)
        assert eng.image(name).repo_digests == []
        digest = eng.push(name, credentials=lambda host: ("alice", "s3cret"))
        assert eng.image(name).repo_digests == [f"{basic_registry.host}/x/secret@{digest}"]
    finally:
        eng.close()
    got = subprocess.run([need_tool("skopeo"), "inspect", "--tls-verify=false", "--creds", "alice:s3cret",
                          f"docker://{name}"], check=True, capture_output=True, timeout=120).stdout
    assert json.loads(got)["Digest"] == digest
    # the CLI with what `dockyard login` keeps
    import base64
    os.makedirs(os.environ["DOCKER_CONFIG"])
    with open(os.path.join(os.environ["DOCKER_CONFIG"], "config.json"), "w") as f:
        json.dump({"auths": {basic_registry.host: {"auth": base64.b64encode(b"alice:s3cret").decode()}}}, f)
    out = _push(str(tmp_path / "root"), name).stdout.decode()
    assert "Layer already exists" in out and "s3cret" not in out


def test_multi_platform_index_pushed_by_podman_pulled_by_platform(registry, podman, tmp_path):
    tars = {}
    for arch, text in (("amd64", b"amd64 image\n"), ("arm64", b"arm64 image\n")):
        tars[arch] = tmp_path / f"{arch}.tar"
        tars[arch].write_bytes(_tiny_tar("which.txt", text))
        podman.podman("import", "--os", "linux", "--arch", arch, str(tars[arch]), f"localhost/multi-{arch}:1")
    podman.podman("manifest", "create", "localhost/multi:1")
    for arch in tars:
        podman.podman("manifest", "add", "localhost/multi:1", f"containers-storage:localhost/multi-{arch}:1")
    name = f"{registry.host}/m/multi:1"
    podman.podman("manifest", "push", "--all", "--tls-verify=false", "localhost/multi:1", f"docker://{name}")
    index = json.loads(skopeo_inspect(name, raw=True))
    assert sorted(m["platform"]["architecture"] for m in index["manifests"]) == ["amd64", "arm64"]
    for platform, arch in ((None, "amd64"), ("linux/arm64", "arm64")):
        root = str(tmp_path / f"root-{arch}")
        run_cli("pull", *(["--platform", platform] if platform else []), name, root=root)
        (doc,) = json.loads(run_cli("inspect", name, root=root).stdout)
        assert doc["Architecture"] == arch
        assert doc["Id"] == "sha256:" + podman.inspect(f"localhost/multi-{arch}:1")["Id"]


def test_an_error_mid_push_names_the_blob(registry, tmp_path):
    proxy = PushProxy(registry, fail_put=500)
    try:
        root = str(tmp_path / "root")
        name = f"{proxy.host}/x/broken:1"
        _image(root, _tiny_tar("noise", os.urandom(2 << 20)), name)
        (doc,) = json.loads(run_cli("inspect", name, root=root).stdout)
        bad = _push(root, name, check=False)
        assert bad.returncode == 125
        err = bad.stderr.decode()
        layer = doc["Manifest"]["Layers"][0]["Digest"]
        config = doc["Id"]
        assert (f"layer blob {layer}" in err or f"config blob {config}" in err), err
        assert f"to {proxy.host}/x/broken: the registry answered 500" in err and "storage broke" in err, err
        assert proxy.seen.count("PUT uploads") >= 4   # the first try and 3 retries
        assert "PUT manifests" not in proxy.seen
        from engine import Engine
        eng = Engine(root)
        try:
            assert eng.image(name).repo_digests == []   # nothing recorded of a push that failed
        finally:
            eng.close()
        _store_clean(root)
    finally:
        proxy.stop()


@pytest.mark.parametrize("zygote", ["1", "0"], ids=["in-a-zygote-worker", "in-the-process"])
def test_interrupted_push_stops_and_records_nothing(registry, tmp_path, zygote):
    """Ctrl-C (SIGINT to the command) while a blob is on its way: exit 130, no
    manifest PUT, no repo digest, the store as it was."""
    from tests.conftest import ROOT
    gate = threading.Event()
    proxy = PushProxy(registry, stall_put=gate)
    try:
        root = str(tmp_path / "root")
        name = f"{proxy.host}/x/stopped:1"
        _image(root, _tiny_tar("noise", os.urandom(2 << 20)), name)
        env = dict(os.environ, DOCKYARD_ROOT=root, PYTHONPATH=ROOT, DOCKYARD_ZYGOTE=zygote)
        p = subprocess.Popen([sys.executable, "-m", "tui.cli", "push", name], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             # a test run in the background ignores SIGINT: the command must not
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        assert gate.wait(60)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 130, err
        assert "PUT manifests" not in proxy.seen
        assert b"digest: sha256:" not in out
        from engine import Engine
        eng = Engine(root)
        try:
            assert eng.image(name).repo_digests == []
        finally:
            eng.close()
        _store_clean(root)
    finally:
        proxy.stop()


def test_push_of_a_missing_tag_and_bad_references(tmp_path):
    root = str(tmp_path / "root")
    bad = _push(root, "127.0.0.1:5999/x/nothing:1", check=False)
    assert bad.returncode == 1
    assert bad.stderr.decode().strip() == "An image does not exist locally with the tag: 127.0.0.1:5999/x/nothing"
    _image(root, _tiny_tar("a", b"a"), "127.0.0.1:5999/x/a:1")
    bad = _push(root, "-a", "127.0.0.1:5999/x/a:1", check=False)
    assert bad.returncode == 125 and b"tag can't be used with --all-tags/-a" in bad.stderr
    bad = _push(root, "127.0.0.1:5999/x/a@sha256:" + "0" * 64, check=False)
    assert bad.returncode == 125 and b"cannot push a digest reference" in bad.stderr


def test_push_all_tags(registry, tmp_path):
    root = str(tmp_path / "root")
    for tag, text in (("1", b"one"), ("2", b"two")):
        _image(root, _tiny_tar("f", text), f"{registry.host}/x/many:{tag}")
    _image(root, _tiny_tar("f", b"not this one"), f"{registry.host}/x/manyother:1")
    out = _push(root, "-q", "-a", f"{registry.host}/x/many").stdout.decode().splitlines()
    assert out == [f"{registry.host}/x/many:1", f"{registry.host}/x/many:2"]
    tags = json.loads(urllib_get(f"http://{registry.host}/v2/x/many/tags/list"))["tags"]
    assert sorted(tags) == ["1", "2"]


def urllib_get(url: str) -> bytes:
    import urllib.request
    with urllib.request.urlopen(url) as r:
        return r.read()
