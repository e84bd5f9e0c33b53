"""The push side of the distribution API, for one repository of one registry:
HEAD a blob (the registry may have it), mount it from another repository of
the same registry, upload it monolithic (POST, then PUT ?digest=) or in
chunks (PATCH with Content-Range, then PUT), PUT a manifest with its own media
type. Requests ask for the push scope (`repository:NAME:pull,push`); a 401
learns the challenge and goes once more, as client.py's GETs do. Every error
names the blob or the manifest it was about."""
from collections.abc import Callable
from urllib.parse import urljoin

from ..errors import NotFound, RegistryError, Unauthorized
from .client import Registry, _error
from .transport import Cancelled, Response

CHUNKED_OVER = 1 << 30      # blobs larger than this go in chunks (a proxy's body limit is the usual reason)
CHUNK_SIZE = 64 << 20       # bytes per PATCH when chunked
SEND_BLOCK = 1 << 20

OpenBlob = Callable[[int], object]   # offset -> a binary file positioned there


class _Body:
    """A request body read from a file, `size` bytes from `offset`. Iterable
    anew for each try (the transport retries a 5xx or a dropped connection
    with the same body object: each try opens the file again from the start).
    on_sent(n) gets the bytes sent so far; a set cancel event stops it."""

    def __init__(self, open_blob: OpenBlob, offset: int, size: int, cancel, on_sent=None):
        self._open, self._offset, self._size = open_blob, offset, size
        self._cancel, self._on_sent = cancel, on_sent

    def __iter__(self):
        with self._open(self._offset) as f:
            left = self._size
            while left > 0:
                if self._cancel.is_set():
                    raise Cancelled("interrupted")
                data = f.read(min(SEND_BLOCK, left))
                if not data:
                    raise RegistryError(f"the stored blob ended {left} bytes early")
                left -= len(data)
                if self._on_sent:
                    self._on_sent(self._offset + self._size - left)
                yield data


class Uploader:
    def __init__(self, registry: Registry, repo: str):
        self.registry = registry
        self.repo = repo
        self.scope = f"repository:{repo}:pull,push"
        self.shown = f"{registry.host}/{repo}"

    def _send(self, method: str, url: str, what: str, headers: dict | None = None, body=None) -> Response:
        return self.registry.send(method, url, self.scope, headers, body, what,
                                  refused=f"wrong user name or password, or no push access to {self.repo}?",
                                  needs="to push")

    def _fail(self, resp: Response, what: str) -> Exception:
        body = resp.read_all(1 << 16, what)
        if resp.status == 404:
            return _error(resp, f"pushing {what} to {self.shown}: the registry answered 404 (repository "
                                "unknown, or this registry does not take pushes)", body, NotFound)
        if resp.status == 413:
            return _error(resp, f"pushing {what} to {self.shown}: the registry refused it as too large (413)", body)
        if resp.status == 403:
            return _error(resp, f"pushing {what} to {self.shown}: denied (403): no push access to {self.repo}",
                          body, Unauthorized)
        return _error(resp, f"pushing {what} to {self.shown}: the registry answered {resp.status}", body)

    # ------------------------------------------------------------- blobs

    def has_blob(self, digest: str, what: str) -> bool:
        resp = self._send("HEAD", f"/v2/{self.repo}/blobs/{digest}", f"the check of {what}")
        resp.close()
        if resp.status == 200:
            return True
        if resp.status == 404:
            return False
        raise _error(resp, f"checking {what} in {self.shown}: the registry answered {resp.status}", b"")

    def start(self, what: str, mount: str | None = None, source: str | None = None) -> tuple[bool, str | None]:
        """POST an upload: (True, None) when the blob was mounted from
        `source`, else (False, the upload's location)."""
        path = f"/v2/{self.repo}/blobs/uploads/"
        if mount and source:
            path += f"?mount={mount}&from={source}"
        resp = self._send("POST", path, what, {"Content-Length": "0"}, b"")
        if resp.status == 201 and mount and source:
            resp.close()
            return True, None
        if resp.status != 202:
            raise self._fail(resp, what)
        resp.close()
        return False, self._location(resp, what)

    def _location(self, resp: Response, what: str) -> str:
        loc = resp.headers.get("location")
        if not loc:
            raise RegistryError(f"pushing {what} to {self.shown}: the registry gave no upload location")
        return urljoin(resp.url, loc)   # absolute or relative to the request, as the spec allows

    def upload(self, location: str, digest: str, size: int, open_blob: OpenBlob, what: str,
               chunk_size: int | None = None, on_sent=None) -> None:
        """The blob's bytes to an upload begun by start(); chunked when it is
        over CHUNKED_OVER or chunk_size is given."""
        cancel = self.registry.transport.cancel
        octet = {"Content-Type": "application/octet-stream"}
        chunk = chunk_size or (CHUNK_SIZE if size > CHUNKED_OVER else None)
        if chunk:
            offset = 0
            while offset < size:
                n = min(chunk, size - offset)
                resp = self._send("PATCH", location, what, {**octet, "Content-Length": str(n),
                                                            "Content-Range": f"{offset}-{offset + n - 1}"},
                                  _Body(open_blob, offset, n, cancel, on_sent))
                if resp.status != 202:
                    raise self._fail(resp, what)
                resp.close()
                location = self._location(resp, what)   # each answer names where the next part goes
                offset += n
            body, length = b"", 0
        else:
            body, length = _Body(open_blob, 0, size, cancel, on_sent), size
        url = location + ("&" if "?" in location else "?") + f"digest={digest}"
        resp = self._send("PUT", url, what, {**octet, "Content-Length": str(length)}, body)
        if resp.status not in (201, 204):
            raise self._fail(resp, what)
        resp.close()

    # ------------------------------------------------------------- manifests

    def put_manifest(self, ref: str, data: bytes, media_type: str, what: str) -> str | None:
        """PUT the manifest's exact bytes under a tag or digest; the digest
        the registry says it stored (Docker-Content-Digest), if it says."""
        resp = self._send("PUT", f"/v2/{self.repo}/manifests/{ref}", what,
                          {"Content-Type": media_type, "Content-Length": str(len(data))}, data)
        if resp.status not in (200, 201):
            raise self._fail(resp, what)
        resp.close()
        return resp.headers.get("docker-content-digest")
