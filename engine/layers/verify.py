"""Compare an unpacked layer directory with the layer tar it came from: the
check that an unpacked layer still holds what its diff id says.

The tar is replayed into the layer model (replay.py), which applies every entry
as the unpacker does and resolves names with the unpacker's own Scope: so a
name reached through an in-layer symlink is looked for where it landed, a later
entry wins over an earlier one, and hardlinked names carry the mode the last
hardlink header gave their shared inode. The directory must then hold exactly
that tree: types, modes, owners, sizes, content, symlink targets, device
numbers, shared inodes, opaque markers, and nothing else."""
import hashlib
import os
import stat
import tarfile
from typing import BinaryIO

from engine.errors import DockyardError

from .compression import open_decompressed
from .digest import HashingReader
from .overlaydir import is_opaque
from .replay import CHUNK, LayerModel, Node, replay_tar

_IS_TYPE = {"file": stat.S_ISREG, "dir": stat.S_ISDIR, "symlink": stat.S_ISLNK, "char": stat.S_ISCHR,
            "block": stat.S_ISBLK, "fifo": stat.S_ISFIFO, "whiteout": stat.S_ISCHR}
_TYPE_WORDS = {"file": "a file", "dir": "a directory", "symlink": "a symlink", "char": "a character device",
               "block": "a block device", "fifo": "a fifo", "whiteout": "a whiteout"}


def verify_layer_dir(blob: BinaryIO, root: str, limit: int = 20) -> tuple[str, list[str]]:
    """Returns (diff id of the blob's tar, problems found in root). The caller
    compares the diff id with the one the layer is known by."""
    raw = HashingReader(open_decompressed(blob))
    try:
        model = replay_tar(raw)
        raw.drain()
    except (DockyardError, tarfile.TarError, EOFError, OSError) as e:
        return "", [f"its blob no longer unpacks: {e}"]
    return raw.digest(), compare(model, root, limit)


def compare(model: LayerModel, root: str, limit: int = 20) -> list[str]:
    """Problems of the directory `root` against the model, at most `limit`.
    Only directories that are real directories on disk are entered, so a
    tampered layer cannot make the check read outside it."""
    problems: list[str] = []
    inode_of: dict[int, tuple[tuple[int, int], str]] = {}  # node -> (its inode on disk, first name)
    node_of: dict[tuple[int, int], tuple[int, str]] = {}   # inode -> (node, first name)
    stack = [("", model.root)]
    while stack and len(problems) < limit:
        rel, node = stack.pop()
        host = os.path.join(root, rel) if rel else root
        shown = rel or "."
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            problems.append(f"unpacked file {shown}: missing")
            continue
        for p in _differences(node, st, host):
            problems.append(f"unpacked file {shown}: {p}")
        if node.type != "dir":
            _same_inode(node, st, shown, inode_of, node_of, problems)
            continue
        if not stat.S_ISDIR(st.st_mode):
            continue
        prefix = rel + "/" if rel else ""
        for name in sorted(set(os.listdir(host)) - node.kids.keys(), key=os.fsencode):
            problems.append(f"unpacked file {prefix + name}: not in the layer")
        stack.extend((prefix + n, node.kids[n]) for n in sorted(node.kids, key=os.fsencode, reverse=True))
    return problems[:limit]


def _differences(node: Node, st: os.stat_result, host: str) -> list[str]:
    t, mode = node.type, st.st_mode
    if not _IS_TYPE[t](mode):
        return [f"should be {_TYPE_WORDS[t]}"]
    if t == "whiteout":
        return [] if st.st_rdev == 0 else ["should be a whiteout"]
    out = []
    if t == "file":
        if st.st_size != node.size:
            out.append(f"size {st.st_size} should be {node.size}")
        elif node.digest is not None and _digest(host) != node.digest:
            out.append("content differs")
    elif t == "symlink":
        target = os.readlink(host)
        if target != node.linkname:
            out.append(f"symlink to {target!r} should point to {node.linkname!r}")
    elif t in ("char", "block") and st.st_rdev != node.rdev:
        out.append(f"device {os.major(st.st_rdev)}:{os.minor(st.st_rdev)} should be "
                   f"{os.major(node.rdev)}:{os.minor(node.rdev)}")
    elif t == "dir" and os.geteuid() == 0 and is_opaque(host) != node.opaque:
        # trusted.* xattrs are only readable with CAP_SYS_ADMIN
        out.append("should be opaque" if node.opaque else "is opaque, which the layer does not say")
    if t != "symlink" and node.mode is not None and stat.S_IMODE(mode) != node.mode:
        out.append(f"mode {stat.S_IMODE(mode):o} should be {node.mode:o}")
    if node.uid is not None and (st.st_uid, st.st_gid) != (node.uid, node.gid):
        out.append(f"owner {st.st_uid}:{st.st_gid} should be {node.uid}:{node.gid}")
    return out


def _same_inode(node, st, shown, inode_of, node_of, problems) -> None:
    """Names the layer links together share an inode on disk, and no others."""
    ino = (st.st_dev, st.st_ino)
    first = inode_of.setdefault(id(node), (ino, shown))
    if first[0] != ino:
        problems.append(f"unpacked file {shown}: should be a hardlink of {first[1]}")
    elif st.st_nlink > 1:
        other = node_of.setdefault(ino, (id(node), shown))
        if other[0] != id(node):
            problems.append(f"unpacked file {shown}: is a hardlink of {other[1]}, which the layer does not say")


def _digest(path: str) -> bytes:
    # O_NOFOLLOW: a tampered layer must not make check read outside it.
    h = hashlib.sha256()
    with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb", buffering=0) as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.digest()
