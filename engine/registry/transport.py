"""HTTP to registries, with urllib3 (pooled keep-alive connections shared by
the layer threads, TLS verified with the system CAs, streamed bodies; loaded
only when a registry is first asked, so that other commands never pay for it).

HTTPS first; plain HTTP after it only for loopback hosts (localhost,
127.0.0.0/8, ::1) and the hosts given as insecure (registry/config.py). 5xx answers and dropped connections are retried
with backoff, 429 after its Retry-After; what is left is a RegistryError a
user can act on."""
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import RegistryError

RETRIES = 3                  # after the first try: 5xx, 429, connections dropped
BACKOFF = (0.5, 1.0, 2.0)    # seconds before each retry of a 5xx or a dropped connection
MAX_RETRY_AFTER = 60.0       # a 429's Retry-After we still wait for; longer ones are the user's call
MAX_REDIRECTS = 5


class Cancelled(RegistryError):
    """The pull was interrupted (Ctrl-C): workers stop at their next read."""


class ConnectFailed(RegistryError):
    """The host did not resolve, refused, or did not answer; `reason` in the socket's words."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def split_host(host: str) -> tuple[str, int | None]:
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name, int(rest[1:]) if rest.startswith(":") else None
    name, _, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    return (name, int(port)) if port.isdigit() else (host, None)


class TlsError(RegistryError):
    """TLS failed: verify_failed when the certificate was refused (then no
    plain HTTP is tried: the user must add the CA), else the other side may
    not speak TLS at all (a plain HTTP registry on loopback)."""

    def __init__(self, message: str, verify_failed: bool, reason: str = ""):
        super().__init__(message)
        self.verify_failed = verify_failed
        self.reason = reason   # the TLS library's words alone


def schemes_for(host: str, insecure: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The schemes to try, in order (registry-auth.md): HTTPS, then plain HTTP
    only for loopback and the registries listed as insecure."""
    from .config import is_loopback
    name, _ = split_host(host)
    return ("https", "http") if is_loopback(host) or host in insecure or name in insecure else ("https",)


@dataclass
class Response:
    status: int
    headers: dict          # lower-cased names
    raw: object            # the urllib3 response: read(n) streams the body
    url: str

    def read_all(self, limit: int, what: str) -> bytes:
        data = self.raw.read(limit + 1, decode_content=True)
        self.raw.release_conn()
        if len(data) > limit:
            raise RegistryError(f"{what} is larger than {limit} bytes: refused")
        return data

    def close(self) -> None:
        try:
            self.raw.drain_conn()
        except Exception:
            pass
        self.raw.release_conn()


class Transport:
    """One per Engine: a urllib3 PoolManager, thread-safe."""

    def __init__(self, insecure: tuple[str, ...] = (), tls_for: Callable[[str], dict] | None = None,
                 cancel: threading.Event | None = None, retries: int = RETRIES, timeout: float | None = None):
        """retries: of 5xx, 429 and failed connections (login asks once, as docker's);
        timeout: seconds to connect and between reads (default 15 and 120)."""
        import urllib3  # here: 30 ms that only registry work pays
        self._urllib3 = urllib3
        # An unverified registry is the user's choice (registries.insecure): no warning on every request.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.insecure = tuple(insecure)
        self._tls_for = tls_for   # host -> urllib3 pool kwargs (ssl_context...): config.TlsFor
        self.cancel = cancel or threading.Event()
        self.retries = min(retries, len(BACKOFF))
        self._pm = urllib3.PoolManager(num_pools=16, maxsize=6, block=False, retries=False,
                                       timeout=urllib3.Timeout(connect=timeout or 15.0, read=timeout or 120.0))

    def base_urls(self, host: str) -> list[str]:
        return [f"{scheme}://{host}" for scheme in schemes_for(host, self.insecure)]

    def _sleep(self, seconds: float) -> None:
        if self.cancel.wait(seconds):
            raise Cancelled("interrupted")

    def request(self, method: str, url: str, headers: dict | None = None, body: bytes | None = None,
                what: str = "") -> Response:
        """One request, following redirects (Authorization is dropped when the
        host changes: blob storage behind a registry must not see it), retrying
        what may pass. The caller reads or closes the response."""
        u3 = self._urllib3
        headers = dict(headers or {})
        what = what or f"{method} {url}"
        tries = 0
        redirects = 0
        while True:
            if self.cancel.is_set():
                raise Cancelled("interrupted")
            parsed = u3.util.parse_url(url)
            try:
                kw = self._tls_for(parsed.netloc) if (self._tls_for and parsed.scheme == "https") else None
                pool = self._pm.connection_from_host(parsed.host, parsed.port, parsed.scheme, pool_kwargs=kw)
                raw = pool.urlopen(method, parsed.request_uri, body=body, headers=headers, redirect=False,
                                   retries=False, preload_content=False, decode_content=False,
                                   assert_same_host=False)
            except u3.exceptions.NameResolutionError:
                raise ConnectFailed(f"unknown host {parsed.host}: the registry's name does not resolve "
                                    "(check the image name and the network)", f"unknown host {parsed.host}") from None
            except u3.exceptions.SSLError as e:
                import ssl
                refused = isinstance(getattr(e, "reason", None), ssl.SSLCertVerificationError) or \
                    "CERTIFICATE_VERIFY_FAILED" in str(e)
                raise TlsError(f"TLS error talking to {parsed.netloc}: {_reason(e)} (a registry with its own "
                               f"CA needs /etc/docker/certs.d/{parsed.netloc}/ca.crt; a plain HTTP one, "
                               "registries.insecure in config.yaml)", refused, _reason(e)) from None
            except (u3.exceptions.NewConnectionError, u3.exceptions.ConnectTimeoutError,
                    u3.exceptions.ProtocolError, u3.exceptions.ReadTimeoutError) as e:
                if tries < self.retries:  # refused, timed out or dropped: the same backoff for each
                    tries += 1
                    self._sleep(BACKOFF[tries - 1])
                    continue
                if isinstance(e, (u3.exceptions.NewConnectionError, u3.exceptions.ConnectTimeoutError)):
                    raise ConnectFailed(f"cannot connect to {parsed.netloc}: {_reason(e)}", _reason(e)) from None
                raise RegistryError(f"{what}: the connection to {parsed.netloc} failed: {_reason(e)}") from None
            resp = Response(raw.status, {k.lower(): v for k, v in raw.headers.items()}, raw, url)
            if resp.status in (301, 302, 303, 307, 308) and "location" in resp.headers:
                resp.close()
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise RegistryError(f"{what}: too many redirects")
                new = u3.util.parse_url(_join(url, resp.headers["location"]))
                if new.netloc != parsed.netloc:
                    headers.pop("Authorization", None)
                url = new.url
                if resp.status == 303:
                    method, body = "GET", None
                continue
            if resp.status == 429 and tries < self.retries:
                delay = _retry_after(resp.headers.get("retry-after"))
                if delay is not None and delay <= MAX_RETRY_AFTER:
                    resp.close()
                    tries += 1
                    self._sleep(delay)
                    continue
            if resp.status in (500, 502, 503, 504) and tries < self.retries:
                resp.close()
                tries += 1
                self._sleep(BACKOFF[tries - 1])
                continue
            return resp


def _reason(e: Exception) -> str:
    r = getattr(e, "reason", None) or e
    text = str(r)
    mark = "Failed to establish a new connection: "
    return text.split(mark, 1)[-1] if mark in text else text


def _join(base: str, location: str) -> str:
    from urllib.parse import urljoin
    return urljoin(base, location)


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait: Retry-After is seconds or an HTTP date."""
    if not value:
        return 1.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
