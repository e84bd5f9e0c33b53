"""What the registry tests share (test_registry.py, test_pull_robust.py,
test_build_pull.py): Debian's docker-registry on 127.0.0.1 (`RegistryProcess`),
the faulty proxy in front of it (`Proxy`), the images they push (`Source`,
`skopeo_push`). See test_registry.py's docstring for what the proxy and the
token stub are and are not."""
import base64
import hashlib
import http.client
import http.server
import io
import json
import os
import signal
import socket
import subprocess
import tarfile
import threading
import urllib.request

from tests.conftest import need_tool, wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RegistryProcess:
    def __init__(self, base: str, htpasswd: str | None = None, tls: tuple[str, str] | None = None):
        self.dir = base
        os.makedirs(base, exist_ok=True)
        self.port = _free_port()
        self.host = f"127.0.0.1:{self.port}"
        auth = (f"auth:\n  htpasswd:\n    realm: dockyard-test\n    path: {htpasswd}\n") if htpasswd else ""
        config = os.path.join(base, "config.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {base}/data\n"
                    f"  delete:\n    enabled: true\nhttp:\n  addr: {self.host}\n"
                    + (f"  tls:\n    certificate: {tls[0]}\n    key: {tls[1]}\n" if tls else "") + auth)
        self.log = open(os.path.join(base, "log"), "wb")
        self.proc = subprocess.Popen([need_tool("docker-registry"), "serve", config], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(self._up, f"the registry on {self.host}", 30)

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"docker-registry exited: {open(self.log.name).read()}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()

    # the distribution API, by hand (no auth)
    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str]:
        req = urllib.request.Request(f"http://{self.host}/v2/{repo}/manifests/{ref}", headers={"Accept": ", ".join((
            "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"))})
        with urllib.request.urlopen(req) as r:
            return r.read(), r.headers["Content-Type"]

    def put_manifest(self, repo: str, ref: str, data: bytes, media_type: str) -> None:
        req = urllib.request.Request(f"http://{self.host}/v2/{repo}/manifests/{ref}", data=data, method="PUT",
                                     headers={"Content-Type": media_type})
        urllib.request.urlopen(req).close()

    def put_blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        req = urllib.request.Request(f"http://{self.host}/v2/{repo}/blobs/uploads/", data=b"", method="POST")
        with urllib.request.urlopen(req) as r:
            loc = r.headers["Location"]
        url = (loc if loc.startswith("http") else f"http://{self.host}{loc}")
        url += ("&" if "?" in url else "?") + f"digest={digest}"
        urllib.request.urlopen(urllib.request.Request(url, data=data, method="PUT",
                                                      headers={"Content-Type": "application/octet-stream"})).close()
        return digest


