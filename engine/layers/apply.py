"""Unpack a layer blob into an empty directory, safely.

We never use tarfile's extract(): every entry is written with plain os calls on
host paths whose parent directories were resolved by Scope (real directories
inside the root, symlinks followed only within the root) and whose final
component is never followed. Nothing outside the root is created, changed or
read, whatever the tar says.

Decisions:
  * "/x" and "./x" are the same as "x"; a ".." that climbs above the root is
    UnsafeArchive. Symlinks in parent components are followed inside the root,
    so after `l -> /tmp/out`, the entry `l/f` lands at <root>/tmp/out/f, and
    the index records it as tmp/out/f (where it is, which `dockyard check`
    and the layer tree read).
  * The index says what the layer holds: when entries replaced one another
    (a name given twice, a directory replaced by a file, a whiteout over an
    entry of the same tar) or a hardlink header changed a shared inode's
    mode, it is settled by the layer model (replay.py) at the end.
  * Xattrs under trusted.overlay.* / user.overlay.* in the tar are ignored:
    they steer overlayfs (opaque, redirect, metacopy) and only whiteout
    conversion may set them.
  * A tar must end with its end-of-archive block; a stream cut exactly between
    entries is CorruptArchive, not a shorter layer.
"""

import errno
import io
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from engine.errors import CorruptArchive, InvalidArgument, UnsafeArchive
from engine.layers.compression import open_decompressed
from engine.layers.digest import CHUNK, HashingReader
from engine.layers.entries import WHITEOUT_OPAQUE, WHITEOUT_PREFIX, Entry, whiteout_kind
from engine.layers.readahead import ReadAhead
from engine.layers.scope import Scope, clean_name
from engine.layers.tarheader import FastTarInfo

OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"


@dataclass(frozen=True, slots=True)
class ApplyResult:
    diff_id: str  # sha256 of the whole uncompressed tar
    diff_size: int  # bytes of the whole uncompressed tar
    size: int  # sum of regular file sizes
    files: int  # number of entries (all types, whiteouts included)
    entries: list

    @property
    def file_count(self) -> int:
        return self.files


