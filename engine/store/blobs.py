"""The OCI content store: ROOT/blobs/sha256/<hex>, each blob named by the sha256
of its bytes. Blobs are verified when written and when read."""
from __future__ import annotations

import io
import os
from collections.abc import Iterator

TYPE_CHECKING = False  # typing itself costs every command start 2 ms
if TYPE_CHECKING:
    from typing import BinaryIO

from ..errors import DigestMismatch, InvalidArgument, NotFound
from .fsutil import fsync_dir, staging_name

CHUNK = 1 << 20


def check_digest(digest: str) -> str:
    if (not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71
            or any(c not in "0123456789abcdef" for c in digest[7:])):
        raise InvalidArgument(f"invalid digest {digest!r}: expected sha256: and 64 lowercase hex digits")
    return digest


class BlobWriter(io.RawIOBase):
    """A staging file that hashes what is written; commit() verifies and renames it
    into the store, abort() throws it away."""

    def __init__(self, store: BlobStore, expected: str | None = None, what: str = "blob"):
        self._store = store
        self._expected = check_digest(expected) if expected else None
        self._what = what
        import hashlib  # here: loading OpenSSL costs every command start 3 ms
        self._hash = hashlib.sha256()
        self.size = 0
        self._path = staging_name(store.tmp_dir, "blob")
        self._f = open(self._path, "xb")
        self.digest: str | None = None

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self._hash.update(b)
        n = self._f.write(b)
        self.size += n
        return n

    def commit(self) -> str:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        digest = "sha256:" + self._hash.hexdigest()
        if self._expected and digest != self._expected:
            os.unlink(self._path)
            raise DigestMismatch(f"{self._what} does not match its digest: expected {self._expected}, got {digest}")
        final = self._store.path(digest)
        if os.path.exists(final):
            os.unlink(self._path)  # same bytes already stored (perhaps by another process)
        else:
            os.rename(self._path, final)
            fsync_dir(os.path.dirname(final))
        self.digest = digest
        return digest

    def abort(self) -> None:
        if not self._f.closed:
            self._f.close()
        if os.path.exists(self._path):
            os.unlink(self._path)

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None or self.digest is None:
            self.abort()
        return False


class VerifyingReader(io.RawIOBase):
    """Reads a blob and raises DigestMismatch at EOF if its bytes are not what its
    name says: nobody consumes a whole blob without it being checked."""

    def __init__(self, path: str, digest: str):
        self._f = open(path, "rb")
        self._digest = digest
        from .hashing import sha256
        self._hash = sha256(os.fstat(self._f.fileno()).st_size)
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = self._f.readinto(b)
        if n:
            self._hash.update(memoryview(b)[:n])
        elif not self._done:
            self._done = True
            got = "sha256:" + self._hash.hexdigest()
            if got != self._digest:
                raise DigestMismatch(f"blob {self._digest} does not match its digest (its bytes hash to {got})")
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


class BlobStore:
    def __init__(self, root: str, tmp_dir: str):
        self.dir = os.path.join(root, "blobs", "sha256")
        self.tmp_dir = tmp_dir
        os.makedirs(self.dir, exist_ok=True)

    def path(self, digest: str) -> str:
        return os.path.join(self.dir, check_digest(digest)[7:])

    def has(self, digest: str) -> bool:
        return os.path.exists(self.path(digest))

    def size(self, digest: str) -> int:
        try:
            return os.stat(self.path(digest)).st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is missing from the store") from None

    def writer(self, expected: str | None = None, what: str = "blob") -> BlobWriter:
        return BlobWriter(self, expected, what)

    def put_bytes(self, data: bytes, expected: str | None = None, what: str = "blob") -> str:
        with self.writer(expected, what) as w:
            w.write(data)
            return w.commit()

    def put_stream(self, src: BinaryIO, expected: str | None = None, what: str = "blob") -> tuple[str, int]:
        with self.writer(expected, what) as w:
            while chunk := src.read(CHUNK):
                w.write(chunk)
            return w.commit(), w.size

    def open(self, digest: str) -> BinaryIO:
        path = self.path(digest)
        try:
            raw = VerifyingReader(path, digest)
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is missing from the store") from None
        return io.BufferedReader(raw, CHUNK)

    def read_bytes(self, digest: str) -> bytes:
        with self.open(digest) as f:
            return f.read()

    def verify(self, digest: str) -> None:
        with self.open(digest) as f:
            while f.read(CHUNK):
                pass

    def delete(self, digest: str) -> None:
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            pass

    def all(self) -> Iterator[str]:
        for name in os.listdir(self.dir):
            yield "sha256:" + name
