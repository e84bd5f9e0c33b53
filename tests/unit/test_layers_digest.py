import hashlib
import io

import pytest

from engine.errors import InvalidArgument
from engine.layers import HashingReader, HashingWriter, chain_ids, validate_digest


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


DATA = bytes(range(256)) * 10_000


def test_hashing_reader_read_readinto_drain():
    r = HashingReader(io.BytesIO(DATA))
    assert r.read(10) == DATA[:10]
    buf = bytearray(1000)
    assert r.readinto(buf) == 1000 and bytes(buf) == DATA[10:1010]
    assert r.drain() == len(DATA) - 1010
    assert r.digest() == sha(DATA) and r.size == len(DATA)


def test_hashing_reader_under_buffered_reader():
    r = HashingReader(io.BytesIO(DATA))
    b = io.BufferedReader(r, 4096)
    assert b.read(5) == DATA[:5]
    r.drain()  # bytes already in b's buffer were hashed when read
    assert r.digest() == sha(DATA)


def test_hashing_writer():
    out = io.BytesIO()
    w = HashingWriter(out)
    w.write(DATA[:100])
    w.write(memoryview(DATA)[100:])
    w.close()
    assert not out.closed and out.getvalue() == DATA
    assert w.digest() == sha(DATA) and w.size == len(DATA)


def test_hashing_writer_handles_short_writes():
    class Slow(io.BytesIO):
        def write(self, b):
            return super().write(bytes(b)[:7])

    out = Slow()
    w = HashingWriter(out)
    w.write(DATA[:1000])
    assert out.getvalue() == DATA[:1000]


def test_chain_ids():
    a, b, c = sha(b"a"), sha(b"b"), sha(b"c")
    ab = sha(f"{a} {b}".encode())
    assert chain_ids([]) == []
    assert chain_ids([a]) == [a]
    assert chain_ids([a, b, c]) == [a, ab, sha(f"{ab} {c}".encode())]


def test_chain_ids_known_value():
    # busybox-style single layer then the well-known empty layer diff id.
    empty = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
    base = "sha256:" + "1" * 64
    want = "sha256:" + hashlib.sha256(f"{base} {empty}".encode()).hexdigest()
    assert chain_ids([base, empty])[1] == want


@pytest.mark.parametrize(
    "bad",
    ["", "sha256:", "sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha512:" + "a" * 64,
     "sha256:" + "a" * 65, "a" * 64, "sha256:" + "g" * 64, None, " sha256:" + "a" * 64,
     "sha256:" + "a" * 64 + "\n"],
)
def test_validate_digest_rejects(bad):
    with pytest.raises(InvalidArgument, match="invalid digest"):
        validate_digest(bad)


def test_validate_digest_accepts():
    d = "sha256:" + "0123456789abcdef" * 4
    assert validate_digest(d) == d
    with pytest.raises(InvalidArgument):
        chain_ids([d, "nope"])
