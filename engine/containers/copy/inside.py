"""The container side of docker cp (prepare_out, send_out, serve_in): runs
in the helper (engine/containers/copy/shell.py) after it has chroot()ed into the
container's root: /proc/<pid>/root of a running container, or the
container's overlay mounted in the helper's own mount namespace for a
stopped one. Paths are resolved with layers.scope.Scope (lstat on every
component, symlink targets re-rooted, ".." clamped at the root) and,
underneath, the chroot makes sure the kernel itself can never reach a host
file even if the container swaps a directory for a symlink while we walk.
Extraction reuses layers.apply's unpacker (no tarfile extract(); final
components never followed; O_NOFOLLOW everywhere). write_tar serves the
engine side too (a host source of copy-in).

Everything is imported at module level: nothing can be imported after the chroot."""
import json
import os
import stat
import tarfile

from ...errors import CorruptArchive, UnsafeArchive
from ...layers.apply import _Unpacker
from ...layers.digest import CHUNK
from ...layers.pack import _children, _Counter, _header, _xattrs, add_entry
from ...layers.scope import MAX_HOPS, Scope, clean_name
from .errors import CopyError, CopyNotFound
from .paths import (
    container_abs,
    go_base,
    go_clean,
    prepare_archive_copy,
    rebase,
    specifies_current_dir,
    split_path_dir_entry,
)

PSEUDO_FS = {"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "securityfs", "debugfs", "tracefs",
             "pstore", "bpf", "configfs", "fusectl", "binfmt_misc", "hugetlbfs", "efivarfs", "autofs", "nsfs"}


def write_tar(host: str, name: str, out, *, skip_devs=frozenset()) -> int:
    """A PAX tar of `host` (not followed if it is a symlink) as entry `name`,
    and of its tree under `name/`. Nothing is followed: symlinks are entries,
    regular files are opened O_NOFOLLOW. Directories on a device in
    `skip_devs` (proc, sysfs… of a running container) are entries without
    their contents. Returns the number of entries."""
    tf = tarfile.open(fileobj=_Counter(out), mode="w", format=tarfile.PAX_FORMAT)
    tf.copybufsize = CHUNK
    seen: dict[tuple[int, int], str] = {}
    count = 0
    stack = [(host, name)]
    top = True
    while stack:
        path, rel = stack.pop()
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            if top:
                raise
            continue  # removed while we walked (a running container)
        mode = st.st_mode
        if stat.S_ISSOCK(mode):
            if top:
                raise CopyError(f"cannot copy {name}: it is a socket")
            continue
        info = _header(rel, st)
        info.pax_headers, _ = _xattrs(path)
        add_entry(tf, info, path, st, seen)
        count += 1
        if stat.S_ISDIR(mode) and (top or st.st_dev not in skip_devs):
            stack.extend(_children(path, ("./" if rel == "." else rel + "/")))
        top = False
    tf.close()
    return count


class _Missing(Exception):
    pass


def _dir_in(scope: Scope, parts: list[str]) -> tuple[list[str], str]:
    try:
        real, host = scope.directory(parts, create=False)
    except FileNotFoundError:
        raise _Missing() from None
    except UnsafeArchive:
        raise CopyError("too many levels of symbolic links") from None
    except CorruptArchive:  # a non-directory on the way
        raise _Missing() from None
    return list(real), host


def resolve_in_root(scope: Scope, abs_path: str, follow: bool):
    """(real components, host path, lstat or None) of a container path, inside
    the scope's root. A trailing "/" or "/." resolves the whole path as a
    directory; otherwise the final component is followed only with `follow`,
    and then within the root too. lstat None: the final component does not
    exist (its parent does). _Missing: the parent does not exist."""
    head, _, base = abs_path.rpartition("/")
    parent = [c for c in head.split("/") if c]
    if base in ("", "."):
        real, host = _dir_in(scope, parent)
        return real, host, os.lstat(host)
    hops = 0
    while True:
        real, hdir = _dir_in(scope, parent)
        host = os.path.join(hdir, base)
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            return real + [base], host, None
        except NotADirectoryError:
            raise _Missing() from None
        if not (follow and stat.S_ISLNK(st.st_mode)):
            return real + [base], host, st
        hops += 1
        if hops > MAX_HOPS:
            raise CopyError("too many levels of symbolic links")
        target = os.readlink(host)
        comps = [c for c in target.split("/") if c and c != "."]
        prefix = [] if target.startswith("/") else real
        if not comps or comps[-1] == ".." or target.endswith(("/", "/.")):
            r, h = _dir_in(scope, prefix + comps)
            return r, h, os.lstat(h)
        parent, base = prefix + comps[:-1], comps[-1]


def pseudo_devs(mountinfo: str) -> set[int]:
    """st_dev of the proc/sys/cgroup… mounts listed in a mountinfo text."""
    devs = set()
    for line in mountinfo.splitlines():
        fields = line.split()
        try:
            fstype = fields[fields.index("-") + 1]
            major, minor = fields[2].split(":")
        except (ValueError, IndexError):
            continue
        if fstype in PSEUDO_FS:
            devs.add(os.makedev(int(major), int(minor)))
    return devs


