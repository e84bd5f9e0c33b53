"""The tree a layer tar leaves once unpacked, built in memory.

Each entry has the effect the unpacker (apply.py) gives it: a later entry
replaces what its name holds (a directory with everything under it), a
directory entry over a directory only changes its metadata, a hardlink shares
its target's node and its header's mode and owner land on that shared node
(the last one wins, as chmod on a shared inode does), a whiteout is a 0:0
character device, an opaque marker flags its directory. Names are resolved by
Scope itself (scope.py), through its _probe/_mkdir hooks over this tree, so a
parent symlink is followed exactly as the unpacker follows it on disk.

Two users: `dockyard check` (verify.py) replays a layer's blob to learn what
its unpacked directory must hold, and the unpacker settles its file index with
it when entries replaced one another (so the index says what the layer holds,
not every step of the tar)."""
import hashlib
import os
import tarfile

from engine.errors import CorruptArchive, UnsafeArchive
from engine.layers.entries import WHITEOUT_PREFIX, Entry, whiteout_kind
from engine.layers.scope import Scope, clean_name
from engine.layers.tarheader import FastTarInfo

CHUNK = 1 << 20
_DEVICES = {tarfile.CHRTYPE: "char", tarfile.BLKTYPE: "block", tarfile.FIFOTYPE: "fifo"}


class Node:
    """A file, directory, symlink, device or whiteout. Hardlinked names share
    one Node. uid None: made by the unpacker itself (an implicit parent
    directory), owned by whoever unpacked."""

    __slots__ = ("type", "mode", "uid", "gid", "size", "digest", "linkname", "rdev",
                 "explicit", "opaque", "kids")

    def __init__(self, type, mode, uid, gid, *, size=0, digest=None, linkname="", rdev=0, explicit=True):
        self.type, self.mode, self.uid, self.gid = type, mode, uid, gid
        self.size, self.digest, self.linkname, self.rdev = size, digest, linkname, rdev
        self.explicit = explicit
        self.opaque = False
        self.kids: dict[str, Node] | None = {} if type == "dir" else None


class _ModelScope(Scope):
    """Scope over the model: host paths are the model's paths ("" the root)."""

    def __init__(self, model: "LayerModel"):
        super().__init__("")
        self.model = model

    def _probe(self, real):
        node = self.model.lookup(real)
        if node is None:
            return None, ""
        if node.type == "dir":
            return "dir", ""
        if node.type == "symlink":
            return "link", node.linkname
        return "other", ""

    def _mkdir(self, real):
        # as Scope._mkdir: 0755, owned by the unpacking process
        self.model.lookup(real[:-1]).kids[real[-1]] = Node("dir", 0o755, None, None, explicit=False)


def _join(real, name: str) -> str:
    return "/".join((*real, name))


