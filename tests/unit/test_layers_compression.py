import gzip
import io
import os

import pytest
import zstandard

from engine.errors import CorruptArchive, InvalidArgument
from engine.layers import compression as c

DATA = os.urandom(200_000) + b"hello layer" * 50_000


class Pipe:
    """A read()-only, unseekable stream that hands out small pieces, like a socket."""

    def __init__(self, data: bytes, piece: int = 777):
        self._buf = io.BytesIO(data)
        self._piece = piece

    def read(self, n=-1):
        if n is None or n < 0:
            n = self._piece
        return self._buf.read(min(n, self._piece))


def read_all(stream) -> bytes:
    out = bytearray()
    while chunk := stream.read(65536):
        out += chunk
    return bytes(out)


def zstd(data: bytes, **kw) -> bytes:
    return zstandard.ZstdCompressor(**kw).compress(data)


@pytest.mark.parametrize(
    "head,kind",
    [
        (b"\x1f\x8b\x08\x00", "gzip"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"\x50\x2a\x4d\x18", "zstd"),  # skippable frame
        (b"\x5f\x2a\x4d\x18", "zstd"),
        (b"usta", "none"),
        (b"", "none"),
        (b"\x1f", "none"),
    ],
)
def test_detect(head, kind):
    assert c.detect(head) == kind


@pytest.mark.parametrize(
    "blob",
    [
        DATA,
        gzip.compress(DATA),
        gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:]),  # multi-member
        zstd(DATA),
        zstd(DATA, write_checksum=True, write_content_size=False),
        zstd(DATA[:5000]) + zstd(DATA[5000:], level=19),  # two frames
        b"\x50\x2a\x4d\x18\x03\x00\x00\x00abc" + zstd(DATA),  # skippable frame first
        zstd(DATA, threads=2),  # multi-threaded: many blocks
    ],
    ids=["plain", "gzip", "gzip-2", "zstd", "zstd-checksum", "zstd-2", "zstd-skippable", "zstd-mt"],
)
def test_open_decompressed_unseekable(blob):
    assert read_all(c.open_decompressed(Pipe(blob))) == DATA


def test_open_decompressed_tiny_and_empty():
    assert read_all(c.open_decompressed(io.BytesIO(b"ab"))) == b"ab"
    assert read_all(c.open_decompressed(io.BytesIO(b""))) == b""
    assert read_all(c.open_decompressed(io.BytesIO(zstd(b"")))) == b""


def test_open_decompressed_does_not_close_source():
    src = io.BytesIO(zstd(DATA))
    s = c.open_decompressed(src)
    read_all(s)
    s.close()
    assert not src.closed


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_truncated_stream_is_corrupt(kind):
    blob = gzip.compress(DATA) if kind == "gzip" else zstd(DATA, write_checksum=True)
    # (3 bytes would not even be recognised as compressed: see test_detect.)
    for cut in (len(blob) - 1, len(blob) - 4, len(blob) // 2, 11, 6, 4):
        with pytest.raises(CorruptArchive, match="truncated|corrupt"):
            read_all(c.open_decompressed(Pipe(blob[:cut])))


def test_truncated_second_zstd_frame_is_corrupt():
    blob = zstd(DATA[:100]) + zstd(DATA[100:])
    with pytest.raises(CorruptArchive, match="truncated"):
        read_all(c.open_decompressed(io.BytesIO(blob[:-10])))


def test_garbage_after_zstd_frame_is_corrupt():
    with pytest.raises(CorruptArchive):
        read_all(c.open_decompressed(io.BytesIO(zstd(DATA) + b"garbage!")))


def test_corrupt_gzip_is_corrupt():
    blob = bytearray(gzip.compress(DATA))
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(CorruptArchive, match="gzip"):
        read_all(c.open_decompressed(io.BytesIO(bytes(blob))))


@pytest.mark.parametrize("kind", ["zstd", "gzip", "none"])
def test_compressor_round_trip_leaves_target_open(kind):
    out = io.BytesIO()
    w = c.compressor(out, kind)
    for i in range(0, len(DATA), 100_000):
        w.write(DATA[i : i + 100_000])
    w.close()
    assert not out.closed
    assert c.detect(out.getvalue()[:4]) == kind
    assert read_all(c.open_decompressed(io.BytesIO(out.getvalue()))) == DATA


@pytest.mark.parametrize("kind", ["zstd", "gzip"])
def test_compressor_is_reproducible(kind):
    outs = []
    for _ in range(2):
        out = io.BytesIO()
        with c.compressor(out, kind) as w:
            w.write(DATA)
        outs.append(out.getvalue())
    assert outs[0] == outs[1]
    if kind == "gzip":
        assert outs[0][4:8] == b"\0\0\0\0"  # mtime 0


def test_compressor_level():
    small, big = io.BytesIO(), io.BytesIO()
    with c.compressor(small, "gzip", level=9) as w:
        w.write(DATA)
    with c.compressor(big, "gzip", level=1) as w:
        w.write(DATA)
    assert len(small.getvalue()) <= len(big.getvalue())
    with pytest.raises(InvalidArgument):
        c.compressor(io.BytesIO(), "bzip2")


def test_media_types():
    assert c.media_type_for("zstd") == "application/vnd.oci.image.layer.v1.tar+zstd"
    assert c.media_type_for("gzip") == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert c.media_type_for("none") == "application/vnd.oci.image.layer.v1.tar"
    assert c.kind_for_media_type(c.MEDIA_TYPE_DOCKER_GZIP) == "gzip"
    assert c.MEDIA_TYPE_DOCKER_GZIP == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    for kind in ("zstd", "gzip", "none"):
        assert c.kind_for_media_type(c.media_type_for(kind)) == kind
    with pytest.raises(InvalidArgument, match="media type"):
        c.kind_for_media_type("application/json")
    with pytest.raises(InvalidArgument):
        c.media_type_for("xz")
