"""Compare an unpacked layer directory with the layer tar it came from: the
check that an unpacked layer still holds what its diff id says."""
import os
import stat
import tarfile
from typing import BinaryIO

from .compression import open_decompressed
from .digest import HashingReader

CHUNK = 1 << 20
_WH = ".wh."
_OPQ = ".wh..wh..opq"


def _same_content(path: str, member: BinaryIO, size: int) -> bool:
    # O_NOFOLLOW: a tampered layer must not make check read outside it.
    with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb") as f:
        left = size
        while left:
            a = member.read(min(CHUNK, left))
            if not a or f.read(len(a)) != a:
                return False
            left -= len(a)
        return f.read(1) == b""


def _see(seen: set[str], name: str) -> None:
    # Parents are created implicitly when a tar omits them.
    while name and name not in seen:
        seen.add(name)
        name = os.path.dirname(name)


def verify_layer_dir(blob: BinaryIO, root: str, limit: int = 20) -> tuple[str, list[str]]:
    """Returns (diff id of the blob's tar, problems found in root). The caller
    compares the diff id with the one the layer is known by."""
    problems: list[str] = []
    raw = HashingReader(open_decompressed(blob))
    seen: set[str] = set()
    with tarfile.open(fileobj=raw, mode="r|") as tar:
        for m in tar:
            if len(problems) >= limit:
                break
            name = os.path.normpath(m.name.lstrip("/")).lstrip("/")
            if name in (".", ""):
                continue
            base = os.path.basename(name)
            if base == _OPQ:
                _see(seen, os.path.dirname(name))
                continue
            if base.startswith(_WH):
                name = os.path.join(os.path.dirname(name), base[len(_WH):])
                want = "whiteout"
            else:
                want = m
            _see(seen, name)
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                problems.append(f"{name}: missing")
                continue
            if want == "whiteout":
                if not (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0):
                    problems.append(f"{name}: should be a whiteout")
                continue
            if m.isreg() and not m.islnk():
                if not stat.S_ISREG(st.st_mode) or st.st_size != m.size:
                    problems.append(f"{name}: size or type differs")
                elif not _same_content(path, tar.extractfile(m), m.size):
                    problems.append(f"{name}: content differs")
            elif m.isdir() and not stat.S_ISDIR(st.st_mode):
                problems.append(f"{name}: should be a directory")
            elif m.issym() and (not stat.S_ISLNK(st.st_mode) or os.readlink(path) != m.linkname):
                problems.append(f"{name}: symlink differs")
            if not m.issym() and not m.islnk() and stat.S_IMODE(st.st_mode) != m.mode & 0o7777:
                problems.append(f"{name}: mode {stat.S_IMODE(st.st_mode):o} should be {m.mode & 0o7777:o}")
            if not m.islnk() and (st.st_uid, st.st_gid) != (m.uid, m.gid):
                problems.append(f"{name}: owner {st.st_uid}:{st.st_gid} should be {m.uid}:{m.gid}")
    raw.drain()
    if len(problems) < limit:
        for dirpath, dirs, files in os.walk(root):
            for n in dirs + files:
                rel = os.path.relpath(os.path.join(dirpath, n), root)
                if rel not in seen:
                    problems.append(f"{rel}: not in the layer")
                    if len(problems) >= limit:
                        return raw.digest(), problems
    return raw.digest(), problems
