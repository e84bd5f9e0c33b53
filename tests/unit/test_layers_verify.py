"""The check of an unpacked layer (verify.py) and the unpacker (apply.py) must
agree: whatever apply_layer leaves, verify_layer_dir calls intact, and the
index apply_layer returns says what the directory holds. Tampering is still
found."""

import io
import os
import random
import stat

import pytest

from engine.errors import DockyardError
from engine.images.fileindex import walk
from engine.layers import apply_layer
from engine.layers.verify import verify_layer_dir
from tests.conftest import need_root
from tests.unit.test_layers_apply_safety import d, f, hard, member, sym, tar


@pytest.fixture(autouse=True)
def _root():
    need_root()  # whiteouts are devices, opaque markers trusted.* xattrs


def unpack(tmp_path, *members):
    blob = tar(*members)
    root = str(tmp_path / "layer")
    os.mkdir(root)
    res = apply_layer(io.BytesIO(blob), root)
    return blob, root, res


def problems(blob, root):
    _, found = verify_layer_dir(io.BytesIO(blob), root)
    return found


def wh(name):
    return member(name)


# Tars whose entries pass through in-layer symlinks or replace one another:
# each was called corrupt by the check before it replayed the unpacker.
AGREEING = {
    "through an absolute in-layer symlink": (
        d("etc"), sym("localetc", "/etc"), f("localetc/unbroken", b"hi")),
    "through a relative symlink, parent made implicitly": (
        sym("lib", "usr/lib"), f("lib/x.so", b"elf")),
    "through a symlink to a directory the tar lists later": (
        sym("l", "d"), f("l/f", b"1"), d("d", mode=0o700)),
    "hardlinks with different modes (Debian's perl)": (
        d("usr"), d("usr/bin"), f("usr/bin/perl5.36", b"perl", mode=0o755),
        hard("usr/bin/perl", "usr/bin/perl5.36", mode=0o755),
        hard("usr/bin/perlbug", "usr/bin/perl5.36", mode=0o644)),
    "hardlink through an in-layer symlink": (
        d("etc"), sym("e", "/etc"), f("etc/passwd", b"root"), hard("e/pw", "e/passwd")),
    "a later entry replaces an earlier one": (
        f("a", b"first", mode=0o600), f("a", b"second, longer", mode=0o644)),
    "a directory entry over a file": (f("x", b"file"), d("x", mode=0o750), f("x/y", b"in")),
    "a file over a directory tree": (d("t"), f("t/a"), d("t/s"), f("t/s/b"), f("t", b"now a file")),
    "a whiteout over an entry of the same tar": (f("gone", b"1"), wh(".wh.gone")),
    "a whiteout through a symlink": (d("etc"), sym("e", "etc"), f("etc/old"), wh("e/.wh.old")),
    "an opaque marker through a symlink": (d("data"), sym("dl", "data"), wh("dl/.wh..wh..opq")),
    "duplicate directory entries": (d("dup", mode=0o700), f("dup/f"), d("dup", mode=0o755)),
    "hardlink to a file later replaced": (f("orig", b"old"), hard("keep", "orig"), f("orig", b"new")),
    "hardlink naming itself": (f("self", b"x", mode=0o600), hard("self", "self", mode=0o640)),
    "symlink replaced by a directory": (sym("l", "/elsewhere"), d("l"), f("l/f")),
    "the root listed": (d(".", mode=0o711), f("top")),
    "aufs bookkeeping skipped": (d(".wh..wh.plnk"), f(".wh..wh.plnk/1.2", b"x"), f("real")),
}


@pytest.mark.parametrize("members", AGREEING.values(), ids=AGREEING.keys())
def test_check_agrees_with_what_unpacking_left(tmp_path, members):
    blob, root, _ = unpack(tmp_path, *members)
    assert problems(blob, root) == []


def test_in_layer_symlink_entry_is_checked_where_it_landed(tmp_path):
    blob, root, res = unpack(tmp_path, d("etc"), sym("localetc", "/etc"), f("localetc/unbroken", b"hi"))
    assert open(os.path.join(root, "etc/unbroken"), "rb").read() == b"hi"
    assert [e.path for e in res.entries] == ["etc", "localetc", "etc/unbroken"]
    # and the check looks at that file: changing it is found
    with open(os.path.join(root, "etc/unbroken"), "wb") as fh:
        fh.write(b"ho")
    assert problems(blob, root) == ["unpacked file etc/unbroken: content differs"]


def test_hardlink_modes_are_the_last_header_for_every_name(tmp_path):
    members = AGREEING["hardlinks with different modes (Debian's perl)"]
    blob, root, res = unpack(tmp_path, *members)
    assert stat.S_IMODE(os.stat(os.path.join(root, "usr/bin/perlbug")).st_mode) == 0o644
    got = {e.path: (e.type, oct(e.mode), e.linkname) for e in res.entries}
    assert got["usr/bin/perl5.36"] == ("file", "0o644", "")
    assert got["usr/bin/perl"] == ("hardlink", "0o644", "usr/bin/perl5.36")
    assert got["usr/bin/perlbug"] == ("hardlink", "0o644", "usr/bin/perl5.36")


