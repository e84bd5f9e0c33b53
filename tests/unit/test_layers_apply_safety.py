"""apply_layer must never create, change, link or read anything outside its root."""

import io
import os
import tarfile

import pytest

from engine.errors import CorruptArchive, InvalidArgument, UnsafeArchive
from engine.layers import apply_layer

T0 = 1_600_000_000


def member(name, type=tarfile.REGTYPE, data=b"", mode=0o644, linkname="", **attrs):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = type, mode, linkname
    # Our own ids, so these tests also pass without root.
    info.uid, info.gid, info.mtime = os.getuid(), os.getgid(), T0
    for key, value in attrs.items():
        setattr(info, key, value)
    if type == tarfile.REGTYPE:
        info.size = len(data)
        return info, data
    return info, None


def f(name, data=b"data", **kw):
    return member(name, data=data, **kw)


def d(name, **kw):
    return member(name, tarfile.DIRTYPE, mode=kw.pop("mode", 0o755), **kw)


def sym(name, target, **kw):
    return member(name, tarfile.SYMTYPE, linkname=target, mode=0o777, **kw)


def hard(name, target, **kw):
    return member(name, tarfile.LNKTYPE, linkname=target, **kw)


def tar(*members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            tf.addfile(info, None if data is None else io.BytesIO(data))
    return buf.getvalue()


def snapshot(top, skip):
    """Everything observable about the tree at `top`, except the subtree `skip`."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [n for n in dirnames if os.path.join(dirpath, n) != skip]
        for path in [dirpath] + [os.path.join(dirpath, n) for n in filenames + dirnames]:
            st = os.lstat(path)
            content = None
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as fh:
                    content = fh.read()
            state[path] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns,
                           st.st_nlink, st.st_ino, content)
    return state


class Sandbox:
    def __init__(self, tmp_path):
        self.top = str(tmp_path)
        self.root = str(tmp_path / "root")
        self.outside = str(tmp_path / "outside")
        self.secret = os.path.join(self.outside, "secret")
        os.mkdir(self.root)
        os.mkdir(self.outside, 0o750)
        with open(self.secret, "wb") as fh:
            fh.write(b"secret")
        os.chmod(self.secret, 0o600)
        os.utime(self.secret, ns=(T0 * 10**9, T0 * 10**9))
        os.utime(self.outside, ns=(T0 * 10**9, T0 * 10**9))
        self.before = snapshot(self.top, self.root)

    def apply(self, *members, **kw):
        return apply_layer(io.BytesIO(tar(*members)), self.root, **kw)

    def path(self, rel):
        return os.path.join(self.root, rel)

    def untouched(self):
        assert snapshot(self.top, self.root) == self.before
        assert sorted(os.listdir(self.top)) == ["outside", "root"]
        return True


@pytest.fixture
def box(tmp_path):
    return Sandbox(tmp_path)


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/../x", "./../x", "a/b/../../../x", ".."])
def test_dotdot_escape_is_unsafe(box, name):
    with pytest.raises(UnsafeArchive, match="outside the layer"):
        box.apply(f(name))
    assert box.untouched()


def test_absolute_and_dotted_names_are_rerooted(box):
    box.apply(f("/abs/x", b"1"), f("./rel/./y", b"2"), f("a/../z", b"3"), f("//dbl//w", b"4"))
    for rel, data in [("abs/x", b"1"), ("rel/y", b"2"), ("z", b"3"), ("dbl/w", b"4")]:
        with open(box.path(rel), "rb") as fh:
            assert fh.read() == data
    assert box.untouched()


def test_absolute_symlink_parent_is_followed_inside_root(box):
    res = box.apply(sym("l", box.outside), f("l/file", b"x"))
    landed = box.path(box.outside.lstrip("/") + "/file")
    with open(landed, "rb") as fh:
        assert fh.read() == b"x"
    assert os.readlink(box.path("l")) == box.outside  # the symlink itself is kept as is
    # The index names where the entry landed, as the check and the layer tree read it.
    assert [e.path for e in res.entries] == ["l", box.outside.lstrip("/") + "/file"]
    assert box.untouched()


@pytest.mark.parametrize(
    "links",
    [
        [("l", "../../..")],
        [("a", "b"), ("b", "../..")],
        [("a", "b/../../.."), ("b", "/")],
        [("a", "/../../..")],
    ],
)
def test_relative_symlink_parent_is_clamped_at_root(box, links):
    box.apply(*[sym(n, t) for n, t in links], f(links[0][0] + "/x", b"in"))
    with open(box.path("x"), "rb") as fh:
        assert fh.read() == b"in"
    assert box.untouched()


def test_symlink_loop_is_unsafe(box):
    with pytest.raises(UnsafeArchive, match="too many levels"):
        box.apply(sym("a", "b"), sym("b", "a"), f("a/x"))
    assert box.untouched()


def test_symlink_to_outside_file_then_file_entry_replaces_link(box):
    box.apply(sym("s", box.secret), f("s", b"mine", mode=0o777))
    assert not os.path.islink(box.path("s"))
    with open(box.path("s"), "rb") as fh:
        assert fh.read() == b"mine"
    assert os.stat(box.path("s")).st_mode & 0o777 == 0o777
    assert box.untouched()


def test_symlink_replaced_by_directory(box):
    box.apply(sym("l", box.outside), d("l"), f("l/f"))
    assert os.path.isdir(box.path("l")) and not os.path.islink(box.path("l"))
    assert os.path.isfile(box.path("l/f"))
    assert box.untouched()


def test_directory_replaced_by_symlink_invalidates_cache(box):
    # "d" is resolved (and cached) as a real directory first; once it becomes
    # a symlink to the outside, "d/y" must be resolved afresh, inside the root.
    box.apply(d("d"), f("d/x"), sym("d", box.outside), f("d/y", b"y"))
    assert os.path.islink(box.path("d"))
    assert os.path.isfile(box.path(box.outside.lstrip("/") + "/y"))
    assert box.untouched()


def test_deferred_dir_times_skip_replaced_directory(box):
    # The directory's mtime is set at the end; by then "d" is a symlink out.
    box.apply(d("d", mtime=5), sym("d", box.outside))
    assert box.untouched()


@pytest.mark.parametrize("target", ["../outside/secret", "/../outside/secret", "a/../../outside/secret"])
def test_hardlink_escape_is_unsafe(box, target):
    with pytest.raises(UnsafeArchive):
        box.apply(hard("h", target))
    assert box.untouched()


def test_hardlink_through_symlink_dir_stays_inside(box):
    # d/secret resolves to <root>/<outside>/secret, which does not exist.
    with pytest.raises(CorruptArchive, match="does not exist"):
        box.apply(sym("d", box.outside), hard("h", "d/secret"))
    assert os.stat(box.secret).st_nlink == 1
    assert box.untouched()


def test_hardlink_through_symlink_dir_links_root_copy(box):
    inner = box.outside.lstrip("/") + "/secret"
    box.apply(f(inner, b"inner"), sym("d", box.outside), hard("h", "d/secret"))
    assert os.path.samefile(box.path("h"), box.path(inner))
    assert box.untouched()


def test_hardlink_to_symlink_never_chmods_target(box):
    box.apply(
        sym("s", box.secret),
        hard("h", "s", mode=0o777),
        hard("h", "s", mode=0o4777),  # again: the existing same-inode path
        hard("h2", "h", mode=0o777),
    )
    for name in ("h", "h2"):
        assert os.path.islink(box.path(name))
        assert os.readlink(box.path(name)) == box.secret
    assert os.stat(box.secret).st_mode & 0o7777 == 0o600
    assert box.untouched()


def test_hardlink_to_symlink_then_file_entry(box):
    box.apply(sym("s", box.secret), hard("h", "s"), f("h", b"new", mode=0o777))
    assert os.path.islink(box.path("s")) and os.path.isfile(box.path("h"))
    assert box.untouched()


def test_hardlink_final_component_not_followed(box):
    # "s" is a symlink to a directory; a hardlink to "s" links the symlink.
    box.apply(d("dir"), sym("s", "dir"), hard("h", "s"))
    assert os.path.islink(box.path("h")) and os.readlink(box.path("h")) == "dir"


def test_hardlink_to_missing_target_is_corrupt(box):
    with pytest.raises(CorruptArchive, match="does not exist"):
        box.apply(hard("h", "nope"))
    assert box.untouched()


def test_hardlink_to_directory_is_corrupt(box):
    with pytest.raises(CorruptArchive, match="directory"):
        box.apply(d("dir"), hard("h", "dir"))


def test_hardlink_replacing_its_own_parent_is_corrupt(box):
    with pytest.raises(CorruptArchive):
        box.apply(d("a"), f("a/f"), hard("a", "a/f"))
    assert box.untouched()


@pytest.mark.parametrize("name", ["../.wh.x", "a/../../.wh..wh..opq", ".wh...", ".wh..", "a/.wh."])
def test_unsafe_whiteout_names(box, name):
    with pytest.raises(UnsafeArchive):
        box.apply(f(name, b""), whiteouts="keep")
    assert box.untouched()


def test_root_entry_must_be_directory(box):
    with pytest.raises(UnsafeArchive):
        box.apply(f("./", b"x"))
    with pytest.raises(UnsafeArchive):
        box.apply(sym(".", box.outside))
    assert box.untouched()


def test_root_directory_entry_sets_root_metadata(box):
    box.apply(d("./", mode=0o711), f("x"))
    assert os.stat(box.root).st_mode & 0o7777 == 0o711
    assert os.stat(box.root).st_mtime == T0


def test_file_as_parent_is_corrupt(box):
    with pytest.raises(CorruptArchive, match="not a directory"):
        box.apply(f("a"), f("a/b"))


def test_symlink_through_file_as_parent_is_corrupt(box):
    with pytest.raises(CorruptArchive, match="not a directory"):
        box.apply(f("a"), sym("l", "a"), f("l/b"))


def test_root_must_be_empty(box):
    open(box.path("x"), "w").close()
    with pytest.raises(InvalidArgument, match="not empty"):
        box.apply(f("y"))


def test_directory_entry_over_existing_directory_keeps_content(box):
    box.apply(d("a", mode=0o700), f("a/f"), d("a", mode=0o755, mtime=T0 + 7))
    assert os.path.isfile(box.path("a/f"))
    st = os.stat(box.path("a"))
    assert st.st_mode & 0o7777 == 0o755 and st.st_mtime == T0 + 7


def test_file_replaces_directory_tree(box):
    box.apply(d("a"), d("a/b"), f("a/b/c"), f("a", b"now a file"))
    with open(box.path("a"), "rb") as fh:
        assert fh.read() == b"now a file"
    assert box.untouched()
