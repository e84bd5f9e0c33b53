"""apply_layer / tar_directory features that need root: owners, devices,
setuid bits, trusted and security xattrs, overlayfs whiteouts."""

import io
import os
import stat
import subprocess
import tarfile

import pytest

from engine.layers import apply_layer, tar_directory

pytestmark = pytest.mark.usefixtures("as_root")

T0 = 1_600_000_000
CAP = bytes([1, 0, 0, 2, 0xFF, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])  # not UTF-8


def member(name, type=tarfile.REGTYPE, data=b"", mode=0o644, xattrs=None, **attrs):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = type, mode, T0
    for key, value in attrs.items():
        setattr(info, key, value)
    info.pax_headers = {
        "SCHILY.xattr." + k: v.decode("utf-8", "surrogateescape") for k, v in (xattrs or {}).items()
    }
    info.size = len(data) if type == tarfile.REGTYPE else 0
    return info, (data if type == tarfile.REGTYPE else None)


def tar(*members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in members:
            tf.addfile(info, None if data is None else io.BytesIO(data))
    return buf.getvalue()


def apply(root, *members, **kw):
    return apply_layer(io.BytesIO(tar(*members)), str(root), **kw)


def xattrs(path):
    return {k: os.getxattr(path, k, follow_symlinks=False) for k in os.listxattr(path, follow_symlinks=False)}


def test_devices(tmp_path):
    apply(tmp_path,
          member("dev/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3),
          member("dev/loop0", tarfile.BLKTYPE, mode=0o660, devmajor=7, devminor=0, gid=6),
          member("run/fifo", tarfile.FIFOTYPE, mode=0o620))
    null, loop, fifo = (os.lstat(tmp_path / p) for p in ("dev/null", "dev/loop0", "run/fifo"))
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    assert stat.S_ISBLK(loop.st_mode) and loop.st_rdev == os.makedev(7, 0) and loop.st_gid == 6
    assert stat.S_ISFIFO(fifo.st_mode) and stat.S_IMODE(fifo.st_mode) == 0o620


def test_owners_and_special_bits(tmp_path):
    res = apply(tmp_path,
                member("tmp/", tarfile.DIRTYPE, mode=0o1777, uid=0, gid=0),
                member("home/u/", tarfile.DIRTYPE, mode=0o2750, uid=1000, gid=1000),
                member("bin/su", data=b"su", mode=0o4755, uid=0, gid=0),
                member("bin/wall", data=b"w", mode=0o2755, uid=0, gid=5),
                member("home/u/f", data=b"f", mode=0o600, uid=1000, gid=1000),
                member("home/u/l", tarfile.SYMTYPE, linkname="f", mode=0o777, uid=1000, gid=42),
                member("bin/su2", tarfile.LNKTYPE, linkname="bin/su", mode=0o4755))
    def mode_owner(p):
        st = os.lstat(tmp_path / p)
        return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
    assert mode_owner("tmp") == (0o1777, 0, 0)
    assert mode_owner("home/u") == (0o2750, 1000, 1000)
    assert mode_owner("bin/su") == (0o4755, 0, 0)
    assert mode_owner("bin/su2") == (0o4755, 0, 0)
    assert mode_owner("bin/wall") == (0o2755, 0, 5)
    assert mode_owner("home/u/f") == (0o600, 1000, 1000)
    assert mode_owner("home/u/l")[1:] == (1000, 42)
    assert res.entries[2].mode == 0o4755


def test_xattrs(tmp_path):
    apply(tmp_path,
          member("d/", tarfile.DIRTYPE, mode=0o755, xattrs={"user.dir": b"1", "trusted.overlay.opaque": b"y"}),
          member("d/ping", data=b"ping", mode=0o755, uid=0,
                 xattrs={"security.capability": CAP, "user.note": "héllo".encode(),
                         "trusted.overlay.redirect": b"/etc", "user.overlay.origin": b"x"}),
          member("d/l", tarfile.SYMTYPE, linkname="ping", mode=0o777,
                 xattrs={"trusted.t": b"on link", "user.refused": b"by the kernel"}),
          member("d/ping2", tarfile.LNKTYPE, linkname="d/ping", mode=0o755))
    assert xattrs(tmp_path / "d") == {"user.dir": b"1"}  # trusted.overlay.* ignored
    assert xattrs(tmp_path / "d/ping") == {"security.capability": CAP, "user.note": "héllo".encode()}
    assert xattrs(tmp_path / "d/l") == {"trusted.t": b"on link"}


def test_capability_survives_hardlink_header(tmp_path):
    # The hardlink header repeats owner and mode; applying it must not chown
    # (which would drop the capability and the setuid bit).
    apply(tmp_path,
          member("ping", data=b"p", mode=0o4755, uid=0, gid=0, xattrs={"security.capability": CAP}),
          member("ping2", tarfile.LNKTYPE, linkname="ping", mode=0o4755, uid=0, gid=0))
    assert os.getxattr(tmp_path / "ping2", "security.capability") == CAP
    assert stat.S_IMODE(os.stat(tmp_path / "ping").st_mode) == 0o4755


def test_symlink_and_hardlink_metadata_never_reach_outside(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"s")
    secret.chmod(0o600)
    os.chown(secret, 0, 0)
    os.setxattr(secret, "trusted.mine", b"1")
    before = os.stat(secret)
    root = tmp_path / "root"
    root.mkdir()
    apply(root,
          member("s", tarfile.SYMTYPE, linkname=str(secret), mode=0o777, uid=999, gid=999,
                 xattrs={"trusted.x": b"on the link"}),
          member("h", tarfile.LNKTYPE, linkname="s", mode=0o4777, uid=998, gid=998,
                 xattrs={"trusted.y": b"on the link too"}))
    after = os.stat(secret)
    assert (after.st_mode, after.st_uid, after.st_gid, after.st_mtime_ns) == \
        (before.st_mode, before.st_uid, before.st_gid, before.st_mtime_ns)
    assert xattrs(secret) == {"trusted.mine": b"1"}
    assert os.lstat(root / "h").st_uid == 998 and os.path.islink(root / "h")


def test_overlay_whiteouts(tmp_path):
    res = apply(tmp_path,
                member("a/", tarfile.DIRTYPE, mode=0o755),
                member("a/.wh.gone"),
                member("a/.wh..wh..opq"),
                member("b/c/.wh..wh..opq"),  # directory not in the tar: created
                member(".wh.top", tarfile.DIRTYPE),  # a whiteout may come as any type
                member("d/kept", data=b"1"),
                member("d/.wh.kept"))  # same layer: the whiteout replaces it
    for p in ("a/gone", "top", "d/kept"):
        st = os.lstat(tmp_path / p)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert os.getxattr(tmp_path / "a", "trusted.overlay.opaque") == b"y"
    assert os.getxattr(tmp_path / "b/c", "trusted.overlay.opaque") == b"y"
    assert not (tmp_path / "a/.wh.gone").exists()
    assert [(e.path, e.type) for e in res.entries if e.whiteout] == [
        ("a/gone", "whiteout"), ("a", "opaque"), ("b/c", "opaque"), ("top", "whiteout"),
        ("d/kept", "whiteout")]


def test_whiteouts_work_in_a_real_overlay_mount(tmp_path):
    lower1, lower2, merged = tmp_path / "l1", tmp_path / "l2", tmp_path / "m"
    for p in (lower1, lower2, merged):
        p.mkdir()
    apply(lower1, member("a/x"), member("a/y"), member("b/old"), member("c"))
    apply(lower2, member("a/.wh.x"), member("b/.wh..wh..opq"), member("b/new"), member(".wh.c"))
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={lower2}:{lower1}", str(merged)], check=True)
    try:
        assert sorted(os.listdir(merged)) == ["a", "b"]
        assert os.listdir(merged / "a") == ["y"]
        assert os.listdir(merged / "b") == ["new"]
    finally:
        subprocess.run(["umount", str(merged)], check=True)


def make_rootfs(top):
    os.makedirs(top / "usr/bin")
    os.makedirs(top / "dev")
    os.makedirs(top / "home/user/.cache")
    os.chmod(top / "home/user", 0o2750)
    os.chown(top / "home/user", 1000, 1001)
    (top / "usr/bin/ping").write_bytes(b"ping" * 1000)
    os.chmod(top / "usr/bin/ping", 0o4711)
    os.setxattr(top / "usr/bin/ping", "security.capability", CAP)
    os.setxattr(top / "usr/bin/ping", "user.mime", b"x-app")
    os.link(top / "usr/bin/ping", top / "usr/bin/ping6")
    os.symlink("/usr/bin/ping", top / "usr/bin/p")
    os.symlink("ping", top / "usr/bin/rel")
    os.link(top / "usr/bin/rel", top / "usr/bin/rel2", follow_symlinks=False)  # hardlinked symlink
    os.lchown(top / "usr/bin/p", 7, 8)
    (top / "home/user/.cache/f").write_bytes(b"")
    os.chown(top / "home/user/.cache/f", 1000, 1001)
    os.mknod(top / "dev/null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(top / "dev/sda", 0o660 | stat.S_IFBLK, os.makedev(8, 0))
    os.mkfifo(top / "dev/initctl", 0o600)
    os.chmod(top / "dev/initctl", 0o600)
    os.setxattr(top / "home", "trusted.overlay.origin", b"hidden from the tar")
    os.setxattr(top / "home", "user.kept", b"yes")
    for p in sorted(top.rglob("*"), reverse=True):
        os.utime(p, ns=(T0 * 10**9, T0 * 10**9 + 5), follow_symlinks=False)


def describe(top):
    """Everything a layer carries about the tree, keyed by relative path."""
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, top)
            st = os.lstat(path)
            link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
            data = open(path, "rb").read() if stat.S_ISREG(st.st_mode) else None
            group = inodes.setdefault(st.st_ino, rel)  # first name of each inode
            x = {k: v for k, v in xattrs(path).items() if not k.startswith("trusted.overlay.")}
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_rdev, st.st_mtime_ns // 10**9,
                        st.st_nlink, link, data, group, x)
    return out


def test_round_trip(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    make_rootfs(src)
    first, second = io.BytesIO(), io.BytesIO()
    tar_directory(str(src), first)
    tar_directory(str(src), second)
    assert first.getvalue() == second.getvalue()
    apply_layer(io.BytesIO(first.getvalue()), str(dst))
    assert describe(dst) == describe(src)
    assert os.getxattr(dst / "usr/bin/ping6", "security.capability") == CAP
    again = io.BytesIO()
    tar_directory(str(dst), again)
    assert again.getvalue() == first.getvalue()


def test_oci_whiteouts_round_trip(tmp_path):
    upper, layer = tmp_path / "upper", tmp_path / "layer"
    upper.mkdir()
    layer.mkdir()
    (upper / "opq").mkdir()
    os.setxattr(upper / "opq", "trusted.overlay.opaque", b"y")
    (upper / "opq/new").write_bytes(b"n")
    os.mknod(upper / "deleted", stat.S_IFCHR, os.makedev(0, 0))
    os.mknod(upper / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    buf = io.BytesIO()
    tar_directory(str(upper), buf, whiteouts="oci")
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tf:
        names = {m.name: m for m in tf.getmembers()}
    assert sorted(names) == [".wh.deleted", "null", "opq", "opq/.wh..wh..opq", "opq/new"]
    assert names[".wh.deleted"].isreg() and names["null"].ischr()
    assert not any(k.startswith("SCHILY.xattr.trusted.overlay") for m in names.values() for k in m.pax_headers)
    apply_layer(io.BytesIO(buf.getvalue()), str(layer))
    assert os.lstat(layer / "deleted").st_rdev == 0 and stat.S_ISCHR(os.lstat(layer / "deleted").st_mode)
    assert os.getxattr(layer / "opq", "trusted.overlay.opaque") == b"y"
    assert os.listdir(layer / "opq") == ["new"]
