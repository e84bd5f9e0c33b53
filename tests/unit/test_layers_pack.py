import hashlib
import io
import os
import socket
import tarfile

import pytest

from engine.errors import InvalidArgument
from engine.layers import LayerWriter, apply_layer, open_decompressed, tar_directory, write_layer

T0 = 1_600_000_000


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def make_tree(top):
    os.makedirs(top / "bin")
    os.makedirs(top / "etc/ssl")
    (top / "bin/busybox").write_bytes(b"\x7fELF" + os.urandom(3000))
    (top / "bin/busybox").chmod(0o755)
    os.link(top / "bin/busybox", top / "bin/ls")
    os.symlink("busybox", top / "bin/sh")
    os.symlink("/nonexistent/abs", top / "etc/dangling")
    (top / "etc/ssl/cert").write_bytes(b"c" * 70_000)
    (top / "etc/ssl/cert").chmod(0o600)
    (top / "etc/B").write_bytes(b"upper")
    (top / "etc/a").write_bytes(b"lower")
    (top / ("long" * 40)).write_bytes(b"long name")
    os.mkfifo(top / "fifo")
    for p in sorted(top.rglob("*"), reverse=True):
        os.utime(p, (T0, T0), follow_symlinks=False)


def tar_of(top) -> bytes:
    out = io.BytesIO()
    tar_directory(str(top), out)
    return out.getvalue()


def test_tar_directory_layout(tmp_path):
    make_tree(tmp_path / "t")
    with tarfile.open(fileobj=io.BytesIO(tar_of(tmp_path / "t")), mode="r:") as tf:
        members = tf.getmembers()
    names = [m.name for m in members]
    # Sorted by bytes, depth first, no "./" prefix, no root entry.
    assert names == ["bin", "bin/busybox", "bin/ls", "bin/sh", "etc", "etc/B", "etc/a",
                     "etc/dangling", "etc/ssl", "etc/ssl/cert", "fifo", "long" * 40]
    by = {m.name: m for m in members}
    assert by["bin/ls"].islnk() and by["bin/ls"].linkname == "bin/busybox"
    assert by["bin/sh"].issym() and by["bin/sh"].linkname == "busybox"
    assert by["etc/ssl/cert"].mode == 0o600 and by["etc/ssl/cert"].size == 70_000
    assert by["fifo"].isfifo()
    assert all(m.mtime == T0 and m.uname == "" and m.gname == "" for m in members)


def test_tar_directory_dir_names_have_trailing_slash(tmp_path):
    make_tree(tmp_path / "t")
    raw = tar_of(tmp_path / "t")
    assert raw[:4] == b"bin/"  # first header's name field, like docker export


def test_tar_directory_is_deterministic(tmp_path):
    make_tree(tmp_path / "t")
    first = tar_of(tmp_path / "t")
    assert tar_of(tmp_path / "t") == first
    # A copy made in another order, at another path, tars the same.
    (tmp_path / "copy").mkdir()
    apply_layer(io.BytesIO(first), str(tmp_path / "copy"))
    assert tar_of(tmp_path / "copy") == first


def test_tar_directory_skips_sockets(tmp_path):
    (tmp_path / "t").mkdir()
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(tmp_path / "t/sock"))
        (tmp_path / "t/f").write_bytes(b"")
        assert tar_directory(str(tmp_path / "t"), io.BytesIO()) == 1
    finally:
        s.close()


def test_tar_directory_bad_mode(tmp_path):
    with pytest.raises(InvalidArgument):
        tar_directory(str(tmp_path), io.BytesIO(), whiteouts="aufs")


@pytest.mark.parametrize("kind", ["zstd", "gzip", "none"])
def test_write_layer_digests(tmp_path, kind):
    make_tree(tmp_path / "t")
    raw = tar_of(tmp_path / "t")
    out = io.BytesIO()
    diff_id, blob_digest, blob_size = write_layer(io.BytesIO(raw), out, kind)
    blob = out.getvalue()
    assert diff_id == sha(raw)
    assert blob_digest == sha(blob) and blob_size == len(blob)
    assert open_decompressed(io.BytesIO(blob)).read() == raw
    # An iterable of chunks gives the same blob.
    out2 = io.BytesIO()
    assert write_layer([raw[:1000], raw[1000:]], out2, kind) == (diff_id, blob_digest, blob_size)
    assert out2.getvalue() == blob


def test_layer_writer_streams_tar_directory(tmp_path):
    make_tree(tmp_path / "t")
    out = io.BytesIO()
    with LayerWriter(out, "zstd") as w:
        tar_directory(str(tmp_path / "t"), w)
    diff_id, blob_digest, size = w.result()
    assert not out.closed
    assert diff_id == sha(tar_of(tmp_path / "t"))
    assert blob_digest == sha(out.getvalue()) and size == len(out.getvalue())
    (tmp_path / "u").mkdir()
    assert apply_layer(io.BytesIO(out.getvalue()), str(tmp_path / "u")).diff_id == diff_id


def test_layer_writer_result_needs_close():
    w = LayerWriter(io.BytesIO())
    with pytest.raises(ValueError):
        w.result()