_O_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_IGNORED_XATTRS = ("trusted.overlay.", "user.overlay.")
_DEVICE_TYPES = {tarfile.CHRTYPE: stat.S_IFCHR, tarfile.BLKTYPE: stat.S_IFBLK, tarfile.FIFOTYPE: stat.S_IFIFO}
_DEVICE_NAMES = {tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


def apply_layer(stream, root: str, *, whiteouts: str = "overlay") -> ApplyResult:
    """Unpack the layer blob `stream` (gzip, zstd or plain tar) into the empty
    directory `root`. whiteouts="overlay" turns OCI whiteouts into overlayfs
    ones; "keep" writes the .wh. files as they are. On error the root is left
    partly filled: the caller throws it away."""
    if whiteouts not in ("overlay", "keep"):
        raise InvalidArgument(f"whiteouts must be 'overlay' or 'keep', not {whiteouts!r}")
    root = os.path.realpath(root)
    with os.scandir(root) as it:
        if next(it, None) is not None:
            raise InvalidArgument(f"cannot unpack a layer into {root}: the directory is not empty")

    hashed = HashingReader(open_decompressed(stream))
    # Fetching, decompressing and hashing run ahead in a thread (readahead.py);
    # the buffer lets tarfile nibble 512-byte headers out of 1 MiB chunks.
    ahead = ReadAhead(hashed)
    buffered = io.BufferedReader(ahead, CHUNK)
    unpacker = _Unpacker(root, whiteouts == "overlay")
    try:
        tf = tarfile.open(fileobj=buffered, mode="r|", tarinfo=FastTarInfo)
        while (member := tf.next()) is not None:
            unpacker.add(tf, member)
            tf.members.clear()  # stream mode keeps every header otherwise
        # After the last entry tarfile has read one more header; a full zero
        # block is the end-of-archive marker, anything shorter is a cut stream.
        if tf.fileobj.tell() - tf.offset != tarfile.BLOCKSIZE:
            raise tarfile.ReadError("missing end-of-archive marker")
        while buffered.read(CHUNK):  # the padding after the marker is in the diff id too
            pass
    except (tarfile.TarError, EOFError) as e:
        raise CorruptArchive(f"layer tar is truncated or corrupt: {e}") from e
    except OSError as e:
        if e.errno != errno.ENAMETOOLONG:
            raise
        raise CorruptArchive(f"layer tar has a name too long for this system: {e.filename}") from e
    finally:
        ahead.close()
    unpacker.finish()
    return ApplyResult(
        hashed.digest(), hashed.size, unpacker.size, len(unpacker.entries), unpacker.entries
    )


def _ns(member: tarfile.TarInfo, key: str, default: int) -> int:
    """A PAX time in nanoseconds, parsed exactly (tarfile gives a float)."""
    value = member.pax_headers.get(key)
    if value is not None:
        try:
            return int(Decimal(value) * 1_000_000_000)
        except (InvalidOperation, ValueError):
            pass
    return default


class _Unpacker:
    def __init__(self, root: str, overlay: bool):
        self.scope = Scope(root)
        self.overlay = overlay
        self.entries: list[Entry] = []
        self.size = 0
        self._dir_times: dict[str, tuple[int, int]] = {}
        self._settle = False  # an entry replaced another, or a hardlink changed a shared inode
        self._cut = len(root.rstrip("/")) + 1  # host path -> the entry's path in the layer

    # -- dispatch -----------------------------------------------------------

    def add(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        name = m.name
        parts = clean_name(name)
        special = whiteout_kind(name, parts)
        if special == "skip":
            return  # aufs bookkeeping (.wh..wh.plnk and friends): not layer content
        if special is not None:
            self._whiteout(tf, m, parts)
            return
        link = m.linkname or ""
        if m.isreg():
            host = self._file(tf, m, parts)
            self.size += m.size
            kind, size = "file", m.size
        elif m.isdir():
            host = self._dir(m, parts)
            kind, size = "dir", 0
        elif m.issym():
            host = self._symlink(m, parts)
            kind, size = "symlink", 0
        elif m.islnk():
            host, src = self._hardlink(m, parts)
            kind, size, link = "hardlink", 0, self._rel(src)
        elif m.type in _DEVICE_TYPES:
            host = self._device(m, parts)
            kind, size = _DEVICE_NAMES[m.type], 0
        else:
            raise CorruptArchive(f"layer entry {name!r} has an unsupported type {m.type!r}")
        # (a subclass's handler may not say where it wrote: then the name as given)
        path = self._rel(host) if host is not None else "/".join(parts) or "."
        self.entries.append(Entry(path, kind, size, m.mode & 0o7777, m.uid, m.gid, link, False))

    def _rel(self, host: str) -> str:
        return host[self._cut:] or "."

    def _whiteout(self, tf, m, parts) -> None:
        base = parts[-1]
        parent = "/".join(parts[:-1]) or "."
        if base == WHITEOUT_OPAQUE:
            if not self.overlay:
                self.entries.append(Entry(parent, "opaque", 0, 0, 0, 0, "", True))
            else:
                _, host = self.scope.directory(parts[:-1], create=True)
                os.setxattr(host, OVERLAY_OPAQUE_XATTR, b"y", follow_symlinks=False)
                self.entries.append(Entry(self._rel(host), "opaque", 0, 0, 0, 0, "", True))
                return
        else:
            target = base[len(WHITEOUT_PREFIX):]
            if target in ("", ".", ".."):
                raise UnsafeArchive(f"layer entry {m.name!r} is a whiteout for an invalid name")
            if not self.overlay:
                self.entries.append(Entry("/".join(parts[:-1] + [target]), "whiteout", 0, 0, 0, 0, "", True))
            else:
                # overlayfs whiteout: a 0:0 character device named like the victim.
                host = self._slot(parts[:-1] + [target])
                self._create(host, lambda: os.mknod(host, stat.S_IFCHR, os.makedev(0, 0)))
                self.entries.append(Entry(self._rel(host), "whiteout", 0, 0, 0, 0, "", True))
                return
        # "keep": the .wh. entry is written as the ordinary file it is.
        if m.isreg():
            self._file(tf, m, parts)
        elif m.isdir():
            self._dir(m, parts)

    # -- entry kinds --------------------------------------------------------

    def _file(self, tf, m, parts) -> str:
        host = self._slot(parts)
        fd = self._create(host, lambda: os.open(host, _O_CREATE, 0o600))
        try:
            self._copy_data(tf, m, fd)
            os.chown(fd, m.uid, m.gid)
            os.chmod(fd, m.mode & 0o7777)  # after chown, which clears setuid bits
            self._xattrs(fd, m)  # after data and chown, which drop capabilities
            mtime = _ns(m, "mtime", int(m.mtime) * 1_000_000_000)
            os.utime(fd, ns=(_ns(m, "atime", mtime), mtime))
        finally:
            os.close(fd)
        return host

    def _dir(self, m, parts) -> str:
        if not parts:
            host = self.scope.root
        else:
            real, phost = self.scope.directory(parts[:-1], create=True)
            host = os.path.join(phost, parts[-1])
            try:
                os.mkdir(host, 0o700)
            except FileExistsError:
                # Two entries for one directory: keep it, update its metadata.
                if not stat.S_ISDIR(os.lstat(host).st_mode):
                    self._remove(host)
                    os.mkdir(host, 0o700)
            self.scope.remember("/".join(parts), real + (parts[-1],), host)
        self._metadata(host, m, is_link=False)
        return host

    def _symlink(self, m, parts) -> str:
        host = self._slot(parts)
        self._create(host, lambda: os.symlink(m.linkname, host))
        self._metadata(host, m, is_link=True)
        return host

    def _hardlink(self, m, parts) -> tuple[str, str]:
        src = self._existing(m.linkname, m.name)
        src_st = os.lstat(src)
        host = self._slot(parts)
        if host != src:
            try:
                os.link(src, host, follow_symlinks=False)
            except FileExistsError:
                if not os.path.samestat(src_st, os.lstat(host)):
                    self._remove(host)
                    self._link_again(src, host, m)
        else:
            self._settle = True  # a name linked to itself: the index must not say so
        self._link_metadata(host, m, os.lstat(host))
        return host, src

    def _link_again(self, src, host, m) -> None:
        try:
            os.link(src, host, follow_symlinks=False)
        except FileNotFoundError:  # replacing the entry removed the target too
            raise CorruptArchive(
                f"layer entry {m.name!r} links to {m.linkname!r}, which the entry itself replaced"
            ) from None

    def _device(self, m, parts) -> str:
        host = self._slot(parts)
        mode = _DEVICE_TYPES[m.type] | (m.mode & 0o7777)
        dev = os.makedev(m.devmajor, m.devminor) if m.type != tarfile.FIFOTYPE else 0
        self._create(host, lambda: os.mknod(host, mode, dev))
        self._metadata(host, m, is_link=False)
        return host

    # -- helpers ------------------------------------------------------------

    def _slot(self, parts) -> str:
        """Host path for a new non-directory entry: parents resolved in scope."""
        if not parts:
            raise UnsafeArchive("layer entry for the root directory is not a directory")
        _, phost = self.scope.directory(parts[:-1], create=True)
        return os.path.join(phost, parts[-1])

    def _existing(self, linkname: str, name: str) -> str:
        """Host path of a hardlink target: resolved like a name, last part not followed."""
        parts = clean_name(linkname)
        missing = CorruptArchive(f"layer entry {name!r} links to {linkname!r}, which does not exist")
        if not parts:
            raise UnsafeArchive(f"layer entry {name!r} is a hardlink to the layer root")
        try:
            _, phost = self.scope.directory(parts[:-1], create=False)
            host = os.path.join(phost, parts[-1])
            st = os.lstat(host)
        except FileNotFoundError:
            raise missing from None
        if stat.S_ISDIR(st.st_mode):
            raise CorruptArchive(f"layer entry {name!r} is a hardlink to directory {linkname!r}")
        return host

    def _create(self, host: str, make):
        """Run `make` (which must fail with EEXIST rather than follow anything);
        if the name is taken, remove what is there and retry once."""
        try:
            return make()
        except FileExistsError:
            self._remove(host)
            return make()

    def _remove(self, host: str) -> None:
        self._settle = True
        st = os.lstat(host)
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(host)
            self.scope.invalidate()
            prefix = host + "/"
            self._dir_times = {
                p: t for p, t in self._dir_times.items() if p != host and not p.startswith(prefix)
            }
        else:
            os.unlink(host)
            if stat.S_ISLNK(st.st_mode):
                self.scope.invalidate()

    def _copy_data(self, tf, m, fd: int) -> None:
        src = tf.fileobj
        if m.sparse is not None or src.tell() != m.offset_data:
            src = tf.extractfile(m)  # the slow, general path
        remaining = m.size
        while remaining:
            chunk = src.read(min(remaining, CHUNK))
            if not chunk:
                raise tarfile.ReadError(f"unexpected end of data in {m.name!r}")
            remaining -= len(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]

    def _metadata(self, host: str, m, *, is_link: bool) -> None:
        os.chown(host, m.uid, m.gid, follow_symlinks=False)
        if not is_link:
            os.chmod(host, m.mode & 0o7777)
        self._xattrs(host, m)
        mtime = _ns(m, "mtime", int(m.mtime) * 1_000_000_000)
        times = (_ns(m, "atime", mtime), mtime)
        if m.isdir():
            self._dir_times[host] = times  # set at the end: children change mtime
        else:
            os.utime(host, ns=times, follow_symlinks=False)

    def _link_metadata(self, host: str, m, st: os.stat_result) -> None:
        """Metadata from a hardlink header lands on the shared inode. Any chown
        clears setuid bits and capabilities, so only change what differs."""
        if (st.st_uid, st.st_gid) != (m.uid, m.gid):
            os.chown(host, m.uid, m.gid, follow_symlinks=False)
            self._settle = True  # the other names of the inode change too
        # Linux has no lchmod: never chmod a symlink (a hardlink to a symlink is
        # one), or chmod would follow it out of the root.
        if not stat.S_ISLNK(st.st_mode):
            if (st.st_uid, st.st_gid) != (m.uid, m.gid) or stat.S_IMODE(st.st_mode) != m.mode & 0o7777:
                os.chmod(host, m.mode & 0o7777)
                self._settle = True
        self._xattrs(host, m)
        mtime = _ns(m, "mtime", int(m.mtime) * 1_000_000_000)
        os.utime(host, ns=(_ns(m, "atime", mtime), mtime), follow_symlinks=False)

    def _xattrs(self, target, m) -> None:
        if not m.pax_headers:
            return
        for key, value in m.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            attr = key[len("SCHILY.xattr."):]
            if attr.startswith(_IGNORED_XATTRS):
                continue
            data = value.encode("utf-8", "surrogateescape")  # tarfile's decoding, undone
            try:
                if isinstance(target, int):
                    os.setxattr(target, attr, data)
                else:
                    os.setxattr(target, attr, data, follow_symlinks=False)
            except OSError as e:
                # Filesystems without xattrs, and user.* on symlinks and
                # devices, which the kernel refuses: not worth failing a pull.
                if e.errno in (errno.ENOTSUP, errno.EOPNOTSUPP) or (
                    e.errno == errno.EPERM and attr.startswith("user.")
                ):
                    continue
                raise

    def finish(self) -> None:
        # Deepest first, though any order works: utime on a child never
        # changes its parent's mtime.
        for host in sorted(self._dir_times, key=lambda p: p.count("/"), reverse=True):
            os.utime(host, ns=self._dir_times[host], follow_symlinks=False)
        if self._settle and self.overlay:
            from engine.layers.replay import settle

            self.entries = settle(self.entries)
