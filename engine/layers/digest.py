"""Content digests for layers: streaming sha256 on read or write, OCI chain ids."""

import hashlib
import io
import re

from engine.errors import InvalidArgument

CHUNK = 1 << 20

_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")


def validate_digest(s: str) -> str:
    """Return `s` if it is "sha256:" + 64 lowercase hex, else raise InvalidArgument."""
    if not isinstance(s, str) or not _DIGEST_RE.fullmatch(s):
        raise InvalidArgument(f"invalid digest {s!r}: expected sha256:<64 lowercase hex digits>")
    return s


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI ChainIDs: L0 is its diff id, Ln = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for diff_id in diff_ids:
        validate_digest(diff_id)
        if out:
            h = hashlib.sha256(f"{out[-1]} {diff_id}".encode("ascii")).hexdigest()
            out.append("sha256:" + h)
        else:
            out.append(diff_id)
    return out


class HashingReader(io.RawIOBase):
    """Readable wrapper that sha256s and counts every byte read through it.

    A RawIOBase so it can sit under an io.BufferedReader: the hash then runs on
    large chunks rather than on each small read tarfile makes."""

    def __init__(self, raw):
        super().__init__()
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read() if n is None or n < 0 else self._raw.read(n)
        if data:
            self._hash.update(data)
            self.size += len(data)
        return data

    def readinto(self, b) -> int:
        readinto = getattr(self._raw, "readinto", None)
        if readinto is None:
            data = self.read(len(b))
            b[: len(data)] = data
            return len(data)
        n = readinto(b) or 0
        if n:
            # Hash straight from the caller's buffer: no extra copy.
            with memoryview(b) as view:
                self._hash.update(view[:n])
            self.size += n
        return n

    def drain(self) -> int:
        """Read (and hash) to EOF; return how many bytes that was. Needed because
        tarfile stops before the end-of-archive padding, yet the diff id covers
        the whole stream."""
        total = 0
        while data := self.read(CHUNK):
            total += len(data)
        return total

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class HashingWriter(io.RawIOBase):
    """Writable wrapper that sha256s and counts every byte written through it.
    Closing it does not close the wrapped stream."""

    def __init__(self, raw):
        super().__init__()
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        with memoryview(b) as view, view.cast("B") as flat:
            n = flat.nbytes
            if not n:
                return 0
            self._hash.update(flat)
            written = 0
            # The wrapped stream may accept fewer bytes; hashing all of them is
            # only right if they all get written.
            while written < n:
                w = self._raw.write(flat[written:])
                written += n - written if w is None else w
        self.size += n
        return n

    def flush(self) -> None:
        flush = getattr(self._raw, "flush", None)
        if flush is not None:
            flush()

    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()