def test_index_drops_what_later_entries_replaced(tmp_path):
    _, _, res = unpack(tmp_path, d("t"), f("t/a"), f("t", b"file"), f("gone"), wh(".wh.gone"),
                       f("twice", b"1"), f("twice", b"22"))
    assert [(e.path, e.type, e.size) for e in res.entries] == [
        ("t", "file", 4), ("gone", "whiteout", 0), ("twice", "file", 2)]
    assert res.files == 3


@pytest.mark.parametrize("tamper, expect", [
    (lambda r: open(os.path.join(r, "etc/unbroken"), "ab").write(b"!"), "etc/unbroken: size 3 should be 2"),
    (lambda r: os.chmod(os.path.join(r, "usr/bin/perl"), 0o755),  # the shared inode: every name
     [f"usr/bin/{n}: mode 755 should be 644" for n in ("perl", "perl5.36", "perlbug")]),
    (lambda r: open(os.path.join(r, "extra"), "wb").close(), "extra: not in the layer"),
    (lambda r: os.unlink(os.path.join(r, "etc/unbroken")), "etc/unbroken: missing"),
    (lambda r: (os.unlink(os.path.join(r, "usr/bin/perlbug")),
                open(os.path.join(r, "usr/bin/perlbug"), "wb").write(b"perl"),
                os.chmod(os.path.join(r, "usr/bin/perlbug"), 0o644)),
     "usr/bin/perlbug: should be a hardlink of usr/bin/perl"),
    (lambda r: os.removexattr(os.path.join(r, "data"), "trusted.overlay.opaque"), "data: should be opaque"),
    (lambda r: (os.unlink(os.path.join(r, "gone")), open(os.path.join(r, "gone"), "wb").close()),
     "gone: should be a whiteout"),
    (lambda r: (os.unlink(os.path.join(r, "localetc")), os.symlink("/tmp", os.path.join(r, "localetc"))),
     "localetc: symlink to '/tmp' should point to '/etc'"),
])
def test_tampering_is_found(tmp_path, tamper, expect):
    blob, root, _ = unpack(tmp_path, d("etc"), sym("localetc", "/etc"), f("localetc/unbroken", b"hi"),
                           *AGREEING["hardlinks with different modes (Debian's perl)"],
                           d("data"), wh("data/.wh..wh..opq"), f("gone"), wh(".wh.gone"))
    assert problems(blob, root) == []
    tamper(root)
    expect = [expect] if isinstance(expect, str) else expect
    assert problems(blob, root) == [f"unpacked file {e}" for e in expect]


def test_tampered_parent_symlink_is_not_followed(tmp_path):
    blob, root, _ = unpack(tmp_path, d("dir"), f("dir/secret", b"x"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"x")
    os.unlink(os.path.join(root, "dir/secret"))
    os.rmdir(os.path.join(root, "dir"))
    os.symlink(str(outside), os.path.join(root, "dir"))
    assert problems(blob, root) == ["unpacked file dir: should be a directory"]


# -- every tar the unpacker accepts, the check accepts; the index says what is on disk

_NAMES = ["a", "b", "a/x", "b/y", "a/b/z", "l/x", "l/l2/q", "m/x", "/abs", "./a/./x", "a/../b/w"]


def _random_member(rng):
    name = rng.choice(_NAMES)
    kind = rng.choice("ffffddsshwo")
    mode = rng.choice([0o644, 0o600, 0o755, 0o700])
    if kind == "f":
        return f(name, bytes([rng.randrange(256)]) * rng.randrange(4), mode=mode)
    if kind == "d":
        return d(name, mode=mode)
    if kind == "s":
        return sym(name, rng.choice(["a", "/b", "../a/b", "m", "a/b", "/"]))
    if kind == "h":
        return hard(name, rng.choice(_NAMES), mode=mode)
    if kind == "w":
        head, _, base = name.rpartition("/")
        return member((head + "/" if head else "") + ".wh." + base)
    return member(name.rstrip("/") + "/.wh..wh..opq")


def _disk_view(entries):
    """path -> what a name holds, hardlinks shown as their primary's content."""
    by_path = {e.path: e for e in entries}
    view = {}
    for e in entries:
        src = by_path.get(e.linkname, e) if e.type == "hardlink" else e
        link = src.linkname if src.type == "symlink" else ""
        mode = None if src.type in ("symlink", "whiteout", "opaque") else src.mode
        view[(e.path, e.type == "opaque")] = (src.type, src.size, mode, link)
    return view


def test_random_tars_check_and_index_agree_with_the_unpacker(tmp_path):
    rng = random.Random(11)
    accepted = 0
    for n in range(300):
        members = [_random_member(rng) for _ in range(rng.randrange(1, 9))]
        blob = tar(*members)
        root = str(tmp_path / f"l{n}")
        os.mkdir(root)
        try:
            res = apply_layer(io.BytesIO(blob), root)
        except DockyardError:
            continue
        accepted += 1
        names = [m.name + ("->" + m.linkname if m.linkname else "") for m, _ in members]
        assert problems(blob, root) == [], names
        on_disk = _disk_view(walk(root))
        indexed = _disk_view(res.entries)
        # Directories the tar never listed are in the walk only.
        for key, value in indexed.items():
            assert on_disk.get(key) == value, (names, key)
        assert {k for k, v in on_disk.items() if v[0] != "dir"} == {k for k, v in indexed.items() if v[0] != "dir"}, names
    assert accepted > 100