class Proxy:
    """Between dockyard and the registry: passes GETs on, and can flip a byte
    of one blob, fail the first requests for blobs with `fail_status`, or
    demand a bearer token that its own /token endpoint hands out."""

    def __init__(self, upstream: RegistryProcess, *, corrupt: str | None = None, fail: int = 0,
                 fail_status: int = 503, bearer: str | None = None, token_creds: tuple[str, str] | None = None,
                 canned: dict[str, tuple[str, bytes]] | None = None, drop: str | None = None, drops: int = 1,
                 ignore_range: bool = False, hold: threading.Event | None = None, hold_blobs: tuple[str, ...] = (),
                 refresh_token: str | None = None, oauth: bool = True):
        self.upstream, self.corrupt, self.fail, self.fail_status = upstream, corrupt, fail, fail_status
        self.canned = canned or {}   # path -> (Content-Type, body) answered instead of the registry
        self.bearer, self.token_creds = bearer, token_creds
        self.failed = 0
        self.token_requests: list[str] = []
        # drop: the digest of a blob whose body is cut off halfway (the connection closed), `drops` times;
        # ignore_range: Range headers are not passed on (a registry that cannot resume)
        self.drop, self.drops, self.dropped, self.ignore_range = drop, drops, 0, ignore_range
        # hold: GETs of the blobs hold_blobs names wait for this event (`holding` is set while one waits)
        self.hold, self.hold_blobs, self.holding = hold, tuple("/blobs/" + d for d in hold_blobs), threading.Event()
        # refresh_token: what the token endpoint's POST (grant_type=refresh_token) takes; oauth=False: POST is 404
        self.refresh_token, self.oauth = refresh_token, oauth
        self.token_posts: list[dict] = []
        self.requests: list[tuple[str, str, str | None]] = []   # (method, path, Range header) of each request
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, status: int, body: bytes = b"", headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self):
                self.do_GET()

            def do_POST(self):
                from urllib.parse import parse_qs
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0))
                                                     .decode()).items()}
                with proxy.lock:
                    proxy.requests.append(("POST", self.path, None))
                    proxy.token_posts.append(form)
                if not self.path.startswith("/token") or not proxy.oauth:
                    return self._send(404, b"404 page not found")
                if (form.get("grant_type") != "refresh_token" or form.get("refresh_token") != proxy.refresh_token
                        or form.get("service") != "stub-registry"):
                    return self._send(401, b'{"error":"invalid_grant"}')
                proxy.token_requests.append(form.get("scope", ""))
                self._send(200, json.dumps({"access_token": proxy.bearer, "expires_in": 300}).encode(),
                           [("Content-Type", "application/json")])

            def do_GET(self):
                with proxy.lock:
                    proxy.requests.append((self.command, self.path, self.headers.get("Range")))
                if self.path.startswith("/token"):
                    return self._token()
                if proxy.bearer and self.headers.get("Authorization") != f"Bearer {proxy.bearer}":
                    realm = f"http://127.0.0.1:{proxy.port}/token"
                    return self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                                      [("WWW-Authenticate", f'Bearer realm="{realm}",service="stub-registry",'
                                                            'scope="repository:x/busybox:pull"')])
                if self.path in proxy.canned:
                    ctype, body = proxy.canned[self.path]
                    return self._send(200, body, [("Content-Type", ctype)])
                if "/blobs/" in self.path and proxy.failed < proxy.fail:
                    proxy.failed += 1
                    return self._send(proxy.fail_status, b"", [("Retry-After", "0")])
                if proxy.hold is not None and "/blobs/" in self.path and self.path.endswith(proxy.hold_blobs):
                    proxy.holding.set()
                    proxy.hold.wait(120)
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream.port, timeout=30)
                passed = ("accept",) if proxy.ignore_range else ("accept", "range", "if-range")
                headers = {k: v for k, v in self.headers.items() if k.lower() in passed}
                conn.request(self.command, self.path, headers=headers)
                r = conn.getresponse()
                body = r.read()
                conn.close()
                if proxy.corrupt and self.path.endswith("/blobs/" + proxy.corrupt) and body:
                    b = bytearray(body)
                    b[len(b) // 2] ^= 0x10
                    body = bytes(b)
                keep = [(k, v) for k, v in r.getheaders()
                        if k.lower() not in ("content-length", "connection", "transfer-encoding")]
                if (proxy.drop and self.path.endswith("/blobs/" + proxy.drop) and r.status in (200, 206)
                        and proxy.dropped < proxy.drops):
                    proxy.dropped += 1   # the whole length promised, half of it sent, then the connection is gone
                    self.send_response(r.status)
                    for k, v in keep:
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._send(r.status, body, keep)

            def _token(self):
                from urllib.parse import parse_qs, urlparse
                q = parse_qs(urlparse(self.path).query)
                proxy.token_requests.append(q.get("scope", [""])[0])
                if q.get("service") != ["stub-registry"]:
                    return self._send(400, b"wrong service")
                if proxy.token_creds:
                    want = "Basic " + base64.b64encode(":".join(proxy.token_creds).encode()).decode()
                    if self.headers.get("Authorization") != want:
                        return self._send(401, b'{"details":"bad credentials"}')
                self._send(200, json.dumps({"token": proxy.bearer, "expires_in": 300}).encode(),
                           [("Content-Type", "application/json")])

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def blob_gets(self, digest: str) -> list[str | None]:
        """The Range headers of the GETs of one blob the proxy saw (None: the whole blob)."""
        return [rng for m, path, rng in self.requests if m == "GET" and path.endswith("/blobs/" + digest)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def _tiny_tar(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mtime = len(data), 1_700_000_000
        t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


class Source:
    """The images the tests push: the starter image and a one-file image, as
    `dockyard save` writes them, with their ids and diff ids."""

    def __init__(self, base: str):
        from engine import Engine
        self.root = os.path.join(base, "source")
        eng = Engine(self.root)
        try:
            self.busybox = eng.make_starter_image()
            self.other = eng.import_image(io.BytesIO(_tiny_tar("hello.txt", b"hello\n")), "localhost/other:1")
            self.diff_ids = {i: eng.inspect_image(i)["RootFS"]["Layers"] for i in (self.busybox, self.other)}
            self.tars = {}
            for iid, name in ((self.busybox, "localhost/busybox:latest"), (self.other, "localhost/other:1")):
                path = os.path.join(base, iid[7:19] + ".tar")
                with open(path, "wb") as f:
                    eng.save([name], f)
                self.tars[iid] = path
        finally:
            eng.close()

    def push_stored(self, reg: RegistryProcess, image_id: str, repo: str, tag: str) -> str:
        """The image's manifest, config and blobs as the store holds them, PUT over HTTP."""
        from engine import Engine
        eng = Engine(self.root)
        try:
            manifest = eng.store.blobs.read_bytes(eng.image(image_id).digest)
            doc = json.loads(manifest)
            for d in [doc["config"], *doc["layers"]]:
                assert reg.put_blob(repo, eng.store.blobs.read_bytes(d["digest"])) == d["digest"]
        finally:
            eng.close()
        reg.put_manifest(repo, tag, manifest, doc["mediaType"])
        return "sha256:" + hashlib.sha256(manifest).hexdigest()


def skopeo_push(tar: str, dest: str, *extra: str) -> str:
    subprocess.run([need_tool("skopeo"), "--insecure-policy", "copy", "-q", "--dest-tls-verify=false", *extra,
                    f"docker-archive:{tar}", f"docker://{dest}"], check=True, capture_output=True, timeout=240,
                   stdin=subprocess.DEVNULL)
    out = subprocess.run([need_tool("skopeo"), "inspect", "--tls-verify=false", f"docker://{dest}"],
                         check=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL).stdout
    return json.loads(out)["Digest"]
