"""One registry host, one repository at a time: the /v2/ ping, manifests
(OCI and Docker schema 2, index and image; schema 1 refused), tags, blobs
(small ones read and verified, layers as streams). Requests that meet a 401
learn the challenge and go again with credentials or a token, once."""
import hashlib
import io
import json

from ..errors import CorruptArchive, DigestMismatch, NotFound, RegistryError, Unauthorized
from .auth import Auth, Credentials
from .transport import Cancelled, Response, TlsError, Transport

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
           "application/vnd.docker.distribution.manifest.v1+prettyjws")
MANIFESTS = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEXES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST))
MAX_MANIFEST = 4 << 20     # distribution's own limit
MAX_CONFIG = 64 << 20
CHUNK = 1 << 20
RESUMES = 5                # a blob body that breaks off is asked for again from where it stopped, this often

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"


class Registry:
    def __init__(self, host: str, transport: Transport, credentials: Credentials = None, base_url: str | None = None):
        """base_url: where to ask instead of the host's own API (a docker.io
        mirror, scheme://host[:port] from config.yaml): credentials are then asked for by its host."""
        self.host = host   # as in references: docker.io, 127.0.0.1:5000
        self.api_host = DOCKER_HUB_API if host == DOCKER_HUB else host
        self.transport = transport
        if base_url:
            host = self.api_host = base_url.split("://", 1)[1].rstrip("/")
        self._bases = [base_url.rstrip("/")] if base_url else transport.base_urls(self.api_host)
        self.base = self._bases[0]
        self.auth = Auth(host, transport, credentials)   # credentials are asked for by the reference's host
        self._pinged = False

    # ------------------------------------------------------------- requests

    def ping(self) -> None:
        """GET /v2/: reachable, speaks the API; learn its challenge early."""
        if self._pinged:
            return
        for n, base in enumerate(self._bases):
            try:
                resp = self.transport.request("GET", base + "/v2/", {"User-Agent": "dockyard"},
                                              what=f"ping of {self.host}")
                break
            except TlsError as e:
                # a loopback or insecure registry speaking plain HTTP; a refused certificate stays an error
                if e.verify_failed or n == len(self._bases) - 1:
                    raise
        self.base = base
        resp.close()
        if resp.status == 401:
            self.auth.learn(resp.headers.get("www-authenticate"))
        elif resp.status == 404:
            raise RegistryError(f"{self.host} is not a registry: it has no /v2/ API (404)")
        elif resp.status >= 400:
            raise _error(resp, f"{self.host} answered {resp.status} to /v2/", b"")
        self._pinged = True

    def _get(self, path: str, scope: str, accept: str | None = None, what: str = "",
             extra: dict | None = None) -> Response:
        headers = dict(extra or {})
        if accept:
            headers["Accept"] = accept
        return self.send("GET", path, scope, headers, what=what)

    def send(self, method: str, url: str, scope: str, headers: dict | None = None, body=None, what: str = "",
             refused: str = "wrong user name or password?", needs: str = "for") -> Response:
        """One request with the scope's credentials (a path on this registry or
        an absolute URL, as upload locations are); a 401 learns the challenge
        and goes again once, as does an expired Bearer token. refused/needs:
        the words of the Unauthorized error (pull's or push's)."""
        self.ping()
        headers = {"User-Agent": "dockyard", **(headers or {})}
        if not url.startswith(("http://", "https://")):
            url = self.base + url
        for attempt in range(2):
            auth = self.auth.header(scope, fresh=attempt > 0)
            if auth:
                headers["Authorization"] = auth
            resp = self.transport.request(method, url, headers, body=body, what=what)
            if resp.status != 401:
                return resp
            resp.close()
            challenge = resp.headers.get("www-authenticate")
            if attempt == 0 and challenge and not auth:
                self.auth.learn(challenge)
                continue
            if attempt == 0 and auth and auth.startswith("Bearer"):
                continue  # the token may have expired early: once more with a new one
            break
        if self.auth.used_credentials:
            raise Unauthorized(f"{self.host}: unauthorized: the registry refused the credentials for {what} "
                               f"({refused})")
        raise Unauthorized(f"{self.host}: unauthorized: authentication required {needs} {what}: "
                           f"run `dockyard login {self.host}`")

    # ------------------------------------------------------------- manifests

    def manifest(self, repo: str, ref: str, shown: str) -> tuple[str, bytes, str]:
        """(media type, exact bytes, digest) of repo's manifest or index for
        a tag or digest; a digest reference is verified against the bytes."""
        what = f"manifest {shown}"
        resp = self._get(f"/v2/{repo}/manifests/{ref}", _scope(repo), ACCEPT, what)
        data = resp.read_all(MAX_MANIFEST, what)
        if resp.status == 404:
            raise _error(resp, f"manifest for {shown} not found", data, NotFound)
        if resp.status != 200:
            raise _error(resp, f"{self.host} answered {resp.status} for {what}", data)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if ref.startswith("sha256:") and digest != ref:
            raise DigestMismatch(f"{what} does not match its digest: its bytes hash to {digest}")
        media_type = resp.headers.get("content-type", "").split(";")[0].strip()
        try:
            doc = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise CorruptArchive(f"{what} from {self.host} is not JSON") from None
        if not isinstance(doc, dict):
            raise CorruptArchive(f"{what} from {self.host} is not a JSON object")
        declared = doc.get("mediaType")
        if media_type in SCHEMA1 or declared in SCHEMA1 or doc.get("schemaVersion") == 1:
            raise RegistryError(f"{shown} is a Docker schema 1 manifest, which dockyard does not pull (it is "
                                "deprecated and unsigned content): push the image again with a current tool")
        if declared in MANIFESTS + INDEXES:
            media_type = declared   # the document's own word beats a generic Content-Type
        elif media_type not in MANIFESTS + INDEXES:
            media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
        return media_type, data, digest

    def tags(self, repo: str, shown: str) -> list[str]:
        out: list[str] = []
        path = f"/v2/{repo}/tags/list?n=1000"
        while path:
            resp = self._get(path, _scope(repo), what=f"tags of {shown}")
            data = resp.read_all(16 << 20, f"tags of {shown}")
            if resp.status == 404:
                raise _error(resp, f"repository {shown} not found", data, NotFound)
            if resp.status != 200:
                raise _error(resp, f"{self.host} answered {resp.status} for the tags of {shown}", data)
            try:
                out += [t for t in (json.loads(data).get("tags") or []) if isinstance(t, str)]
            except (ValueError, AttributeError):
                raise CorruptArchive(f"the tag list of {shown} is not JSON") from None
            link = resp.headers.get("link", "")
            path = link.split(";")[0].strip(" <>") if 'rel="next"' in link else ""
            if path.startswith("http"):
                path = path[len(self.base):] if path.startswith(self.base) else ""
        return out

    # ------------------------------------------------------------- blobs

    def blob_bytes(self, repo: str, desc: dict, what: str, limit: int = MAX_CONFIG) -> bytes:
        """A small blob (a config), verified against its descriptor."""
        if desc["size"] > limit:
            raise RegistryError(f"{what} is {desc['size']} bytes, more than dockyard reads into memory")
        with self.open_blob(repo, desc["digest"], desc["size"], what) as f:
            data = f.read()
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if got != desc["digest"] or len(data) != desc["size"]:
            raise DigestMismatch(f"{what} ({desc['digest']}) does not match its digest: "
                                 f"its {len(data)} bytes hash to {got}")
        return data

    def open_blob(self, repo: str, digest: str, size: int | None, what: str, on_read=None) -> "BlobStream":
        resp = self._blob_get(repo, digest, what)
        return BlobStream(resp, size, what, self.transport, on_read,
                          reopen=lambda start, etag: self._blob_get(repo, digest, what, start, etag))

    def _blob_get(self, repo: str, digest: str, what: str, start: int = 0, etag: str | None = None) -> Response:
        """GET a blob, from byte `start` on (Range, and If-Range with the
        first answer's ETag so that a changed blob comes whole, not spliced)."""
        extra = {}
        if start:
            extra["Range"] = f"bytes={start}-"
            if etag:
                extra["If-Range"] = etag
        resp = self._get(f"/v2/{repo}/blobs/{digest}", _scope(repo), what=what, extra=extra)
        if resp.status not in (200, 206):
            data = resp.read_all(1 << 16, what)
            if resp.status == 404:
                raise _error(resp, f"{what} ({digest}) not found in {self.host}", data, NotFound)
            raise _error(resp, f"{self.host} answered {resp.status} for {what} ({digest})", data)
        return resp


