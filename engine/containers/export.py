"""docker export: the container's whole filesystem (the merged view) as one
flat tar, without mounting anything: the upper dir, the init layer and the
image's layers are read top-down as overlayfs would merge them. The first
(topmost) source holding a name wins; a 0:0 character device hides the name
below; a directory merges with the directories of the same name below it until
one is opaque (trusted.overlay.opaque=y) or something that is not a directory
is met. Entries are written in tar_directory's order and form (sorted names,
owners, modes, mtimes, xattrs but the overlay ones, hardlinks kept); the root
itself is not an entry. The tar round-trips through `dockyard import`."""
import os
import stat
import tarfile

from ..images.catalog import get as get_image
from ..images.inspect import layer_chain
from ..layers.apply import OVERLAY_OPAQUE_XATTR
from ..layers.digest import CHUNK
from ..layers.pack import _Counter, _header, _set_type, _xattrs
from ..store import Store
from .records import ContainerRecord

_O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


def sources(store: Store, rec: ContainerRecord) -> list[str]:
    """The directories merged into the container's root, topmost first."""
    img = get_image(store, rec.image_id)
    layers = [l["path"] for l in layer_chain(store, img)][::-1]
    return [os.path.join(rec.dir, "upper"), os.path.join(rec.dir, "init")] + layers


def export(store: Store, rec: ContainerRecord, out) -> int:
    """Write the flattened root of the container to `out`; returns the number of entries."""
    tf = tarfile.open(fileobj=_Counter(out), mode="w", format=tarfile.PAX_FORMAT)
    tf.copybufsize = CHUNK
    seen: dict[tuple[int, int], str] = {}
    count = 0
    stack = _children([d for d in sources(store, rec) if os.path.isdir(d)], "")
    while stack:
        rel, host, st, lower = stack.pop()
        mode = st.st_mode
        info = _header(rel, st)
        info.pax_headers, _ = _xattrs(host)
        if not stat.S_ISDIR(mode) and st.st_nlink > 1:
            first = seen.setdefault((st.st_dev, st.st_ino), rel)
            if first != rel:
                info.type, info.linkname = tarfile.LNKTYPE, first
                tf.addfile(info)
                count += 1
                continue
        try:
            if stat.S_ISREG(mode):
                info.size = st.st_size
                with os.fdopen(os.open(host, _O_READ), "rb", buffering=0) as f:
                    tf.addfile(info, _Exact(f, st.st_size))
            else:
                _set_type(info, host, st)
                tf.addfile(info)
        except FileNotFoundError:  # a running container removed it meanwhile
            continue
        count += 1
        if stat.S_ISDIR(mode):
            stack.extend(_children([host] + lower, rel + "/"))
    tf.close()
    return count


def _children(dirs: list[str], prefix: str) -> list:
    """Merged entries of one directory whose sources are `dirs` (topmost
    first, already cut at an opaque one): (rel, host, stat, lower dirs of the
    same name it merges with), reverse-sorted for popping off a stack."""
    decided: dict[str, tuple | None] = {}
    for k, d in enumerate(dirs):
        try:
            with os.scandir(d) as it:
                names = [e.name for e in it]
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            if name in decided:
                continue
            host = os.path.join(d, name)
            try:
                st = os.lstat(host)
            except FileNotFoundError:
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                decided[name] = None  # whiteout: hides the name below
                continue
            if stat.S_ISSOCK(st.st_mode):
                decided[name] = None
                continue
            lower: list[str] = []
            if stat.S_ISDIR(st.st_mode) and not _opaque(host):
                for below in dirs[k + 1:]:
                    cand = os.path.join(below, name)
                    try:
                        bst = os.lstat(cand)
                    except (FileNotFoundError, NotADirectoryError):
                        continue
                    if not stat.S_ISDIR(bst.st_mode):
                        break  # a whiteout or a file ends the merge
                    lower.append(cand)
                    if _opaque(cand):
                        break
            decided[name] = (host, st, lower)
    out = [(prefix + n, *v) for n, v in decided.items() if v is not None]
    out.sort(key=lambda e: os.fsencode(e[0]), reverse=True)
    return out


def _opaque(host: str) -> bool:
    try:
        return os.getxattr(host, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


class _Exact:
    """Reads exactly `size` bytes: a file that a running container grows or
    shrinks meanwhile still gives what its header promised (zero-padded)."""

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
