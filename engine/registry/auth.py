"""Registry auth: the WWW-Authenticate challenge of a 401 (RFC 7235), Basic
with the credentials given, and the Bearer token flow of the distribution
spec (GET realm?service=..&scope=.., anonymous or with Basic credentials;
tokens cached per scope until they expire). Credentials come from a callable
`credentials(host) -> (user, password) | None` (docker's config.json and its
helpers: engine/registry/credentials.py); they are never logged or put in a
message."""
import base64
import json
import re
import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode

from ..errors import RegistryError, Unauthorized
from .credentials import IDENTITY_TOKEN_USER
from .transport import Transport

Credentials = Callable[[str], tuple[str, str] | None] | None

_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """('bearer', {'realm': ..., 'service': ..., 'scope': ...}) from a WWW-Authenticate value."""
    scheme, _, rest = header.strip().partition(" ")
    params = {}
    pos = 0
    while pos < len(rest):
        m = _PARAM.match(rest, pos)
        if not m or m.end() == pos:
            break
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", m.group(2)) if m.group(2) is not None else m.group(3)
        pos = m.end()
    return scheme.lower(), params


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Auth:
    """What one registry host wants, learnt from its challenges; thread-safe."""

    def __init__(self, host: str, transport: Transport, credentials: Credentials = None):
        self.host = host
        self._transport = transport
        self._credentials = credentials
        self._lock = threading.Lock()
        self._challenge: tuple[str, dict] | None = None
        self._tokens: dict[str, tuple[str, float]] = {}   # scope -> (token, expires at)
        self._creds_used = False

    def _creds(self) -> tuple[str, str] | None:
        if self._credentials is None:
            return None
        got = self._credentials(self.host)
        if got:
            self._creds_used = True
        return got

    def learn(self, www_authenticate: str | None) -> None:
        if www_authenticate:
            with self._lock:
                self._challenge = parse_challenge(www_authenticate)

    def header(self, scope: str, fresh: bool = False) -> str | None:
        """The Authorization value for a request needing `scope`, or None when
        the registry asked for nothing. fresh: a new token (the cached one was refused)."""
        with self._lock:
            challenge = self._challenge
            if challenge is None:
                return None
            scheme, params = challenge
            if scheme == "basic":
                creds = self._creds()
                if creds is None:
                    raise Unauthorized(f"{self.host}: unauthorized: authentication required (a user name and "
                                       f"password): run `dockyard login {self.host}`")
                return basic(*creds)
            if scheme != "bearer":
                raise RegistryError(f"{self.host} asks for {scheme} authentication, which dockyard does not speak")
            cached = self._tokens.get(scope)
            if cached and not fresh and cached[1] > time.monotonic():
                return "Bearer " + cached[0]
            token, ttl = self._fetch_token(params, scope)
            self._tokens[scope] = (token, time.monotonic() + max(ttl - 10, 1))
            return "Bearer " + token

    def _fetch_token(self, params: dict, scope: str) -> tuple[str, float]:
        realm = params.get("realm")
        if not realm or not realm.startswith(("http://", "https://")):
            raise RegistryError(f"{self.host} asks for a bearer token but names no valid realm ({realm!r})")
        query = {k: v for k, v in (("service", params.get("service")), ("scope", scope)) if v}
        headers = {"User-Agent": "dockyard"}
        creds = self._creds()
        if creds and creds[0] == IDENTITY_TOKEN_USER:
            got = self._refresh(realm, query, creds[1])
            if got is not None:
                return got
        if creds:
            headers["Authorization"] = basic(*creds)
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        resp = self._transport.request("GET", url, headers, what=f"token for {scope} from {realm}")
        body = resp.read_all(1 << 20, f"the token server {realm}'s answer")
        if resp.status in (401, 403):
            if creds:
                raise Unauthorized(f"{self.host}: the token server {realm} refused the credentials "
                                   f"({resp.status}): wrong user name or password?")
            raise Unauthorized(f"{self.host}: the token server {realm} wants credentials for {scope}: "
                               f"run `dockyard login {self.host}`")
        if resp.status != 200:
            raise RegistryError(f"{self.host}: the token server {realm} answered {resp.status}")
        return _token_of(body, self.host, realm)

    def _refresh(self, realm: str, query: dict, refresh_token: str) -> tuple[str, float] | None:
        """An identity token (what `login` kept when the token server gave a
        refresh_token) is an OAuth2 refresh token: POST grant_type=refresh_token
        to the realm, as docker's registry client does. None: the realm has no
        OAuth endpoint (404, 405, 501), so the caller falls back to GET with Basic."""
        body = urlencode({"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": "dockyard",
                          **query}).encode()
        resp = self._transport.request("POST", realm, {"User-Agent": "dockyard", "Content-Type":
                                                       "application/x-www-form-urlencoded"}, body=body,
                                       what=f"token for {query.get('scope')} from {realm}")
        data = resp.read_all(1 << 20, f"the token server {realm}'s answer")
        if resp.status in (404, 405, 501):
            return None
        if resp.status in (400, 401, 403):
            raise Unauthorized(f"{self.host}: the token server {realm} refused the identity token kept for it "
                               f"({resp.status}): run `dockyard login {self.host}` again")
        if resp.status != 200:
            raise RegistryError(f"{self.host}: the token server {realm} answered {resp.status}")
        return _token_of(data, self.host, realm)

    @property
    def used_credentials(self) -> bool:
        return self._creds_used


def _token_of(body: bytes, host: str, realm: str) -> tuple[str, float]:
    """(token, seconds it lasts) from a token server's JSON answer (`token`, or OAuth2's `access_token`)."""
    try:
        doc = json.loads(body)
        token = doc.get("token") or doc.get("access_token")
        ttl = float(doc.get("expires_in") or 60)
    except (ValueError, AttributeError, TypeError):
        token = None
    if not isinstance(token, str) or not token:
        raise RegistryError(f"{host}: the token server {realm} gave no token")
    return token, ttl
