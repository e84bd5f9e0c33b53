"""FastTarInfo (engine/layers/tarheader.py) reads a header exactly as tarfile does."""
import io
import random
import tarfile

import pytest

from engine.layers.tarheader import FastTarInfo

FIELDS = ("name", "mode", "uid", "gid", "size", "mtime", "chksum", "type", "linkname", "uname", "gname",
          "devmajor", "devminor")


def parse(cls, buf: bytes):
    try:
        info = cls.frombuf(buf, "utf-8", "surrogateescape")
    except tarfile.HeaderError as e:
        return type(e)
    return {f: getattr(info, f) for f in FIELDS}


def headers(rng: random.Random, fmt: int):
    """The 512-byte blocks of a random tar: every entry type, long names, odd ids."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for i in range(60):
            depth = rng.randint(0, 4)
            name = "/".join("d" * rng.randint(1, 60) for _ in range(depth)) + f"/f{i}" + ("é" if i % 7 == 0 else "")
            info = tarfile.TarInfo(name.lstrip("/"))
            info.type = rng.choice([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
                                    tarfile.CHRTYPE, tarfile.FIFOTYPE])
            info.mode = rng.randint(0, 0o7777)
            info.uid = rng.choice([0, 1000, 65534, 2_000_000])   # 2e6 > 7 octal digits: base-256 in GNU
            info.gid = rng.choice([0, 100, 2_000_000])
            info.mtime = rng.choice([0, 1_600_000_000, 1_600_000_000.5])
            info.uname, info.gname = rng.choice([("", ""), ("root", "root"), ("u" * 40, "g")])
            if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = "t" * rng.randint(1, 150)
            if info.type == tarfile.CHRTYPE:
                info.devmajor, info.devminor = rng.randint(0, 255), rng.randint(0, 255)
            data = b"x" * rng.randint(0, 700) if info.type == tarfile.REGTYPE else b""
            info.size = len(data)
            try:
                tf.addfile(info, io.BytesIO(data))
            except ValueError:   # ustar cannot hold it: tarfile says so, not our concern
                continue
    raw = buf.getvalue()
    return [raw[i:i + 512] for i in range(0, len(raw), 512)]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_same_fields_as_tarfile_for_every_block(fmt):
    rng = random.Random(fmt)
    blocks = headers(rng, fmt)
    assert len(blocks) > 60
    for block in blocks:   # data blocks too: they must fail the same way
        assert parse(FastTarInfo, block) == parse(tarfile.TarInfo, block)


def test_damaged_headers_fail_or_parse_as_tarfile_says():
    rng = random.Random(7)
    blocks = [b for b in headers(rng, tarfile.GNU_FORMAT)]
    for _ in range(3000):
        b = bytearray(rng.choice(blocks))
        for _ in range(rng.randint(1, 3)):
            b[rng.randrange(512)] = rng.choice([0, 0x20, 0x30, 0x37, 0x38, 0x80, 0xff, rng.randrange(256)])
        assert parse(FastTarInfo, bytes(b)) == parse(tarfile.TarInfo, bytes(b))


def test_whole_archives_read_the_same():
    rng = random.Random(3)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for i in range(200):
            info = tarfile.TarInfo(f"dir{i % 5}/" + "n" * rng.randint(1, 300))
            info.mtime = 1_600_000_000.25
            info.pax_headers = {"SCHILY.xattr.user.k": "v"} if i % 3 == 0 else {}
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 2000)))
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

    def read(cls):
        with tarfile.open(fileobj=io.BytesIO(buf.getvalue()), mode="r|", tarinfo=cls) as tf:
            return [(m.name, m.size, m.mtime, m.offset_data, dict(m.pax_headers)) for m in tf]
    assert read(FastTarInfo) == read(tarfile.TarInfo)


def test_common_headers_take_the_fast_path(monkeypatch):
    # Otherwise the comparisons above would compare tarfile with itself.
    info = tarfile.TarInfo("usr/bin/x")
    info.size, info.mode, info.mtime = 5, 0o755, 1_600_000_000
    block = info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")
    monkeypatch.setattr(tarfile.TarInfo, "frombuf", classmethod(lambda *a: pytest.fail("slow path taken")))
    got = FastTarInfo.frombuf(block, "utf-8", "surrogateescape")
    assert (got.name, got.size, got.mode, got.mtime) == ("usr/bin/x", 5, 0o755, 1_600_000_000)