class LayerModel:
    def __init__(self):
        # mode None: the root's mode is the staging directory's unless the tar lists "."
        self.root = Node("dir", None, None, None, explicit=False)
        self.scope = _ModelScope(self)
        self.seq: dict[str, int] = {}  # name -> number of the entry that last set it (opaque: "\0" + dir)

    def lookup(self, real) -> Node | None:
        node = self.root
        for comp in real:
            if node.kids is None:
                return None
            node = node.kids.get(comp)
            if node is None:
                return None
        return node

    # -- a tar, an index ----------------------------------------------------

    def add_member(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        """One tar entry, as apply_layer(whiteouts="overlay") unpacks it."""
        name = m.name
        parts = clean_name(name)
        special = whiteout_kind(name, parts)
        if special == "skip":
            return
        if special == "opaque":
            path = "\0" + self.opaque(parts[:-1])
        elif special == "whiteout":
            path = self.whiteout(parts[:-1], parts[-1][len(WHITEOUT_PREFIX):], name)
        elif m.isreg():
            path = self.file(parts, m.mode & 0o7777, m.uid, m.gid, m.size, _digest(tf.extractfile(m), m.size))
        elif m.isdir():
            path = self.dir(parts, m.mode & 0o7777, m.uid, m.gid)
        elif m.issym():
            path = self.symlink(parts, m.linkname, m.mode & 0o7777, m.uid, m.gid)
        elif m.islnk():
            path = self.hardlink(parts, m.linkname, m.mode & 0o7777, m.uid, m.gid, name)
        elif m.type in _DEVICES:
            rdev = os.makedev(m.devmajor, m.devminor) if m.type != tarfile.FIFOTYPE else 0
            path = self.device(parts, _DEVICES[m.type], m.mode & 0o7777, m.uid, m.gid, rdev)
        else:
            raise CorruptArchive(f"layer entry {name!r} has an unsupported type {m.type!r}")
        self.seq[path] = len(self.seq)

    def add_entry(self, e: Entry) -> None:
        """One row of an unpacker's index (paths already resolved)."""
        parts = clean_name(e.path)
        if e.type == "file":
            path = self.file(parts, e.mode, e.uid, e.gid, e.size)
        elif e.type == "dir":
            path = self.dir(parts, e.mode, e.uid, e.gid)
        elif e.type == "symlink":
            path = self.symlink(parts, e.linkname, e.mode, e.uid, e.gid)
        elif e.type == "hardlink":
            path = self.hardlink(parts, e.linkname, e.mode, e.uid, e.gid, e.path)
        elif e.type == "whiteout":
            path = self.whiteout(parts[:-1], parts[-1], e.path)
        elif e.type == "opaque":
            path = "\0" + self.opaque(parts)
        else:
            path = self.device(parts, e.type, e.mode, e.uid, e.gid, 0)
        self.seq[path] = len(self.seq)

    # -- entry kinds (apply.py's _Unpacker, method for method) --------------

    def file(self, parts, mode, uid, gid, size, digest=None) -> str:
        return self._new(parts, Node("file", mode, uid, gid, size=size, digest=digest))

    def symlink(self, parts, target, mode, uid, gid) -> str:
        return self._new(parts, Node("symlink", mode, uid, gid, linkname=target))

    def device(self, parts, kind, mode, uid, gid, rdev) -> str:
        return self._new(parts, Node(kind, mode, uid, gid, rdev=rdev))

    def dir(self, parts, mode, uid, gid) -> str:
        if not parts:
            node, path = self.root, "."
        else:
            real, _ = self.scope.directory(parts[:-1], create=True)
            parent, name = self.lookup(real), parts[-1]
            node = parent.kids.get(name)
            if node is None or node.type != "dir":
                node = Node("dir", mode, uid, gid)
                self._put(parent, name, node)
            path = _join(real, name)
            self.scope.remember("/".join(parts), (*real, name), path)
        node.mode, node.uid, node.gid, node.explicit = mode, uid, gid, True
        return path

    def hardlink(self, parts, linkname, mode, uid, gid, name) -> str:
        lparts = clean_name(linkname)
        missing = CorruptArchive(f"layer entry {name!r} links to {linkname!r}, which does not exist")
        if not lparts:
            raise UnsafeArchive(f"layer entry {name!r} is a hardlink to the layer root")
        try:
            lreal, _ = self.scope.directory(lparts[:-1], create=False)
        except FileNotFoundError:
            raise missing from None
        src = self.lookup(lreal).kids.get(lparts[-1])
        if src is None:
            raise missing
        if src.type == "dir":
            raise CorruptArchive(f"layer entry {name!r} is a hardlink to directory {linkname!r}")
        real, parent = self._slot(parts)
        base = parts[-1]
        if _join(real, base) != _join(lreal, lparts[-1]):
            old = parent.kids.get(base)
            if old is not src:
                if old is not None:
                    self._drop(parent, base)
                    if self.lookup((*lreal, lparts[-1])) is not src:
                        raise CorruptArchive(
                            f"layer entry {name!r} links to {linkname!r}, which the entry itself replaced")
                parent.kids[base] = src
        # The header's metadata lands on the shared node; never a chmod on a symlink.
        src.uid, src.gid = uid, gid
        if src.type != "symlink":
            src.mode = mode
        return _join(real, base)

    def whiteout(self, dir_parts, target, name) -> str:
        if target in ("", ".", ".."):
            raise UnsafeArchive(f"layer entry {name!r} is a whiteout for an invalid name")
        return self._new([*dir_parts, target], Node("whiteout", 0, None, None))

    def opaque(self, dir_parts) -> str:
        real, _ = self.scope.directory(dir_parts, create=True)
        self.lookup(real).opaque = True
        return "/".join(real) or "."

    # -- helpers --------------------------------------------------------------

    def _slot(self, parts):
        if not parts:
            raise UnsafeArchive("layer entry for the root directory is not a directory")
        real, _ = self.scope.directory(parts[:-1], create=True)
        return real, self.lookup(real)

    def _new(self, parts, node: Node) -> str:
        real, parent = self._slot(parts)
        self._put(parent, parts[-1], node)
        return _join(real, parts[-1])

    def _put(self, parent: Node, name: str, node: Node) -> None:
        if name in parent.kids:
            self._drop(parent, name)
        parent.kids[name] = node

    def _drop(self, parent: Node, name: str) -> None:
        old = parent.kids.pop(name)
        if old.type in ("dir", "symlink"):
            self.scope.invalidate()  # as _Unpacker._remove: resolved names may change

    # -- reading the result ---------------------------------------------------

    def walk(self):
        """(path, node) for every name, depth first, names sorted as bytes;
        the root is ("", root)."""
        stack = [("", self.root)]
        while stack:
            path, node = stack.pop()
            yield path, node
            if node.kids:
                prefix = path + "/" if path else ""
                stack.extend((prefix + n, node.kids[n]) for n in sorted(node.kids, key=os.fsencode, reverse=True))

    def entries(self) -> list[Entry]:
        """The index of what the layer holds, in the order of the entries that
        last set each name: directories the tar never listed left out (as the
        unpacker leaves them out), the earliest surviving name of a shared node
        as itself, its other names as hardlinks to it."""
        seq = self.seq
        names: dict[int, str] = {}  # node -> its earliest name
        order = list(self.walk())
        for path, node in order:
            if node.type != "dir":
                first = names.get(id(node))
                if first is None or seq.get(path, -1) < seq.get(first, -1):
                    names[id(node)] = path
        rows: list[tuple[int, Entry]] = []
        for path, node in order:
            shown = path or "."
            if node.type == "dir":
                if node.explicit:
                    rows.append((seq.get(shown, -1), Entry(shown, "dir", 0, node.mode, node.uid, node.gid, "", False)))
                if node.opaque:
                    rows.append((seq.get("\0" + shown, -1), Entry(shown, "opaque", 0, 0, 0, 0, "", True)))
                continue
            first = names[id(node)]
            if path != first:
                e = Entry(path, "hardlink", 0, node.mode, node.uid or 0, node.gid or 0, first, False)
            elif node.type == "whiteout":
                e = Entry(path, "whiteout", 0, 0, 0, 0, "", True)
            else:
                e = Entry(path, node.type, node.size, node.mode, node.uid, node.gid, node.linkname, False)
            rows.append((seq.get(path, -1), e))
        rows.sort(key=lambda r: r[0])
        return [e for _, e in rows]


def _digest(src, size: int) -> bytes:
    h = hashlib.sha256()
    left = size
    while left:
        chunk = src.read(min(CHUNK, left))
        if not chunk:
            raise tarfile.ReadError("unexpected end of data")
        h.update(chunk)
        left -= len(chunk)
    return h.digest()


def replay_tar(stream) -> LayerModel:
    """The model of a plain (decompressed) layer tar."""
    model = LayerModel()
    tf = tarfile.open(fileobj=stream, mode="r|", tarinfo=FastTarInfo)
    while (m := tf.next()) is not None:
        model.add_member(tf, m)
        tf.members.clear()
    return model


def settle(entries: list[Entry]) -> list[Entry]:
    """An unpacker's index rows (in tar order, paths resolved) reduced to what
    the layer holds once every entry is applied."""
    model = LayerModel()
    for e in entries:
        model.add_entry(e)
    return model.entries()
