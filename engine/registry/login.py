"""`login` and `logout`: check a user's credentials against a registry, then
keep them (credentials.py); forget them.

The check is docker's: GET /v2/ without credentials; a 200 needs none; a 401
names the scheme in WWW-Authenticate: Basic (GET /v2/ again with the
credentials) or Bearer (GET the realm with service=, account=,
offline_token=true and the credentials as basic auth, then /v2/ with the
token). A token server's refresh_token is kept as the identity token instead
of the password, as docker does.

It goes through the pull client's HTTP path (transport.py: urllib3, TLS
from config.py's TlsFor, https then plain HTTP where allowed, redirects
without the credentials when the host changes; auth.py's Basic header),
asking once, as docker's login does (no retries of a refused connection).
HTTP proxies ($HTTPS_PROXY) are not used yet."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import DockyardError
from . import credentials
from .auth import basic
from .config import CERTS_DIR, HUB_ENDPOINT, Settings, normalise_host

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
    -u/-p): False when none are kept; LoginFailed when the registry refuses
    them (an identity token goes through the token server's refresh flow).
    `announce()` is called before the registry is asked."""
    got = credentials.lookup(server)
    if got is None or not got[1]:
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
    ask = _Asker(host, settings, certs_dir, timeout)
    resp, body, url = ask.first("/v2/")
    if resp.status == 200:
        return None  # a registry without auth: docker logs in all the same
    if resp.status != 401:
        raise _failed(url, resp.status, body)
    challenges = parse_challenges(resp.raw.headers.getlist("www-authenticate"))
    auth = basic(user, password)
    if "bearer" in challenges and user == credentials.IDENTITY_TOKEN_USER:
        return _refresh(ask, url, resp.headers.get("www-authenticate"), host, password)
    if "bearer" in challenges:
        return _bearer(ask, url, challenges["bearer"], user, auth)
    if "basic" in challenges:
        resp, body = ask.get(url, {"Authorization": auth})
        if resp.status == 200:
            return None
        raise _failed(url, resp.status, body)
    raise LoginFailed(f"login attempt to {url} failed: the registry asks for an authentication scheme "
                      f"dockyard does not know ({', '.join(challenges) or 'none named'})")


def _refresh(ask: _Asker, v2_url: str, challenge: str, host: str, identity_token: str) -> str:
    """A kept identity token: a token through auth.py's refresh flow, then /v2/ with it."""
    from ..errors import RegistryError
    from .auth import Auth
    auth = Auth(host, ask.transport, lambda h: (credentials.IDENTITY_TOKEN_USER, identity_token))
    auth.learn(challenge)
    try:
        header = auth.header("")
    except RegistryError as e:
        raise LoginFailed(f"login attempt to {v2_url} failed: {e}") from None
    resp, body = ask.get(v2_url, {"Authorization": header})
    if resp.status != 200:
        raise _failed(v2_url, resp.status, body)
    return identity_token


def _bearer(ask: _Asker, v2_url: str, params: dict, user: str, auth: str) -> str | None:
    import json
    from urllib.parse import urlencode, urlsplit
    realm = params.get("realm")
    if not realm or urlsplit(realm).scheme not in ("http", "https") or not urlsplit(realm).netloc:
        raise LoginFailed(f"login attempt to {v2_url} failed: the registry's Bearer challenge has no usable realm")
    query = [("account", user), ("client_id", "dockyard"), ("offline_token", "true")]
    if params.get("service"):
        query.insert(0, ("service", params["service"]))
    token_url = realm + ("&" if "?" in realm else "?") + urlencode(query)
    resp, body = ask.get(token_url, {"Authorization": auth})
    if resp.status != 200:
        raise _failed(realm.split("?", 1)[0], resp.status, body)
    try:
        doc = json.loads(body)
        token = doc.get("token") or doc.get("access_token")
    except (ValueError, AttributeError):
        token = None
    if not isinstance(token, str) or not token:
        raise LoginFailed(f"the token server {realm.split('?', 1)[0]} answered without a token")
    resp, body = ask.get(v2_url, {"Authorization": f"Bearer {token}"})
    if resp.status != 200:
        raise _failed(v2_url, resp.status, body)
    refresh = doc.get("refresh_token")
    return refresh if isinstance(refresh, str) and refresh else None


def _failed(url: str, status: int, body: bytes) -> LoginFailed:
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
    """GET requests on the pull client's transport, asked once; its errors in login's words."""

    def __init__(self, host: str, settings: Settings, certs_dir: str, timeout: float):
        from .config import TlsFor, host_config
        from .transport import Transport
        self.host, self.settings, self.certs_dir = host, settings, certs_dir
        cfg = host_config(host, settings, certs_dir)
        self.transport = Transport((host,) if cfg.insecure else (), TlsFor(settings, certs_dir), retries=0,
                                   timeout=timeout)

    def first(self, path: str):
        """GET path on the first of the host's schemes that answers (https,
        then http where allowed: when https cannot be spoken, not when its
        certificate is refused)."""
        from .transport import TlsError
        bases = self.transport.base_urls(self.host)
        for n, base in enumerate(bases):
            try:
                return (*self.get(base + path, {}), base + path)
            except TlsError as e:
                if n == len(bases) - 1:
                    raise LoginFailed(f"cannot reach {base + path}: {e.reason or e}") from None

    def get(self, url: str, headers: dict):
        """(response, body) of GET url; credentials go over plain HTTP only to hosts that may use it."""
        from urllib.parse import urlsplit

        from .config import host_config
        from .transport import ConnectFailed, TlsError
        parts = urlsplit(url)
        if headers.get("Authorization") and parts.scheme == "http" and \
                not host_config(parts.netloc, self.settings, self.certs_dir).allows_http:
            raise LoginFailed(f"refusing to send credentials over plain HTTP to {parts.netloc}: "
                              "only loopback and registries listed in registries.insecure may use HTTP")
        where = url.split("?", 1)[0]
        try:
            resp = self.transport.request("GET", url, {"User-Agent": "dockyard", "Accept": "application/json",
                                                       **headers}, what=f"login to {where}")
            return resp, resp.read_all(MAX_BODY, f"the answer of {where}")
        except TlsError as e:
            if e.verify_failed:
                raise LoginFailed(f"cannot reach {where}: the certificate is not trusted ({e.reason}); put the "
                                  f"registry's CA in {self.certs_dir}/{parts.netloc}/ca.crt") from None
            raise
        except ConnectFailed as e:
            import re
            reason = re.sub(r"^\[Errno -?\d+\] ", "", e.reason)
            raise LoginFailed(f"cannot reach {where}: {reason[:1].lower() + reason[1:]}") from None
        except DockyardError as e:
            raise LoginFailed(f"cannot reach {where}: {e}") from None
