"""Mount targets inside the container's rootfs, and mount options.

Every mount target is resolved inside the rootfs component by component, with
the rootfs as the boundary (`secure_join`, as filepath-securejoin does), then
opened O_PATH|O_NOFOLLOW and mounted on through /proc/self/fd/N (`Target`): a
malicious image cannot send a mount outside its root, nor onto a symlink.

Standard library only; runs in a forked child of the monitor."""
import os
import stat

from . import syscalls as sc

_MAX_SYMLINKS = 255

_FLAGS = {  # option → (set, clear), as runc's parseMountOptions
    "async": (0, sc.MS_SYNCHRONOUS), "atime": (0, sc.MS_NOATIME), "bind": (sc.MS_BIND, 0),
    "defaults": (0, 0), "dev": (0, sc.MS_NODEV), "diratime": (0, sc.MS_NODIRATIME),
    "dirsync": (sc.MS_DIRSYNC, 0), "exec": (0, sc.MS_NOEXEC), "mand": (sc.MS_MANDLOCK, 0),
    "noatime": (sc.MS_NOATIME, 0), "nodev": (sc.MS_NODEV, 0), "nodiratime": (sc.MS_NODIRATIME, 0),
    "noexec": (sc.MS_NOEXEC, 0), "nomand": (0, sc.MS_MANDLOCK), "norelatime": (0, sc.MS_RELATIME),
    "nostrictatime": (0, sc.MS_STRICTATIME), "nosuid": (sc.MS_NOSUID, 0), "rbind": (sc.MS_BIND | sc.MS_REC, 0),
    "relatime": (sc.MS_RELATIME, 0), "remount": (sc.MS_REMOUNT, 0), "ro": (sc.MS_RDONLY, 0),
    "rw": (0, sc.MS_RDONLY), "strictatime": (sc.MS_STRICTATIME, 0), "suid": (0, sc.MS_NOSUID),
    "sync": (sc.MS_SYNCHRONOUS, 0), "nosymfollow": (sc.MS_NOSYMFOLLOW, 0),
    "rro": (sc.MS_RDONLY, 0),  # recursive ro: applied to the top mount only (see remount_bind)
}
_PROPAGATION = {
    "private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC, "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC, "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE, "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}
_IGNORED = {"tmpcopyup", "notmpcopyup", "nocopy", "z", "Z", "idmap", "ridmap"}
# statvfs f_flag bits → mount flags a bind remount must keep
_ST_KEEP = ((os.ST_NOSUID, sc.MS_NOSUID), (os.ST_NODEV, sc.MS_NODEV), (os.ST_NOEXEC, sc.MS_NOEXEC),
            (os.ST_NOATIME, sc.MS_NOATIME), (os.ST_NODIRATIME, sc.MS_NODIRATIME),
            (os.ST_RELATIME, sc.MS_RELATIME), (os.ST_RDONLY, sc.MS_RDONLY))


class SetupError(Exception):
    """A set-up step failed; the message is for the user."""


def parse_options(options) -> tuple[int, int, str]:
    """OCI mount options → (mount flags, propagation flags, data string)."""
    flags, prop, data = 0, 0, []
    for o in options or ():
        if o in _FLAGS:
            s, c = _FLAGS[o]
            flags = (flags | s) & ~c
        elif o in _PROPAGATION:
            prop |= _PROPAGATION[o]
        elif o in _IGNORED:
            continue
        else:
            data.append(o)
    return flags, prop, ",".join(data)


# ------------------------------------------------------------------ paths

def secure_join(root: str, unsafe: str) -> str:
    """`unsafe` resolved under `root` as if root were "/": "..", absolute and
    relative symlinks never leave it. Components that do not exist yet are
    joined lexically (after "." and ".." are cleaned)."""
    root = os.path.abspath(root)
    parts = [p for p in unsafe.split("/") if p]
    done: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        cand = os.path.join(root, *done, part)
        try:
            st = os.lstat(cand)
        except FileNotFoundError:
            done.append(part)
            continue
        except NotADirectoryError:
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_SYMLINKS:
                raise SetupError(f"{unsafe}: too many levels of symbolic links")
            target = os.readlink(cand)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        done.append(part)
    return os.path.join(root, *done) if done else root


def _inside(root: str, path: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _mkdirs_inside(root: str, path: str, mode: int = 0o755) -> None:
    """mkdir -p of a path secure_join returned (its existing part has no symlinks)."""
    rel = os.path.relpath(path, root)
    cur = root
    if rel == ".":
        return
    for part in rel.split("/"):
        cur = os.path.join(cur, part)
        try:
            os.mkdir(cur, mode)
        except FileExistsError:
            st = os.lstat(cur)
            if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
                raise SetupError(f"{cur[len(root):] or '/'} is not a directory") from None


class Target:
    """A mount point inside the rootfs, opened O_PATH|O_NOFOLLOW: mount onto
    `.proc` (/proc/self/fd/N), which is exactly what was checked."""

    def __init__(self, root: str, dest: str, *, file: bool = False, create: bool = True):
        self.root, self.dest = os.path.abspath(root), dest
        self.path = secure_join(self.root, dest)
        if create and not os.path.lexists(self.path):
            if file:
                _mkdirs_inside(self.root, os.path.dirname(self.path))
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
                os.close(fd)
            else:
                _mkdirs_inside(self.root, self.path)
        try:
            self.fd = os.open(self.path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            raise SetupError(f"mount point {dest}: {e.strerror}") from None
        st = os.fstat(self.fd)
        real = os.readlink(f"/proc/self/fd/{self.fd}")
        if stat.S_ISLNK(st.st_mode):
            self.close()
            raise SetupError(f"mount point {dest} is a symlink: refusing to mount onto it")
        if not _inside(self.root, real):
            self.close()
            raise SetupError(f"mount point {dest} resolves to {real}, outside the container's root")
        self.is_dir = stat.S_ISDIR(st.st_mode)
        self.proc = f"/proc/self/fd/{self.fd}"

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def mount(self, source, fstype, flags: int = 0, data: str | None = None) -> None:
        try:
            sc.mount(source, self.proc, fstype, flags, data or None)
        except OSError as e:
            what = f"mount {fstype or 'bind'} {source or ''} on {self.dest}".replace("  ", " ")
            raise SetupError(f"{what}: {os.strerror(e.errno)}") from None
        # what was opened is now covered: later calls must see the new mount
        self.close()
        self.fd = os.open(self.path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        self.proc = f"/proc/self/fd/{self.fd}"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def kept_flags(path: str) -> int:
    """Mount flags of the mount at `path` a bind remount has to repeat."""
    f = os.statvfs(path).f_flag
    return sum(m for st, m in _ST_KEEP if f & st)


def remount_bind(path: str, flags: int, what: str) -> None:
    flags &= ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    try:
        sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | flags | kept_flags(path), None)
    except OSError as e:
        raise SetupError(f"remount {what} (flags 0x{flags:x}): {os.strerror(e.errno)}") from None
