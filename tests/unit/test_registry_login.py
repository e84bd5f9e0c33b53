"""The login check against real HTTP servers on 127.0.0.1 written here: a
registry asking for Basic auth, one sending clients to a Bearer token server,
and the same over TLS with a CA made in the test (trusted only through
certs.d). DOCKER_CONFIG points into tmp_path."""
import base64
import json
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from engine.registry import login as lg
from engine.registry.config import parse_settings
from tests.conftest import need_tool

USER, PASSWORD = "alice", "Pa55-w0rd"
NONE = parse_settings(None)


class Registry(BaseHTTPRequestHandler):
    mode = "basic"       # or "bearer", "open"
    seen: list = []

    def log_message(self, *a):
        pass

    def _send(self, status, doc, headers=()):
        body = json.dumps(doc).encode()
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        auth = self.headers.get("Authorization") or ""
        good = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        url = urlsplit(self.path)
        self.seen.append((url.path, parse_qs(url.query), auth))
        denied = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
        if url.path == "/v2/":
            if self.mode == "open":
                return self._send(200, {})
            if self.mode == "basic":
                if auth == good:
                    return self._send(200, {})
                return self._send(401, denied, [("WWW-Authenticate", 'Basic realm="test"')])
            if auth == "Bearer tok-1":
                return self._send(200, {})
            scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
            realm = f"{scheme}://{self.headers['Host']}/token"
            return self._send(401, denied, [("WWW-Authenticate", f'Bearer realm="{realm}",service="test-registry"')])
        if url.path == "/token":
            if auth == good:
                return self._send(200, {"token": "tok-1", "refresh_token": "refresh-1", "expires_in": 300})
            return self._send(401, {"details": "incorrect username or password"})
        self._send(404, {})


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """serve(mode, tls=None) -> "127.0.0.1:PORT"; servers stopped at the end."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    servers = []

    def start(mode, tls=None):
        handler = type("H", (Registry,), {"mode": mode, "seen": []})
        srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        servers.append((srv, t))
        start.handler = handler
        return f"127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv, t in servers:
        srv.shutdown()
        srv.server_close()
        t.join()


def test_basic_auth(serve, tmp_path):
    host = serve("basic")
    got = lg.login(host, USER, PASSWORD, settings=NONE, certs_dir=str(tmp_path))
    assert got.key == host and got.helper is None
    doc = json.loads((tmp_path / "docker" / "config.json").read_text())
    assert doc["auths"][host]["auth"] == base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def test_wrong_password_is_a_401_and_nothing_is_kept(serve, tmp_path):
    host = serve("basic")
    with pytest.raises(lg.LoginFailed) as e:
        lg.login(host, USER, "wrong-one", settings=NONE, certs_dir=str(tmp_path))
    msg = str(e.value)
    assert f"login attempt to http://{host}/v2/ failed with status: 401 Unauthorized" in msg
    assert "incorrect username or password" in msg and "wrong-one" not in msg
    assert not (tmp_path / "docker" / "config.json").exists()


def test_bearer_token_flow_keeps_the_identity_token(serve, tmp_path):
    host = serve("bearer")
    got = lg.login(host, USER, PASSWORD, settings=NONE, certs_dir=str(tmp_path))
    token_asks = [q for path, q, _ in serve.handler.seen if path == "/token"]
    assert token_asks == [{"service": ["test-registry"], "account": [USER], "client_id": ["dockyard"],
                           "offline_token": ["true"]}]
    entry = json.loads((tmp_path / "docker" / "config.json").read_text())["auths"][got.key]
    assert entry["identitytoken"] == "refresh-1" and PASSWORD not in base64.b64decode(entry["auth"]).decode()
    with pytest.raises(lg.LoginFailed) as e:
        lg.check(host, USER, "nope", settings=NONE, certs_dir=str(tmp_path))
    assert "401" in str(e.value) and "/token" in str(e.value) and "nope" not in str(e.value)


def test_a_registry_without_auth_takes_any_login(serve, tmp_path):
    host = serve("open")
    assert lg.check(host, USER, PASSWORD, settings=NONE, certs_dir=str(tmp_path)) is None


def test_unknown_host_and_closed_port(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    with pytest.raises(lg.LoginFailed) as e:
        lg.check("no-such-host.invalid", USER, PASSWORD, settings=NONE, certs_dir=str(tmp_path))
    assert "unknown host no-such-host.invalid" in str(e.value)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(lg.LoginFailed) as e:
        lg.check(f"127.0.0.1:{port}", USER, PASSWORD, settings=NONE, certs_dir=str(tmp_path))
    assert "connection refused" in str(e.value) and f"127.0.0.1:{port}" in str(e.value)


def _server_cert(tmp_path):
    """A CA and a certificate for 127.0.0.1 signed by it."""
    from tests.unit.test_registry_config import make_ca
    need_tool("openssl")
    ca, ca_key = make_ca(tmp_path / "ca")
    key, csr, crt = (tmp_path / n for n in ("srv.key", "srv.csr", "srv.crt"))
    ext = tmp_path / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n")
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(csr)], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
                    "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt)],
                   check=True, capture_output=True)
    return ca, (str(crt), str(key))


def test_tls_needs_the_ca_in_certs_d(serve, tmp_path):
    ca, pair = _server_cert(tmp_path)
    host = serve("bearer", tls=pair)
    certs = tmp_path / "certs.d"
    with pytest.raises(lg.LoginFailed) as e:
        lg.check(host, USER, PASSWORD, settings=NONE, certs_dir=str(certs))
    assert "certificate is not trusted" in str(e.value) and f"{certs}/{host}/ca.crt" in str(e.value)
    assert all(a == "" for *_, a in serve.handler.seen)  # no credentials went to the untrusted server
    (certs / host).mkdir(parents=True)
    (certs / host / "ca.crt").write_bytes(ca.read_bytes())
    assert lg.check(host, USER, PASSWORD, settings=NONE, certs_dir=str(certs)) == "refresh-1"


def test_an_insecure_registry_skips_verification(serve, tmp_path):
    _, pair = _server_cert(tmp_path)
    host = serve("basic", tls=pair)
    insecure = parse_settings({"insecure": [host]})
    assert lg.check(host, USER, PASSWORD, settings=insecure, certs_dir=str(tmp_path / "none")) is None


def test_challenges_are_parsed():
    got = lg.parse_challenges(['Bearer realm="https://auth.example/token",service="registry.example",'
                               'scope="repository:a/b:pull,push"', 'Basic realm=x'])
    assert got == {"bearer": {"realm": "https://auth.example/token", "service": "registry.example",
                              "scope": "repository:a/b:pull,push"}, "basic": {"realm": "x"}}
    assert lg.parse_challenges(["Basic"]) == {"basic": {}}
