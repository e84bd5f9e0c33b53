"""Per-layer file indexes: what each layer holds (path, type, size, mode,
owner, link target, whiteouts), recorded when the layer enters the store so the
layer model (layertree.py) never re-reads a tar.

The rows are the unpacker's (engine/layers/apply.py), so they say what the
unpacked directory holds, which is also what `dockyard check` verifies: a path
is where the entry landed (`l -> /etc` then `l/x` is etc/x), an entry a later
one replaced is gone, every name of a hardlinked inode has the mode the last
header gave it. Format 1 indexes recorded the tar's names as written; they are
rebuilt from the unpacked directory on first use.

Storage: one row per diff id in the `layer_files` table of the store's SQLite
database, written in the same transaction that makes the layer visible (so the
index exists exactly when the layer does, and a trigger drops it with the last
layer row that uses the diff id). The row holds the index as columns, zstd
compressed:

    b"DYFI" + u32 version + u32 n + six length-prefixed (u64) sections:
      paths   NUL-joined UTF-8 (surrogateescape: any tar name round-trips)
      types   n bytes, one code per entry (TYPE_CODES)
      sizes   n x int64, modes / uids / gids   n x uint32 (little endian)
      links   NUL-joined link targets of the entries whose type has one, in order

Decoding is a few C-level splits and array conversions: ~10 ms for 100,000
entries. Layers stored before indexes existed get theirs built on first use by
walking the unpacked directory (overlay form: 0:0 character devices are
whiteouts, trusted.overlay.opaque=y marks an opaque directory)."""
import gc
import os
import stat
import struct
import sys
from array import array

import zstandard

from ..layers.apply import Entry
from ..layers.overlaydir import is_opaque, is_whiteout, sorted_names

FORMAT = 2  # 2: paths resolved in the layer, replaced entries settled
_MAGIC = b"DYFI"
_ZLEVEL = 3

# Entry.type <-> one-byte code
TYPE_CODES = {"file": "f", "dir": "d", "symlink": "l", "hardlink": "h", "char": "c", "block": "b",
              "fifo": "p", "whiteout": "w", "opaque": "o"}
TYPE_NAMES = {v: k for k, v in TYPE_CODES.items()}
_LINKED = "lh"


class FileIndex:
    """One layer's entries as columns (cheap to decode, cheap to scan).
    types is a str of one-letter codes (see TYPE_CODES); links maps an entry's
    position to its link target (symlinks and hardlinks only)."""

    __slots__ = ("paths", "types", "sizes", "modes", "uids", "gids", "links")

    def __init__(self, paths, types, sizes, modes, uids, gids, links):
        self.paths: list[str] = paths
        self.types: str = types
        self.sizes: list[int] = sizes
        self.modes: list[int] = modes
        self.uids: list[int] = uids
        self.gids: list[int] = gids
        self.links: dict[int, str] = links

    def __len__(self) -> int:
        return len(self.paths)

    def entry(self, i: int) -> Entry:
        t = self.types[i]
        return Entry(self.paths[i], TYPE_NAMES[t], self.sizes[i], self.modes[i], self.uids[i], self.gids[i],
                     self.links.get(i, ""), t in "wo")

    def entries(self) -> list[Entry]:
        return [self.entry(i) for i in range(len(self.paths))]

    @classmethod
    def from_entries(cls, entries) -> "FileIndex":
        paths, types, sizes, modes, uids, gids, links = [], [], [], [], [], [], {}
        for i, e in enumerate(entries):
            code = TYPE_CODES[e.type]
            paths.append(e.path)
            types.append(code)
            sizes.append(e.size)
            modes.append(e.mode & 0o7777)
            uids.append(e.uid)
            gids.append(e.gid)
            if code in _LINKED:
                links[i] = e.linkname
        return cls(paths, "".join(types), sizes, modes, uids, gids, links)


def _le(arr: array) -> bytes:
    if sys.byteorder != "little":
        arr = array(arr.typecode, arr)
        arr.byteswap()
    return arr.tobytes()


def _from_le(typecode: str, data) -> list[int]:
    arr = array(typecode)
    arr.frombytes(data)
    if sys.byteorder != "little":
        arr.byteswap()
    return arr.tolist()


def encode(index: "FileIndex | list") -> bytes:
    """The compressed bytes of an index (a FileIndex or a list of Entry)."""
    if not isinstance(index, FileIndex):
        index = FileIndex.from_entries(index)
    n = len(index)
    order = sorted(index.links)
    sections = [
        "\0".join(index.paths).encode("utf-8", "surrogateescape"),
        index.types.encode("ascii"),
        _le(array("q", index.sizes)),
        _le(array("I", index.modes)),
        _le(array("I", [u & 0xFFFFFFFF for u in index.uids])),
        _le(array("I", [g & 0xFFFFFFFF for g in index.gids])),
        "\0".join(index.links[i] for i in order).encode("utf-8", "surrogateescape"),
    ]
    raw = bytearray(_MAGIC + struct.pack("<II", FORMAT, n))
    for s in sections:
        raw += struct.pack("<Q", len(s))
        raw += s
    return zstandard.ZstdCompressor(level=_ZLEVEL).compress(bytes(raw))


def decode(data: bytes) -> FileIndex:
    gc_was = gc.isenabled()
    gc.disable()  # 100,000 new strings and ints, no cycles
    try:
        return _decode(data)
    finally:
        if gc_was:
            gc.enable()


