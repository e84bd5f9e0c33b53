"""Make layers: tar a directory tree deterministically, compress a tar into a blob."""

import hashlib
import io
import os
import stat
import tarfile

from engine.errors import InvalidArgument
from engine.layers.apply import OVERLAY_OPAQUE_XATTR, WHITEOUT_OPAQUE, WHITEOUT_PREFIX
from engine.layers.compression import compressor
from engine.layers.digest import CHUNK, HashingWriter

_SKIPPED_XATTRS = ("trusted.overlay.", "user.overlay.")  # overlayfs internals
_O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


class LayerWriter(io.RawIOBase):
    """Writable stream: uncompressed tar bytes in, compressed blob out to `out`.
    After close(), result() gives (diff_id, blob_digest, blob_size). Lets a tar
    be produced and compressed in one pass, e.g. tar_directory(root, writer)."""

    def __init__(self, out, kind: str = "zstd", level: int | None = None):
        super().__init__()
        self._blob = HashingWriter(out)
        self._comp = compressor(self._blob, kind, level)
        self._diff = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        with memoryview(b) as view:
            self._diff.update(view)
            self._comp.write(view)
            return view.nbytes

    def close(self) -> None:
        if not self.closed:
            self._comp.close()  # ends the compressed stream; `out` stays open
            self._blob.flush()
        super().close()

    def result(self) -> tuple[str, str, int]:
        if not self.closed:
            raise ValueError("LayerWriter.result() needs the writer closed first")
        return "sha256:" + self._diff.hexdigest(), self._blob.digest(), self._blob.size


def write_layer(src, out_fileobj, kind: str = "zstd", level: int | None = None):
    """Compress an uncompressed tar (a readable stream or an iterable of bytes)
    into `out_fileobj`. Returns (diff_id, blob_digest, blob_size)."""
    with LayerWriter(out_fileobj, kind, level) as writer:
        if hasattr(src, "read"):
            while chunk := src.read(CHUNK):
                writer.write(chunk)
        else:
            for chunk in src:
                writer.write(chunk)
    return writer.result()


class _Counter:
    """Gives tarfile's seekless "w" mode the tell() it wants on any writable.
    (Stream mode "w|" re-slices its buffer per 10 KiB record: slow on big files.)"""

    def __init__(self, raw):
        self._raw = raw
        self._pos = 0

    def write(self, b) -> int:
        self._raw.write(b)
        self._pos += len(b)
        return len(b)

    def tell(self) -> int:
        return self._pos


def tar_directory(root: str, out_fileobj, *, whiteouts: str = "keep") -> int:
    """Write a deterministic PAX tar of the tree under `root` to `out_fileobj`;
    return the number of entries. Names are relative ("bin/sh", dirs "bin/"),
    like `docker export`; the root itself is not an entry. Entries are sorted
    by name (bytes); owners, modes and mtimes (whole seconds) are kept, user
    and group names are left empty; symlinks are not followed; hardlinks are
    found by (dev, inode); xattrs go in SCHILY.xattr.* records except the
    overlayfs ones; sockets are skipped.

    whiteouts="oci" also turns overlayfs whiteouts (0:0 char devices, opaque
    dirs) into OCI .wh. entries, for committing an overlay upper dir."""
    if whiteouts not in ("keep", "oci"):
        raise InvalidArgument(f"whiteouts must be 'keep' or 'oci', not {whiteouts!r}")
    tf = tarfile.open(fileobj=_Counter(out_fileobj), mode="w", format=tarfile.PAX_FORMAT)
    tf.copybufsize = CHUNK
    seen: dict[tuple[int, int], str] = {}
    count = 0
    stack = _children(os.fspath(root), "")
    while stack:
        host, rel = stack.pop()
        st = os.lstat(host)
        mode = st.st_mode
        if stat.S_ISSOCK(mode):
            continue
        info = _header(rel, st)
        if whiteouts == "oci" and stat.S_ISCHR(mode) and st.st_rdev == 0:
            info.name = _whiteout_name(rel)
            info.type = tarfile.REGTYPE
            tf.addfile(info)
            count += 1
            continue
        # Hardlink headers carry the xattrs too, as docker's do: unpackers that
        # chown the link would otherwise drop security.capability.
        info.pax_headers, opaque = _xattrs(host)
        add_entry(tf, info, host, st, seen)
        count += 1
        if stat.S_ISDIR(mode):
            if whiteouts == "oci" and opaque:
                marker = _header(f"{rel}/{WHITEOUT_OPAQUE}", st)
                marker.mode &= 0o777
                tf.addfile(marker)
                count += 1
            stack.extend(_children(host, rel + "/"))
    tf.close()  # writes the end-of-archive blocks; leaves out_fileobj open
    return count