class BlobStream(io.RawIOBase):
    """A blob's body as it arrives: never more than its descriptor's size,
    Ctrl-C seen at the next read. A body that breaks off (a dropped
    connection, a short body) is asked for again from where it stopped
    (`reopen(start, etag)`: Range), up to RESUMES times, so the reader (the
    ingest's hash and unpack) goes on as if nothing happened; a registry
    that answers a Range request with the whole blob (200) cannot be
    resumed: an error naming the blob. The digest is checked by whoever
    consumes it (ingest)."""

    def __init__(self, resp: Response, size: int | None, what: str, transport: Transport, on_read=None,
                 reopen=None):
        self._resp, self._size, self._what = resp, size, what
        self._transport, self._on_read = transport, on_read
        self._reopen, self._etag = reopen, resp.headers.get("etag")
        self.got = 0
        self.resumed = 0

    def readable(self) -> bool:
        return True

    def _read(self, n: int) -> bytes:
        try:
            return self._resp.raw.read(n)
        except Exception as e:   # urllib3's ProtocolError, ReadTimeoutError, IncompleteRead
            if not self._can_resume():
                raise RegistryError(f"{self._what}: the download broke off after {self.got} bytes: {e}") from None
        self._resume()
        return self._read(n)

    def _can_resume(self) -> bool:
        return self._reopen is not None and self.resumed < RESUMES and not self._transport.cancel.is_set()

    def _resume(self) -> None:
        self._drop()
        self.resumed += 1
        resp = self._reopen(self.got, self._etag)
        if resp.status != 206:
            resp.close()   # the whole blob again (no Range support, or it changed): what we hashed is lost
            raise RegistryError(f"{self._what}: the download broke off after {self.got} bytes and the registry "
                                f"cannot resume it (it answered {resp.status} to a Range request)")
        start = resp.headers.get("content-range", "").removeprefix("bytes ").split("-", 1)[0]
        if start != str(self.got):
            resp.close()
            raise RegistryError(f"{self._what}: the registry resumed the download at the wrong place "
                                f"(Content-Range {resp.headers.get('content-range')!r}, wanted byte {self.got})")
        self._resp = resp

    def _drop(self) -> None:
        self._resp.raw.close()   # left half-read: drop the connection, do not drain it
        self._resp.raw.release_conn()

    def readinto(self, b) -> int:
        if self._transport.cancel.is_set():
            raise Cancelled("interrupted")
        data = self._read(min(len(b), CHUNK))
        n = len(data)
        while n == 0 and self._size is not None and self.got < self._size:
            if not self._can_resume():
                raise RegistryError(f"{self._what}: the download broke off after {self.got} of {self._size} bytes")
            self._resume()
            data = self._read(min(len(b), CHUNK))
            n = len(data)
        self.got += n
        if self._size is not None and self.got > self._size:
            raise DigestMismatch(f"{self._what} is longer than its descriptor's {self._size} bytes")
        b[:n] = data
        if self._on_read and n:
            self._on_read(self.got)
        return n

    def close(self) -> None:
        if not self.closed:
            if self._size is not None and self.got < self._size:
                self._drop()   # left half-read (an error, Ctrl-C)
            else:
                self._resp.close()
        super().close()


def _scope(repo: str) -> str:
    return f"repository:{repo}:pull"


def _error(resp: Response, lead: str, body: bytes, kind=RegistryError) -> Exception:
    """The registry's own words (its errors list) after ours."""
    detail = ""
    try:
        errs = json.loads(body).get("errors") or []
        detail = "; ".join(f"{e.get('code', '').lower().replace('_', ' ') or 'error'}: {e.get('message', '')}"
                           .rstrip(": ") for e in errs if isinstance(e, dict))
    except (ValueError, AttributeError, TypeError):
        pass
    if resp.status == 429:
        wait = resp.headers.get("retry-after")
        return RegistryError(f"{lead}: too many requests (429): the registry is rate limiting"
                             + (f", try again in {wait} s" if wait else ", try again later"))
    if resp.status >= 500 and not detail:
        detail = f"server error {resp.status}, still failing after retries"
    return kind(f"{lead}: {detail}" if detail else lead)