def _decode(data: bytes) -> FileIndex:
    raw = memoryview(zstandard.ZstdDecompressor().decompress(data))
    if bytes(raw[:4]) != _MAGIC:
        raise ValueError("not a dockyard file index")
    version, n = struct.unpack_from("<II", raw, 4)
    if version != FORMAT:
        raise ValueError(f"file index format {version} is not supported")
    pos, sections = 12, []
    for _ in range(7):
        (size,) = struct.unpack_from("<Q", raw, pos)
        pos += 8
        sections.append(raw[pos:pos + size])
        pos += size
    paths = bytes(sections[0]).decode("utf-8", "surrogateescape").split("\0") if n else []
    types = bytes(sections[1]).decode("ascii")
    sizes = _from_le("q", sections[2])
    modes = _from_le("I", sections[3])
    uids = _from_le("I", sections[4])
    gids = _from_le("I", sections[5])
    linked = [i for i, t in enumerate(types) if t in _LINKED] if ("l" in types or "h" in types) else []
    targets = bytes(sections[6]).decode("utf-8", "surrogateescape").split("\0") if linked else []
    if len(paths) != n or len(types) != n or len(sizes) != n or len(targets) != len(linked):
        raise ValueError("file index is inconsistent")
    return FileIndex(paths, types, sizes, modes, uids, gids, dict(zip(linked, targets)))


# ---------------------------------------------------------------- walking a directory

def walk(root: str, *, skip: frozenset = frozenset()) -> list[Entry]:
    """The entries a layer tar of `root` would hold, read from the directory in
    overlay form: in tar_directory's order (depth first, names sorted as bytes),
    0:0 character devices as whiteouts, an opaque directory as its own entry
    followed by an "opaque" entry, the second and later names of an inode as
    hardlinks to the first. Sockets are left out, as tar_directory does; paths
    in `skip` (relative, e.g. "etc/hosts") too."""
    out: list[Entry] = []
    seen: dict[tuple[int, int], str] = {}
    stack = [(os.path.join(root, n), n) for n in sorted_names(root)]
    stack.reverse()
    while stack:
        host, rel = stack.pop()
        if rel in skip:
            continue
        try:
            st = os.lstat(host)
        except FileNotFoundError:  # a running container removed it meanwhile
            continue
        mode = st.st_mode
        perm = mode & 0o7777
        if stat.S_ISDIR(mode):
            out.append(Entry(rel, "dir", 0, perm, st.st_uid, st.st_gid, "", False))
            if is_opaque(host):
                out.append(Entry(rel, "opaque", 0, 0, 0, 0, "", True))
            try:
                names = sorted_names(host)
            except (FileNotFoundError, NotADirectoryError):
                continue
            prefix = rel + "/"
            stack.extend((os.path.join(host, n), prefix + n) for n in reversed(names))
            continue
        if is_whiteout(st):
            out.append(Entry(rel, "whiteout", 0, 0, 0, 0, "", True))
            continue
        if stat.S_ISSOCK(mode):
            continue
        if st.st_nlink > 1:
            first = seen.setdefault((st.st_dev, st.st_ino), rel)
            if first != rel:
                out.append(Entry(rel, "hardlink", 0, perm, st.st_uid, st.st_gid, first, False))
                continue
        if stat.S_ISREG(mode):
            out.append(Entry(rel, "file", st.st_size, perm, st.st_uid, st.st_gid, "", False))
        elif stat.S_ISLNK(mode):
            try:
                target = os.readlink(host)
            except FileNotFoundError:
                continue
            out.append(Entry(rel, "symlink", 0, perm, st.st_uid, st.st_gid, target, False))
        elif stat.S_ISCHR(mode):
            out.append(Entry(rel, "char", 0, perm, st.st_uid, st.st_gid, "", False))
        elif stat.S_ISBLK(mode):
            out.append(Entry(rel, "block", 0, perm, st.st_uid, st.st_gid, "", False))
        elif stat.S_ISFIFO(mode):
            out.append(Entry(rel, "fifo", 0, perm, st.st_uid, st.st_gid, "", False))
    return out


# ---------------------------------------------------------------- the store's table

def record(c, diff_id: str, data: bytes, entries: int) -> None:
    """Insert an encoded index inside the caller's transaction (add_image's)."""
    c.execute("INSERT OR IGNORE INTO layer_files(diff_id, format, entries, data) VALUES (?,?,?,?)",
              (diff_id, FORMAT, entries, data))


def load(store, diff_id: str, chain_id: str) -> FileIndex:
    """The index of a stored layer; built from its unpacked directory (and
    recorded) when the layer came in before indexes were kept."""
    rows = store.db.query("SELECT format, data FROM layer_files WHERE diff_id = ?", (diff_id,))
    if rows and rows[0]["format"] == FORMAT:
        try:
            return decode(rows[0]["data"])
        except (ValueError, zstandard.ZstdError, struct.error):
            pass  # rebuilt below
    path = store.layers.path(chain_id)
    if not os.path.isdir(path):
        from ..errors import StoreError
        raise StoreError(f"layer {chain_id}: its unpacked directory is missing (run dockyard check)")
    index = FileIndex.from_entries(walk(path))
    data = encode(index)
    with store.db.tx() as c:
        # Only while a layer row still uses it: the trigger could not drop it otherwise.
        c.execute("INSERT OR REPLACE INTO layer_files(diff_id, format, entries, data) "
                  "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM layers WHERE diff_id = ?)",
                  (diff_id, FORMAT, len(index), data, diff_id))
    return index