def add_entry(tf: tarfile.TarFile, info: tarfile.TarInfo, host: str, st: os.stat_result,
              seen: dict[tuple[int, int], str]) -> None:
    """Write one entry whose header (name, owner, mode, xattrs) is filled in:
    a second name of an inode already written becomes a hardlink to the first;
    a regular file's bytes are read without following a symlink."""
    mode = st.st_mode
    if not stat.S_ISDIR(mode) and st.st_nlink > 1:
        first = seen.setdefault((st.st_dev, st.st_ino), info.name)
        if first != info.name:
            info.type, info.linkname = tarfile.LNKTYPE, first
            tf.addfile(info)
            return
    if stat.S_ISREG(mode):
        info.size = st.st_size
        with os.fdopen(os.open(host, _O_READ), "rb", buffering=0) as f:
            tf.addfile(info, _Exact(f, st.st_size))
    else:
        _set_type(info, host, st)
        tf.addfile(info)


class _Exact:
    """Reads exactly `size` bytes: a file that a running container grows or
    shrinks meanwhile still gives what its header promised (zero-padded), so
    the tar stays well-formed."""

    def __init__(self, f, size: int):
        self._f, self._left = f, size

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._f.read(n)
        if len(data) < n:
            data += b"\0" * (n - len(data))
        self._left -= len(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


def _children(host: str, prefix: str) -> list[tuple[str, str]]:
    """Directory entries, sorted by name as bytes, reversed for popping off a stack."""
    with os.scandir(host) as it:
        names = sorted((e.name for e in it), key=os.fsencode, reverse=True)
    return [(os.path.join(host, n), prefix + n) for n in names]


def _header(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = st.st_mode & 0o7777
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""  # ids belong to the image, not to this host
    info.mtime = st.st_mtime_ns // 1_000_000_000
    return info


def _set_type(info: tarfile.TarInfo, host: str, st: os.stat_result) -> None:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(host)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        raise InvalidArgument(f"cannot put {host} in a layer: unknown file type")


def _whiteout_name(rel: str) -> str:
    head, _, base = rel.rpartition("/")
    return f"{head}/{WHITEOUT_PREFIX}{base}" if head else WHITEOUT_PREFIX + base


def _xattrs(host: str) -> tuple[dict[str, str], bool]:
    """PAX records for the xattrs of `host`, sorted, and whether overlayfs
    marks it opaque."""
    try:
        names = os.listxattr(host, follow_symlinks=False)
    except OSError:  # filesystem without xattr support
        return {}, False
    headers: dict[str, str] = {}
    opaque = False
    for name in sorted(names):
        try:
            value = os.getxattr(host, name, follow_symlinks=False)
        except OSError:
            continue  # removed meanwhile, or not readable on this filesystem
        if name == OVERLAY_OPAQUE_XATTR:
            opaque = value == b"y"
        if name.startswith(_SKIPPED_XATTRS):
            continue
        # tarfile writes str values; surrogateescape keeps binary values exact.
        headers["SCHILY.xattr." + name] = value.decode("utf-8", "surrogateescape")
    return headers, opaque
