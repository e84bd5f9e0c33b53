"""`login` and `logout`: check a user's credentials against a registry, then
keep them (credentials.py); forget them.

The check is docker's: GET /v2/ without credentials; a 200 needs none; a 401
names the scheme in WWW-Authenticate: Basic (GET /v2/ again with the
credentials) or Bearer (GET the realm with service=, account=,
offline_token=true and the credentials as basic auth, then /v2/ with the
token). A token server's refresh_token is kept as the identity token instead
of the password, as docker does.

This uses the standard library's http.client on purpose, one request at a
time: it is the small first piece of the registry client. It is to be merged
with the pull client's session (engine/registry/, its auth challenges and
token cache) next session, which then does the /v2/ ping for both; until
then it takes TLS, plain HTTP and the CA files from config.py like the client
will. HTTP proxies ($HTTPS_PROXY) are not used yet."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import DockyardError
from . import credentials
from .config import CERTS_DIR, HUB_ENDPOINT, Endpoint, Settings, host_config, normalise_host

TIMEOUT = 30.0
MAX_BODY = 1 << 20  # a token answer or an error document; anything bigger is not one


class LoginFailed(DockyardError):
    """The registry refused the credentials, or could not be asked."""

    exit_code = 1  # docker login's


@dataclass(frozen=True)
class LoginResult:
    key: str                # the config.json key the credentials were kept under
    path: str               # config.json
    helper: str | None      # the credential helper holding the secret; None: base64 in the file


def registry_host(server: str | None) -> str:
    """The host[:port] to ask for `server` (None: Docker Hub)."""
    key = credentials.server_key(server)
    if key == credentials.DOCKER_HUB_KEY:
        return HUB_ENDPOINT
    return normalise_host(key)


def login(server: str | None, user: str, password: str, *, settings: Settings | None = None,
          certs_dir: str = CERTS_DIR, timeout: float = TIMEOUT) -> LoginResult:
    """Checks the credentials against the registry, then keeps them."""
    if not user:
        raise LoginFailed("a username is required")
    if not password:
        raise LoginFailed("a password is required")
    token = check(server, user, password, settings=settings, certs_dir=certs_dir, timeout=timeout)
    path = credentials.config_path()
    key = credentials.store(server, user, password, identity_token=token, path=path)
    doc = credentials.load(path)
    return LoginResult(key, path, credentials.helper_for(doc, key))


def logout(server: str | None) -> tuple[str, bool]:
    """(the name docker shows: the Hub's key or host[:port], whether there was anything to forget)."""
    key = credentials.server_key(server)
    return key, credentials.erase(server)


def relogin(server: str | None, announce=None) -> bool:
    """Checks the credentials kept for `server` (docker's login with no
    -u/-p): False when none are kept (or only an identity token, which needs
    the token client's refresh flow); LoginFailed when the registry refuses them.
    `announce()` is called before the registry is asked."""
    got = credentials.lookup(server)
    if got is None or got[0] == credentials.IDENTITY_TOKEN_USER or not got[1]:
        return False
    if announce is not None:
        announce()
    check(server, *got)
    return True


def stored_username(server: str | None) -> str | None:
    """The username kept for `server`, for the prompt's default (none for an identity token)."""
    try:
        got = credentials.lookup(server)
    except DockyardError:
        return None
    if got is None or got[0] == credentials.IDENTITY_TOKEN_USER:
        return None
    return got[0]


# -- the check -----------------------------------------------------------------

def check(server: str | None, user: str, password: str, *, settings: Settings | None = None,
          certs_dir: str = CERTS_DIR, timeout: float = TIMEOUT) -> str | None:
    """Raises LoginFailed unless the registry takes the credentials. Returns
    the identity token the token server gave, if any."""
    from .config import load_settings
    settings = settings if settings is not None else load_settings()
    host = registry_host(server)
    cfg = host_config(host, settings, certs_dir)
    ask = _Asker(settings, certs_dir, timeout)
    status, headers, body, url = ask.first(cfg, "/v2/")
    if status == 200:
        return None  # a registry without auth: docker logs in all the same
    if status != 401:
        raise _failed(url, status, headers, body)
    challenges = parse_challenges(headers.get_all("WWW-Authenticate") or [])
    basic = _basic(user, password)
    if "bearer" in challenges:
        return _bearer(ask, url, challenges["bearer"], user, basic)
    if "basic" in challenges:
        status, headers, body, _ = ask.get(url, {"Authorization": basic})
        if status == 200:
            return None
        raise _failed(url, status, headers, body)
    raise LoginFailed(f"login attempt to {url} failed: the registry asks for an authentication scheme "
                      f"dockyard does not know ({', '.join(challenges) or 'none named'})")


def _bearer(ask: _Asker, v2_url: str, params: dict, user: str, basic: str) -> str | None:
    import json
    from urllib.parse import urlencode, urlsplit
    realm = params.get("realm")
    if not realm or urlsplit(realm).scheme not in ("http", "https") or not urlsplit(realm).netloc:
        raise LoginFailed(f"login attempt to {v2_url} failed: the registry's Bearer challenge has no usable realm")
    query = [("account", user), ("client_id", "dockyard"), ("offline_token", "true")]
    if params.get("service"):
        query.insert(0, ("service", params["service"]))
    token_url = realm + ("&" if "?" in realm else "?") + urlencode(query)
    status, headers, body, url = ask.get(token_url, {"Authorization": basic})
    if status != 200:
        raise _failed(url.split("?", 1)[0], status, headers, body)
    try:
        doc = json.loads(body)
        token = doc.get("token") or doc.get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise LoginFailed(f"the token server {url.split('?', 1)[0]} answered without a token")
    status, headers, body, _ = ask.get(v2_url, {"Authorization": f"Bearer {token}"})
    if status != 200:
        raise _failed(v2_url, status, headers, body)
    refresh = doc.get("refresh_token")
    return refresh if isinstance(refresh, str) and refresh else None


def _basic(user: str, password: str) -> str:
    import base64
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _failed(url: str, status: int, headers, body: bytes) -> LoginFailed:
    """docker's "login attempt to URL failed with status: 401 Unauthorized",
    with the registry's own words when it gave some."""
    import http
    import json
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    msg = f"login attempt to {url} failed with status: {status} {reason}".rstrip()
    said = ""
    try:
        errors = json.loads(body).get("errors") or []
        said = "; ".join(str(e.get("message") or e.get("code")) for e in errors if isinstance(e, dict))
    except (ValueError, AttributeError):
        pass
    if status == 401:
        msg += ": incorrect username or password"
        if said and said.lower() not in ("authentication required", "unauthorized"):
            msg += f" ({said})"
    elif said:
        msg += f": {said}"
    return LoginFailed(msg)


def parse_challenges(values: list[str]) -> dict[str, dict[str, str]]:
    """WWW-Authenticate headers -> {scheme (lower case): {param: value}}:
    `Bearer realm="https://auth/token",service="registry"` ->
    {"bearer": {"realm": "https://auth/token", "service": "registry"}}."""
    out: dict[str, dict[str, str]] = {}
    for value in values:
        i, n = 0, len(value)
        scheme = None
        while i < n:
            while i < n and value[i] in " ,":
                i += 1
            j = i
            while j < n and value[j] not in " =,":
                j += 1
            word = value[i:j]
            if not word:
                break
            k = j
            while k < n and value[k] == " ":
                k += 1
            if k < n and value[k] == "=" and scheme is not None:
                k += 1
                while k < n and value[k] == " ":
                    k += 1
                if k < n and value[k] == '"':
                    k += 1
                    chars = []
                    while k < n and value[k] != '"':
                        if value[k] == "\\" and k + 1 < n:
                            k += 1
                        chars.append(value[k])
                        k += 1
                    k += 1
                    param = "".join(chars)
                else:
                    e = k
                    while e < n and value[e] != ",":
                        e += 1
                    param = value[k:e].strip()
                    k = e
                out[scheme][word.lower()] = param
                i = k
            else:
                scheme = word.lower()
                out.setdefault(scheme, {})
                i = j
    return out


class _Asker:
    """GET requests with http.client: TLS as config.py says for each host,
    redirects followed (the Authorization dropped when the host changes)."""

    def __init__(self, settings: Settings, certs_dir: str, timeout: float):
        self.settings, self.certs_dir, self.timeout = settings, certs_dir, timeout

    def first(self, cfg, path: str):
        """GET path on the first of cfg's endpoints that answers (https, then
        http where allowed: when https cannot be spoken, not when its
        certificate is refused)."""
        problem = None
        for ep in cfg.endpoints:
            try:
                return (*self._once(ep, cfg, path, {}), ep.url + path)
            except _Unreachable as e:
                problem = e
                if e.final:
                    break
        raise LoginFailed(str(problem))

    def get(self, url: str, headers: dict, redirects: int = 5):
        from urllib.parse import urljoin, urlsplit
        for _ in range(redirects + 1):
            parts = urlsplit(url)
            cfg = host_config(parts.netloc, self.settings, self.certs_dir)
            if parts.scheme == "http" and not cfg.allows_http:
                raise LoginFailed(f"refusing to send credentials over plain HTTP to {parts.netloc}: "
                                  "only loopback and registries listed in registries.insecure may use HTTP")
            ep = next((e for e in cfg.endpoints if e.scheme == parts.scheme), None) or Endpoint(parts.scheme,
                                                                                               cfg.host)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            try:
                status, got, body = self._once(ep, cfg, target, headers)
            except _Unreachable as e:
                raise LoginFailed(str(e)) from None
            if status in (301, 302, 303, 307, 308) and got.get("Location"):
                new = urljoin(url, got["Location"])
                if urlsplit(new).netloc != parts.netloc or urlsplit(new).scheme != parts.scheme:
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                url = new
                continue
            return status, got, body, url
        raise LoginFailed(f"too many redirects from {url}")

    def _once(self, ep: Endpoint, cfg, target: str, headers: dict):
        import http.client
        import socket
        import ssl
        where = f"{ep.url}{target.split('?', 1)[0]}"
        try:
            if ep.scheme == "https":
                conn = http.client.HTTPSConnection(ep.host, timeout=self.timeout,
                                                   context=cfg.ssl_context(verify=ep.verify))
            else:
                conn = http.client.HTTPConnection(ep.host, timeout=self.timeout)
        except ValueError as e:
            raise _Unreachable(f"invalid registry address {ep.host}: {e}", final=True) from None
        try:
            conn.request("GET", target, headers={"User-Agent": "dockyard", "Accept": "application/json",
                                                 **headers})
            resp = conn.getresponse()
            body = resp.read(MAX_BODY)
            return resp.status, resp.headers, body
        except ssl.SSLCertVerificationError as e:
            raise _Unreachable(f"cannot reach {where}: the certificate is not trusted "
                               f"({e.verify_message or e.reason}); put the registry's CA in "
                               f"{self.certs_dir}/{cfg.host}/ca.crt", final=True) from None
        except socket.gaierror:
            raise _Unreachable(f"cannot reach {where}: unknown host {cfg.host.rsplit(':', 1)[0]}",
                               final=True) from None
        except ConnectionRefusedError:
            raise _Unreachable(f"cannot reach {where}: connection refused") from None
        except TimeoutError:
            raise _Unreachable(f"cannot reach {where}: no answer in {self.timeout:g} s") from None
        except (ssl.SSLError, http.client.HTTPException, OSError) as e:
            raise _Unreachable(f"cannot reach {where}: {getattr(e, 'reason', None) or getattr(e, 'strerror', None) or e}") from None
        finally:
            conn.close()


class _Unreachable(Exception):
    def __init__(self, message: str, final: bool = False):
        super().__init__(message)
        self.final = final  # trying the next endpoint would not help (or would mislead)
