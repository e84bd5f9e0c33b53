"""Layer blob compression: sniffing, streaming decompression, compression, media types."""

import gzip
import io
import zlib

import zstandard

from engine.errors import CorruptArchive, InvalidArgument
from engine.layers.zstdframes import FrameChecker

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

MEDIA_TYPE_TAR = "application/vnd.oci.image.layer.v1.tar"
MEDIA_TYPE_TAR_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_TYPE_TAR_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MEDIA_TYPE_DOCKER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

_MEDIA_TYPES = {"none": MEDIA_TYPE_TAR, "gzip": MEDIA_TYPE_TAR_GZIP, "zstd": MEDIA_TYPE_TAR_ZSTD}
_KINDS = {
    MEDIA_TYPE_TAR: "none",
    MEDIA_TYPE_TAR_GZIP: "gzip",
    MEDIA_TYPE_TAR_ZSTD: "zstd",
    MEDIA_TYPE_DOCKER_GZIP: "gzip",
    # Non-distributable ("foreign") layers are the same bytes under another name.
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": "zstd",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
}

ZSTD_LEVEL = 3
GZIP_LEVEL = 6


def media_type_for(kind: str) -> str:
    """OCI layer media type for a compression kind ("none", "gzip", "zstd")."""
    try:
        return _MEDIA_TYPES[kind]
    except KeyError:
        raise InvalidArgument(f"unknown layer compression {kind!r}: use none, gzip or zstd") from None


def kind_for_media_type(media_type: str) -> str:
    """Compression kind for an OCI or Docker layer media type."""
    try:
        return _KINDS[media_type]
    except KeyError:
        raise InvalidArgument(f"unsupported layer media type {media_type!r}") from None


def detect(head: bytes) -> str:
    """Compression kind from the first bytes of a blob, by magic number."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    # A zstd stream may also open with a skippable frame (magic 0x184D2A5?).
    if head.startswith(ZSTD_MAGIC) or (
        len(head) >= 4 and head[1:4] == b"\x2a\x4d\x18" and head[0] & 0xF0 == 0x50
    ):
        return "zstd"
    return "none"


class _Prefixed(io.RawIOBase):
    """Replays already-read head bytes, then the rest of the stream. Lets us sniff
    the magic of pipes and sockets, which cannot seek back."""

    def __init__(self, head: bytes, raw):
        super().__init__()
        self._head = head
        self._raw = raw

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._head:
            if n is None or n < 0:
                data, self._head = self._head + self._raw.read(), b""
                return data
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._raw.read() if n is None or n < 0 else self._raw.read(n)

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


class _Guarded(io.RawIOBase):
    """Turns decompressor exceptions into CorruptArchive with a readable message."""

    _ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError)

    def __init__(self, inner, kind: str):
        super().__init__()
        self._inner = inner
        self._kind = kind

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        try:
            return self._inner.read(n)
        except self._ERRORS as e:
            raise self._corrupt(e) from e

    def readinto(self, b) -> int:
        try:
            return self._inner.readinto(b)
        except self._ERRORS as e:
            raise self._corrupt(e) from e

    def _corrupt(self, e: Exception) -> CorruptArchive:
        if isinstance(e, EOFError):
            return CorruptArchive(f"layer blob is truncated: the {self._kind} stream ends early")
        return CorruptArchive(f"layer blob is corrupt: cannot decompress {self._kind} data: {e}")

    def close(self) -> None:
        self._inner.close()
        super().close()


def _read_head(raw, n: int = 4) -> bytes:
    head = b""
    while len(head) < n:
        data = raw.read(n - len(head))
        if not data:
            break
        head += data
    return head


def open_decompressed(fileobj):
    """Readable binary stream of the uncompressed bytes of a layer blob, whatever
    its compression. Works on non-seekable streams. Never closes `fileobj`."""
    head = _read_head(fileobj)
    kind = detect(head)
    src = _Prefixed(head, fileobj)
    if kind == "gzip":
        # GzipFile reads concatenated members and never closes a passed fileobj.
        return _Guarded(gzip.GzipFile(fileobj=src, mode="rb"), "gzip")
    if kind == "zstd":
        reader = zstandard.ZstdDecompressor().stream_reader(
            FrameChecker(src), read_across_frames=True, closefd=False
        )
        return _Guarded(reader, "zstd")
    return src


def compressor(fileobj_out, kind: str = "zstd", level: int | None = None):
    """Writable stream compressing into `fileobj_out`. close() ends the compressed
    stream but leaves `fileobj_out` open. kind "none" passes bytes through."""
    if kind == "zstd":
        # threads=-1 uses every CPU; zstd's multi-threaded output does not depend
        # on the thread count, so blobs stay reproducible across machines.
        cctx = zstandard.ZstdCompressor(
            level=ZSTD_LEVEL if level is None else level, threads=-1
        )
        return cctx.stream_writer(fileobj_out, closefd=False)
    if kind == "gzip":
        # mtime=0 and no file name in the header: same input, same bytes.
        return gzip.GzipFile(
            filename="",
            mode="wb",
            fileobj=fileobj_out,
            compresslevel=GZIP_LEVEL if level is None else level,
            mtime=0,
        )
    if kind == "none":
        return _Uncompressed(fileobj_out)
    raise InvalidArgument(f"unknown layer compression {kind!r}: use none, gzip or zstd")


class _Uncompressed(io.RawIOBase):
    """Pass-through writer whose close() leaves the target open, like the others."""

    def __init__(self, raw):
        super().__init__()
        self._raw = raw

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        return self._raw.write(b)

    def flush(self) -> None:
        flush = getattr(self._raw, "flush", None)
        if flush is not None:
            flush()
