"""Resolve tar entry names to host paths that are guaranteed to stay inside a root.

The rules are those of a chroot (Go's securejoin / FollowSymlinkInScope):
symlinks met in parent components are followed with their targets read as if
the root were "/", so ".." stops at the root and absolute targets are re-rooted.
Every component is checked with lstat, so the OS never follows a symlink for
us: the host path handed back is made only of real directories under the root.
The final component of a name is never followed; callers lstat it themselves.
"""

import errno
import os
import stat

from engine.errors import CorruptArchive, UnsafeArchive

MAX_HOPS = 40  # like Linux's MAXSYMLINKS
_CACHE_MAX = 8192


def clean_name(name: str) -> list[str]:
    """Components of a tar name made relative to the root. A leading "/" or "./"
    is dropped (docker does the same); ".." that would climb above the root is an
    escape and raises UnsafeArchive. [] means the root itself."""
    parts: list[str] = []
    for part in name.split("/"):
        if part == ".." :
            if not parts:
                raise UnsafeArchive(f"layer entry {name!r} points outside the layer root")
            parts.pop()
        elif part and part != ".":
            parts.append(part)
    return parts


class Scope:
    """Maps cleaned in-layer directory names to real host directories under root.

    Resolved directories are cached by their cleaned name, so the common case
    (entries listed under a directory that was just created) costs one dict
    lookup. A cached answer can only go stale if a directory or symlink on its
    path is removed, so callers must call invalidate() whenever they remove one;
    creating new entries never changes an existing answer."""

    def __init__(self, root: str):
        self.root = root
        self._cache: dict[str, tuple[tuple[str, ...], str]] = {"": ((), root)}

    def invalidate(self) -> None:
        self._cache = {"": ((), self.root)}

    def remember(self, key: str, real: tuple[str, ...], host: str) -> None:
        """Record a directory the caller just made (or found) at `host`."""
        if len(self._cache) >= _CACHE_MAX:
            self.invalidate()
        self._cache[key] = (real, host)

    def host(self, real) -> str:
        return os.path.join(self.root, *real) if real else self.root

    def directory(self, parts: list[str], *, create: bool) -> tuple[tuple[str, ...], str]:
        """Real components and host path of the directory named by `parts`.
        With create, missing directories are made (0755); without, a missing one
        raises FileNotFoundError. A non-directory on the way is CorruptArchive."""
        key = "/".join(parts)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        # Start from the nearest cached ancestor, usually the direct parent.
        i = len(parts) - 1
        while i > 0 and "/".join(parts[:i]) not in self._cache:
            i -= 1
        start = self._cache["/".join(parts[:i])][0]
        real = self._walk(list(start), parts[i:], key, create)
        result = (tuple(real), self.host(real))
        if create:
            self.remember(key, *result)
        return result

    # What the walk sees and makes. Overridden by the layer model
    # (engine/layers/replay.py), so that `dockyard check` resolves names
    # with this very code over the tree a tar leaves, not a second copy.
    def _probe(self, real: list[str]) -> tuple[str | None, str]:
        """What `real` names: ("dir", ""), ("link", target), ("other", "") or (None, "")."""
        path = self.host(real)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return None, ""
        if stat.S_ISDIR(st.st_mode):
            return "dir", ""
        if stat.S_ISLNK(st.st_mode):
            return "link", os.readlink(path)
        return "other", ""

    def _mkdir(self, real: list[str]) -> None:
        path = self.host(real)
        os.mkdir(path, 0o755)
        os.chmod(path, 0o755)  # the umask must not shape the image

    def _walk(self, real: list[str], todo: list[str], name: str, create: bool) -> list[str]:
        pending = todo[::-1]  # a stack: symlink targets get pushed on top
        hops = 0
        while pending:
            comp = pending.pop()
            if comp == "" or comp == ".":
                continue
            if comp == "..":
                if real:  # ".." at the root stays at the root, as in a chroot
                    real.pop()
                continue
            kind, target = self._probe(real + [comp])
            if kind is None:
                if not create:
                    raise FileNotFoundError(errno.ENOENT, "no such directory", self.host(real + [comp]))
                self._mkdir(real + [comp])
                real.append(comp)
            elif kind == "dir":
                real.append(comp)
            elif kind == "link":
                hops += 1
                if hops > MAX_HOPS:
                    raise UnsafeArchive(
                        f"layer entry {name!r}: too many levels of symbolic links"
                    )
                if target.startswith("/"):
                    real = []
                pending.extend(reversed(target.split("/")))
            else:
                raise CorruptArchive(
                    f"layer entry {name!r}: {'/'.join(real + [comp])!r} is not a directory"
                )
        return real