def prepare_out(spec: dict) -> tuple[dict, str]:
    """Copy-out, in the helper (chrooted): (the JSON header, the host path to tar)."""
    scope = Scope("/")
    given = spec["path"]
    abs_path = container_abs(given)
    try:
        real, host, st = resolve_in_root(scope, abs_path, spec.get("follow", False))
    except _Missing:
        st = None
    if st is None:
        raise CopyNotFound(f"No such container:path: {spec['container']}:{given}")
    name = "." if specifies_current_dir(abs_path) or abs_path == "/" else go_base(abs_path)
    link = os.readlink(host) if stat.S_ISLNK(st.st_mode) else ""
    header = {"ok": True, "name": name, "is_dir": stat.S_ISDIR(st.st_mode), "mode": st.st_mode,
              "size": st.st_size, "mtime": int(st.st_mtime), "link_target": link,
              "path": "/" + "/".join(real)}
    return header, host


def send_out(header: dict, host: str, out, *, skip_devs=frozenset()) -> None:
    """The header line, then the tar."""
    out.write(json.dumps(header).encode() + b"\n")
    out.flush()
    write_tar(host, header["name"], out, skip_devs=skip_devs)
    out.flush()


class _Extractor(_Unpacker):
    """layers.apply's unpacker rooted at the container's "/" (the helper is
    chrooted there), with docker's copy rules: entries land under the
    destination directory, renamed from the source's base name to the
    destination's; a directory never replaces a non-directory nor the other
    way round; owners are root unless kept (-a)."""

    def __init__(self, dst_real: list[str], old: str | None, new: str | None, keep_owner: bool):
        super().__init__("/", False)
        self.dst, self.old, self.new, self.keep_owner = dst_real, old, new, keep_owner

    def put(self, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        parts = rebase(clean_name(m.name), self.old, self.new)
        if not parts and m.isdir():
            return  # "." onto the existing destination: docker leaves it as it is
        m.name = "/".join(self.dst + parts) or "."
        if m.islnk():
            m.linkname = "/".join(self.dst + rebase(clean_name(m.linkname), self.old, self.new))
        if not self.keep_owner:
            m.uid = m.gid = 0
            m.uname = m.gname = ""
        self.add(tf, m)
        self.entries.clear()

    def _remove(self, host: str) -> None:
        if stat.S_ISDIR(os.lstat(host).st_mode):
            raise CopyError(f'cannot overwrite directory "{host}" with non-directory "{self._shown()}"')
        super()._remove(host)

    def _dir(self, m, parts) -> None:
        if parts:
            _, phost = self.scope.directory(parts[:-1], create=True)
            host = os.path.join(phost, parts[-1])
            try:
                st = os.lstat(host)
            except FileNotFoundError:
                pass
            else:
                if not stat.S_ISDIR(st.st_mode):
                    raise CopyError(f'cannot overwrite non-directory "{host}" with directory "{self._shown()}"')
        super()._dir(m, parts)

    def _shown(self) -> str:
        return "/" + "/".join(self.dst)


def _stat_in(scope: Scope, abs_path: str):
    """lstat of a container path (final component not followed), None if missing."""
    try:
        return resolve_in_root(scope, abs_path, False)[2]
    except _Missing:
        return None


def serve_in(spec: dict, inp, out) -> None:
    """Copy-in, in the helper (chrooted): check the destination, answer one
    JSON line (ready, or the error), extract the tar from `inp`, answer again."""
    scope = Scope("/")
    cname, given = spec["container"], spec["path"]
    abs_dst = container_abs(given)
    # docker's client stats the destination and, when it is a symlink, stats
    # the link's target instead (one level, joined lexically with the parent).
    dst_path = abs_dst
    st = _stat_in(scope, dst_path)
    if st is not None and stat.S_ISLNK(st.st_mode):
        _, host, _ = resolve_in_root(scope, dst_path, False)
        target = os.readlink(host)
        dst_path = go_clean(target if target.startswith("/") else split_path_dir_entry(abs_dst)[0] + "/" + target)
        st = _stat_in(scope, dst_path)
    exists, is_dir = st is not None, st is not None and stat.S_ISDIR(st.st_mode)
    if exists and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise CopyError(f'destination "{cname}:{given}" must be a directory or a regular file: got a device')
    src = spec.get("src")
    if src is None:  # a tar on stdin: extracted into the directory as it is
        if not is_dir:
            raise CopyError(f'destination "{cname}:{given}" must be a directory')
        dst_dir, old, new = dst_path, None, None
    else:
        dst_dir, old, new = prepare_archive_copy(src["is_dir"], src["base"], dst_path, exists, is_dir)
    try:
        dreal, dhost, dst = resolve_in_root(scope, container_abs(dst_dir.rstrip("/") + "/"), True)
    except _Missing:
        raise CopyNotFound(f"Could not find the file {go_clean(dst_dir)} in container {cname}") from None
    if (spec.get("root") or {}).get("read_only") and os.stat(dhost).st_dev == os.stat("/").st_dev:
        raise CopyError("container rootfs is marked read-only")
    out.write(json.dumps({"ok": True, "dir": "/" + "/".join(dreal)}).encode() + b"\n")
    out.flush()
    ex = _Extractor(dreal, old, new, bool(spec.get("archive")))
    try:
        tf = tarfile.open(fileobj=inp, mode="r|*")
        while (m := tf.next()) is not None:
            ex.put(tf, m)
            tf.members.clear()
    except (tarfile.TarError, EOFError) as e:
        raise CopyError(f"the archive is truncated or corrupt: {e}") from None
    ex.finish()
    while inp.read(CHUNK):  # the writer's padding: let it finish without EPIPE
        pass
    out.write(b'{"ok": true}\n')
    out.flush()
