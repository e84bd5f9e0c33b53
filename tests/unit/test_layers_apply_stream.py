"""apply_layer: input formats, diff ids, truncation, the entry index."""

import gzip
import hashlib
import io
import os
import tarfile
import time

import pytest
import zstandard

from engine.errors import CorruptArchive, InvalidArgument
from engine.layers import Entry, apply_layer

T0 = 1_600_000_000
BIG = os.urandom(1 << 20) * 3 + b"tail"


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def member(name, type=tarfile.REGTYPE, data=b"", mode=0o644, **attrs):
    info = tarfile.TarInfo(name)
    info.type, info.mode = type, mode
    info.uid, info.gid, info.mtime = os.getuid(), os.getgid(), T0
    for key, value in attrs.items():
        setattr(info, key, value)
    info.size = len(data) if type == tarfile.REGTYPE else 0
    return info, (data if type == tarfile.REGTYPE else None)


def tar(*members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in members:
            tf.addfile(info, None if data is None else io.BytesIO(data))
    return buf.getvalue()


SAMPLE = tar(
    member("etc/", tarfile.DIRTYPE, mode=0o755, mtime=T0 + 1),
    member("etc/hosts", data=b"127.0.0.1 localhost\n", mode=0o644),
    member("bin/", tarfile.DIRTYPE, mode=0o755),
    member("bin/big", data=BIG, mode=0o755),
    member("bin/sh", tarfile.SYMTYPE, linkname="big", mode=0o777),
    member("bin/hl", tarfile.LNKTYPE, linkname="bin/big", mode=0o755),
    member("x" * 150 + "/" + "y" * 120, data=b"long"),  # PAX long name
)


def compressions(raw):
    return {
        "none": raw,
        "gzip": gzip.compress(raw, mtime=0),
        "zstd": zstandard.ZstdCompressor().compress(raw),
        "zstd-2frames": zstandard.ZstdCompressor().compress(raw[:7000])
        + zstandard.ZstdCompressor(level=1).compress(raw[7000:]),
        "gzip-2members": gzip.compress(raw[:5000]) + gzip.compress(raw[5000:]),
    }


@pytest.mark.parametrize("kind", list(compressions(b"")))
def test_diff_id_is_sha256_of_uncompressed_tar(tmp_path, kind):
    blob = compressions(SAMPLE)[kind]
    res = apply_layer(io.BytesIO(blob), str(tmp_path))
    assert res.diff_id == sha(SAMPLE)
    with open(tmp_path / "bin/big", "rb") as fh:
        assert fh.read() == BIG
    assert os.readlink(tmp_path / "bin/sh") == "big"
    assert os.path.samefile(tmp_path / "bin/hl", tmp_path / "bin/big")
    assert (tmp_path / ("x" * 150) / ("y" * 120)).read_bytes() == b"long"


def test_diff_id_covers_trailing_bytes(tmp_path):
    raw = SAMPLE + b"\0" * 4096 + b"trailer"  # tarfile stops at the first zero blocks
    res = apply_layer(io.BytesIO(gzip.compress(raw)), str(tmp_path))
    assert res.diff_id == sha(raw) and res.diff_size == len(raw)


def test_result_index(tmp_path):
    res = apply_layer(io.BytesIO(SAMPLE), str(tmp_path))
    assert res.size == len(b"127.0.0.1 localhost\n") + len(BIG) + 4
    assert res.files == res.file_count == len(res.entries) == 7
    assert res.entries[1] == Entry("etc/hosts", "file", 20, 0o644, os.getuid(), os.getgid(), "", False)
    assert res.entries[4] == Entry("bin/sh", "symlink", 0, 0o777, os.getuid(), os.getgid(), "big", False)
    assert res.entries[5].type == "hardlink" and res.entries[5].linkname == "bin/big"
    assert all(isinstance(e, tuple) for e in res.entries)


def test_metadata_and_directory_mtimes(tmp_path):
    apply_layer(io.BytesIO(SAMPLE), str(tmp_path))
    # etc/ got T0+1 although a file was created in it afterwards.
    assert os.stat(tmp_path / "etc").st_mtime == T0 + 1
    assert os.stat(tmp_path / "etc/hosts").st_mtime == T0
    assert os.stat(tmp_path / "bin/big").st_mode & 0o7777 == 0o755
    assert os.lstat(tmp_path / "bin/sh").st_mtime == T0


def test_subsecond_pax_mtime(tmp_path):
    info, data = member("f", data=b"x")
    info.pax_headers = {"mtime": "1600000000.123456789"}
    apply_layer(io.BytesIO(tar((info, data))), str(tmp_path))
    assert os.stat(tmp_path / "f").st_mtime_ns == 1600000000_123456789


def test_gnu_format_and_missing_parents(tmp_path):
    raw = tar(member("deep/er/file" + "z" * 200, data=b"1"), fmt=tarfile.GNU_FORMAT)
    res = apply_layer(io.BytesIO(raw), str(tmp_path))
    assert (tmp_path / "deep/er" / ("file" + "z" * 200)).read_bytes() == b"1"
    assert os.stat(tmp_path / "deep").st_mode & 0o7777 == 0o755
    assert res.diff_id == sha(raw)


def test_empty_layer(tmp_path):
    raw = tar()
    res = apply_layer(io.BytesIO(gzip.compress(raw)), str(tmp_path))
    assert res.diff_id == sha(raw) and res.entries == [] and os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "cut",
    [
        lambda raw: raw[:700],  # in the middle of the first file's data
        lambda raw: raw[:1536],  # between entries: no end-of-archive marker
        lambda raw: raw[:1536 + 100],  # in the middle of a header
        lambda raw: raw[:-10240],  # inside the big file
        lambda raw: b"",  # nothing at all
    ],
)
@pytest.mark.parametrize("kind", ["none", "gzip", "zstd"])
def test_truncated_tar_is_corrupt(tmp_path, cut, kind):
    raw = cut(tar(member("a", data=b"1" * 600), member("b", data=b"2" * 10), member("c", data=BIG)))
    blob = compressions(raw)[kind]
    with pytest.raises(CorruptArchive, match="truncated or corrupt"):
        apply_layer(io.BytesIO(blob), str(tmp_path))


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_truncated_blob_is_corrupt(tmp_path, kind):
    blob = compressions(SAMPLE)[kind]
    for i, cut in enumerate((len(blob) - 1, len(blob) - 5, len(blob) // 2)):
        root = tmp_path / str(i)
        root.mkdir()
        with pytest.raises(CorruptArchive, match="truncated"):
            apply_layer(io.BytesIO(blob[:cut]), str(root))


def test_garbage_is_corrupt(tmp_path):
    with pytest.raises(CorruptArchive):
        apply_layer(io.BytesIO(b"this is not a tar archive at all" * 40), str(tmp_path))


def test_unsupported_entry_type_is_corrupt(tmp_path):
    with pytest.raises(CorruptArchive, match="unsupported type"):
        apply_layer(io.BytesIO(tar(member("v", b"V"))), str(tmp_path))


def test_whiteouts_keep_writes_plain_files(tmp_path):
    raw = tar(
        member("a/", tarfile.DIRTYPE, mode=0o755),
        member("a/.wh..wh..opq"),
        member("a/.wh.gone"),
        member(".wh..wh.plnk/123", data=b"aufs"),  # aufs bookkeeping: skipped
    )
    res = apply_layer(io.BytesIO(raw), str(tmp_path), whiteouts="keep")
    assert sorted(os.listdir(tmp_path / "a")) == [".wh..wh..opq", ".wh.gone"]
    assert not (tmp_path / ".wh..wh.plnk").exists()
    assert [(e.path, e.type, e.whiteout) for e in res.entries] == [
        ("a", "dir", False), ("a", "opaque", True), ("a/gone", "whiteout", True),
    ]


def test_bad_whiteouts_mode(tmp_path):
    with pytest.raises(InvalidArgument):
        apply_layer(io.BytesIO(tar()), str(tmp_path), whiteouts="aufs")


def test_name_too_long_is_corrupt(tmp_path):
    with pytest.raises(CorruptArchive, match="too long"):
        apply_layer(io.BytesIO(tar(member("n" * 300))), str(tmp_path))


class _Source(io.RawIOBase):
    """A blob source that counts reads and can fail at a given read."""

    def __init__(self, data: bytes, fail_at: int | None = None):
        self._f = io.BytesIO(data)
        self.reads = 0
        self.fail_at = fail_at

    def readable(self):
        return True

    def readinto(self, b):
        self.reads += 1
        if self.reads == self.fail_at:
            raise ConnectionResetError("the network went away")
        return self._f.readinto(b)


def test_source_error_mid_stream_reaches_the_caller(tmp_path):
    # The blob is read ahead in a thread: its errors still surface here, as they were.
    blob = tar(member("a", data=BIG), member("b", data=BIG))
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(ConnectionResetError, match="network went away"):
        apply_layer(io.BufferedReader(_Source(blob, fail_at=3), 1 << 16), str(root))


def test_failed_unpack_stops_reading_the_source(tmp_path):
    # A bad entry early in a big blob: once apply_layer has raised, nothing
    # reads the source any more (the read-ahead thread is gone), so the caller
    # may read its tail or close it.
    blob = tar(member("../escape", data=b"x"), *(member(f"f{i}", data=BIG) for i in range(8)))
    src = _Source(blob)
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(Exception, match="escape"):
        apply_layer(src, str(root))
    seen = src.reads
    time.sleep(0.3)
    assert src.reads == seen
    assert seen < len(blob) // (1 << 20)   # it did not read the whole blob first
