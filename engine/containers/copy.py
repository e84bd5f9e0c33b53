"""docker cp: copy files and directories between a container and the host.

Two halves, one module:

  * The engine side (copy_out, copy_in) runs in the CLI or TUI process. It
    never forks and never touches the container's filesystem: it spawns the
    helper (`python -m engine.runtime.cpshell`, see that module), reads a tar
    from it (copy-out) or feeds it one (copy-in), and applies docker's rules
    for the host side (docker's CopyInfoDestinationPath / PrepareArchiveCopy /
    ResolveHostSourcePath, ported below).
  * The container side (prepare_out, send_out, serve_in) runs in the helper, after it has
    chroot()ed into the container's root: /proc/<pid>/root of a running
    container, or the container's overlay mounted in the helper's own mount
    namespace for a stopped one. Paths are resolved with layers.scope.Scope
    (lstat on every component, symlink targets re-rooted, ".." clamped at the
    root) and, underneath, the chroot makes sure the kernel itself can never
    reach a host file even if the container swaps a directory for a symlink
    while we walk. Extraction reuses layers.apply's unpacker (no tarfile
    extract(); final components never followed; O_NOFOLLOW everywhere).

Container paths are absolute, relative ones are taken from "/" (docker does
the same). A trailing "/" or "/." is kept: it asks for a directory.
"""
import json
import os
import stat
import sys
import tarfile

from ..errors import CorruptArchive, DockyardError, NotFound, UnsafeArchive
from ..layers.apply import _Unpacker
from ..layers.digest import CHUNK
from ..layers.pack import _children, _Counter, _header, _xattrs, add_entry
from ..layers.scope import MAX_HOPS, Scope, clean_name

HELPER_MODULE = "engine.runtime.cpshell"
PSEUDO_FS = {"proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "securityfs", "debugfs", "tracefs",
             "pstore", "bpf", "configfs", "fusectl", "binfmt_misc", "hugetlbfs", "efivarfs", "autofs", "nsfs"}


class CopyError(DockyardError):
    """docker cp failed; docker exits 1 for every cp error."""

    exit_code = 1


class CopyNotFound(NotFound):
    exit_code = 1


class _ContainerGone(DockyardError):
    """The running container stopped between our look at it and the helper's."""


# --------------------------------------------------------------- docker's path rules (pure)

def go_clean(p: str) -> str:
    """Go's filepath.Clean on a slash path."""
    if not p:
        return "."
    rooted = p.startswith("/")
    out: list[str] = []
    for c in p.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(c)
    s = "/".join(out)
    return "/" + s if rooted else (s or ".")


def go_dir(p: str) -> str:
    return go_clean(p[:p.rfind("/") + 1])


def go_base(p: str) -> str:
    if not p:
        return "."
    p = p.rstrip("/")
    return p[p.rfind("/") + 1:] if p else "/"


def specifies_current_dir(p: str) -> bool:
    return go_base(p) == "."


def has_trailing_sep(p: str) -> bool:
    return p.endswith("/")


def asserts_directory(p: str) -> bool:
    return has_trailing_sep(p) or specifies_current_dir(p)


def split_path_dir_entry(p: str) -> tuple[str, str]:
    cleaned = go_clean(p)
    if specifies_current_dir(p):
        cleaned += "/."
    return go_dir(cleaned), go_base(cleaned)


def preserve_trailing(cleaned: str, original: str) -> str:
    """docker's PreserveTrailingDotOrSeparator."""
    if not specifies_current_dir(cleaned) and specifies_current_dir(original):
        if not has_trailing_sep(cleaned):
            cleaned += "/"
        cleaned += "."
    if not has_trailing_sep(cleaned) and has_trailing_sep(original):
        cleaned += "/"
    return cleaned


def container_abs(path: str) -> str:
    """A container path made absolute from "/", cleaned, trailing "/" or "/." kept."""
    return preserve_trailing(go_clean("/" + path), path)


def resolve_local_path(path: str) -> str:
    return preserve_trailing(os.path.abspath(path), path)


def split_cp_arg(arg: str) -> tuple[str | None, str]:
    """docker's splitCpArg: "CONTAINER:PATH" or a local path ("/x", "./a:b", "-")."""
    if arg.startswith("/"):
        return None, arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return None, arg
    return container, path


def _rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """docker's GetRebaseName."""
    if specifies_current_dir(path) and not specifies_current_dir(resolved):
        resolved += "/."
    if has_trailing_sep(path) and not has_trailing_sep(resolved):
        resolved += "/"
    rebase = go_base(path) if go_base(path) != go_base(resolved) else ""
    return resolved, rebase


def resolve_host_source_path(path: str, follow: bool) -> tuple[str, str]:
    """docker's ResolveHostSourcePath: symlinks before the last separator are
    evaluated (all of them with follow). Returns (resolved path, rebase name)."""
    try:
        if follow:
            return _rebase_name(path, os.path.realpath(path, strict=True))
        head, base = path[:path.rfind("/") + 1], path[path.rfind("/") + 1:]
        rdir = os.path.realpath(head or ".", strict=True)
    except OSError as e:
        raise CopyError(f"lstat {path}: {_why(e)}") from None
    resolved = rdir + ("" if rdir.endswith("/") else "/") + base
    rebase = go_base(path) if has_trailing_sep(path) and go_base(path) != go_base(resolved) else ""
    return resolved, rebase


def _why(e: OSError) -> str:
    return (e.strerror or str(e)).lower()


def _plan(src_is_dir: bool, src_base: str, dst_path: str, dst_exists: bool, dst_is_dir: bool):
    """docker's PrepareArchiveCopy: (directory to extract into, rebase from, rebase to).
    Rebase names are None when the archive is extracted as it is."""
    if dst_exists and dst_is_dir:
        return dst_path, None, None
    if dst_exists and src_is_dir:
        raise CopyError("cannot copy directory")
    if not dst_exists and not src_is_dir and asserts_directory(dst_path):
        raise CopyError("no such directory")
    dst_dir, dst_base = split_path_dir_entry(dst_path)
    return dst_dir, src_base, dst_base


def _rebase(parts: list[str], old: str | None, new: str | None) -> list[str]:
    if old is None:
        return parts
    new_head = [] if new in (".", "/", "") else [new]
    if old in (".", "/"):
        return new_head + parts
    if parts and parts[0] == old:
        return new_head + parts[1:]
    return parts


# --------------------------------------------------------------- tar of a tree (both sides)

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


# --------------------------------------------------------------- inside the container's root (helper)

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
        parts = _rebase(clean_name(m.name), self.old, self.new)
        if not parts and m.isdir():
            return  # "." onto the existing destination: docker leaves it as it is
        m.name = "/".join(self.dst + parts) or "."
        if m.islnk():
            m.linkname = "/".join(self.dst + _rebase(clean_name(m.linkname), self.old, self.new))
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
        dst_dir, old, new = _plan(src["is_dir"], src["base"], dst_path, exists, is_dir)
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


def describe(e: BaseException) -> dict:
    """The helper's JSON answer for an error."""
    if isinstance(e, _ContainerGone):
        kind = "gone"
    elif isinstance(e, NotFound):
        kind = "notfound"
    else:
        kind = "error"
    if isinstance(e, DockyardError):
        msg = str(e)
    elif isinstance(e, OSError):
        msg = f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
    else:
        msg = f"{type(e).__name__}: {e}"
    return {"ok": False, "kind": kind, "message": msg}


# --------------------------------------------------------------- the engine side

def _record(store, ref: str):
    from .records import find
    try:
        return find(store, ref)
    except NotFound:
        raise CopyNotFound(f"No such container: {ref}") from None


def _root_spec(rec) -> dict:
    """How the helper reaches the container's root: a running container's
    /proc/<pid>/root, or its overlay (layers from config.json's annotations)."""
    from .lifecycle import runtime_state
    from .spec import ANN_LOWER, ANN_UPPER, ANN_WORK
    with open(os.path.join(rec.dir, "config.json")) as f:
        cfg = json.load(f)
    read_only = bool((cfg.get("root") or {}).get("readonly"))
    st = runtime_state(rec)
    if st.get("status") in ("running", "paused") and st.get("pid"):
        return {"kind": "proc", "pid": st["pid"], "monitor_pid": st.get("monitor_pid"), "read_only": read_only}
    ann = cfg.get("annotations") or {}
    if not ann.get(ANN_LOWER):
        raise CopyError(f"container {rec.id[:12]} has no overlay layers in its config.json")
    binds = [{"destination": m["destination"], "options": m.get("options") or [],
              "source": m["source"] if m["source"].startswith("/") else os.path.join(rec.dir, m["source"])}
             for m in cfg.get("mounts") or [] if m.get("type") == "bind" and m.get("source")]
    return {"kind": "overlay", "rootfs": os.path.join(rec.dir, (cfg.get("root") or {}).get("path") or "rootfs"),
            "lower": ann[ANN_LOWER], "upper": ann.get(ANN_UPPER), "work": ann.get(ANN_WORK), "binds": binds,
            "read_only": read_only}


class _Helper:
    """One run of the helper process; always reaped (killed if need be)."""

    def __init__(self, rec, mode: str, spec: dict, stdin):
        import subprocess
        import tempfile
        from ..runtime.launcher import PACKAGE_ROOT
        self.err = tempfile.TemporaryFile()
        spec = dict(spec, root=_root_spec(rec), parent=os.getpid())
        argv = [sys.executable, "-m", HELPER_MODULE, mode, json.dumps(spec)]
        try:
            self.p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=self.err, close_fds=True,
                                      cwd=PACKAGE_ROOT)
        except OSError as e:
            self.err.close()
            raise CopyError(f"cannot start the copy helper: {e}") from None
        self.stdout = self.p.stdout

    def answer(self) -> dict:
        """The helper's next JSON line; raises its error."""
        line = self.stdout.readline()
        if not line:
            self.p.wait()
            raise self._crash()
        try:
            doc = json.loads(line)
        except ValueError:
            self.kill()
            raise CopyError(f"the copy helper answered nonsense: {line[:200]!r}") from None
        if not doc.get("ok"):
            self.p.wait()
            raise _error(doc)
        return doc

    def finish(self) -> None:
        """Waits for the end; raises the error the helper reported."""
        rc = self.p.wait()
        if rc != 0:
            raise self._crash()

    def _crash(self) -> DockyardError:
        self.err.seek(0)
        text = self.err.read().decode(errors="replace").strip()
        last = text.splitlines()[-1] if text else ""
        try:
            doc = json.loads(last)
            if isinstance(doc, dict) and "message" in doc:
                return _error(doc)
        except ValueError:
            pass
        return CopyError(f"the copy helper failed (exit status {self.p.returncode}): {last or 'no message'}")

    def settle(self) -> None:
        """After a failure on our side: raise the helper's error if it failed
        (then ours was only a consequence), else stop it."""
        try:
            rc = self.p.wait(timeout=2)
        except Exception:
            self.kill()
            return
        if rc != 0:
            raise self._crash()

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for f in (self.p.stdin, self.p.stdout):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass
        if self.p.poll() is None:
            try:
                self.p.wait(timeout=10 if exc[0] is None else 0.5)
            except Exception:
                pass
        self.kill()
        self.err.close()


def _error(doc: dict) -> DockyardError:
    if doc.get("kind") == "gone":
        return _ContainerGone(doc.get("message") or "the container stopped")
    if doc.get("kind") == "notfound":
        return CopyNotFound(doc.get("message") or "not found")
    return CopyError(doc.get("message") or "the copy failed")


def _retrying(fn):
    """Once more if the container stopped (or started) right as we looked.
    Host-side OSErrors become CopyErrors with the path in them."""
    try:
        try:
            return fn()
        except _ContainerGone:
            return fn()
    except OSError as e:
        raise CopyError(f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")) from None


def _is_path(x) -> bool:
    return isinstance(x, (str, os.PathLike))


# ---- copy-out

class _DestInfo:
    def __init__(self, path: str, exists: bool, is_dir: bool):
        self.path, self.exists, self.is_dir = path, exists, is_dir


def validate_output_path(path: str) -> None:
    """docker's ValidateOutputPath."""
    d = go_dir(go_clean(path))
    if d not in ("", ".") and not os.path.exists(d):
        raise CopyError(f'invalid output path: directory "{d}" does not exist')
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise CopyError(f"stat {path}: {_why(e)}") from None
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        raise CopyError(f'invalid output path: "{path}" must be a directory or a regular file: got a device')


def destination_info(path: str) -> _DestInfo:
    """docker's CopyInfoDestinationPath: symlinks at the destination are followed
    (it is the user's own host path); a missing destination needs its parent."""
    original = path
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    n = 0
    while st is not None and stat.S_ISLNK(st.st_mode):
        n += 1
        if n > 10:
            raise CopyError(f"too many symlinks in {original}")
        target = os.readlink(path)
        path = target if target.startswith("/") else go_clean(split_path_dir_entry(path)[0] + "/" + target)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
    if st is None:
        parent = split_path_dir_entry(path)[0]
        try:
            pst = os.stat(parent)
        except OSError as e:
            raise CopyError(f"stat {parent}: {_why(e)}") from None
        if not stat.S_ISDIR(pst.st_mode):
            raise CopyError("not a directory")
        return _DestInfo(path, False, False)
    return _DestInfo(path, True, stat.S_ISDIR(st.st_mode))


def _own(top: str, uid: int, gid: int) -> None:
    """Give a freshly extracted tree to uid:gid, modes kept (chown clears setuid)."""
    def one(path):
        st = os.lstat(path)
        if (st.st_uid, st.st_gid) != (uid, gid):
            os.chown(path, uid, gid, follow_symlinks=False)
            if not stat.S_ISLNK(st.st_mode):
                os.chmod(path, stat.S_IMODE(st.st_mode))
    one(top)
    if stat.S_ISDIR(os.lstat(top).st_mode):
        for dirpath, dirnames, filenames in os.walk(top):
            for n in dirnames + filenames:
                one(os.path.join(dirpath, n))


def _merge(src: str, dst: str, into: str, *, top: bool = False) -> None:
    """Move the extracted `src` to `dst` (under the extraction directory
    `into`): a new name is a rename, a file replaces a file, directories merge
    (taking the source's metadata, except "." onto the destination itself); a
    directory never replaces a non-directory nor the other way round (docker's
    NoOverwriteDirNonDir)."""
    sst = os.lstat(src)
    try:
        dstat = os.lstat(dst)
    except FileNotFoundError:
        os.rename(src, dst)
        return
    if stat.S_ISDIR(dstat.st_mode):
        if not stat.S_ISDIR(sst.st_mode):
            raise CopyError(f'cannot overwrite directory "{dst}" with non-directory "{into}"')
        for name in sorted(os.listdir(src)):
            _merge(os.path.join(src, name), os.path.join(dst, name), into)
        if not top:
            os.chown(dst, sst.st_uid, sst.st_gid)
            os.chmod(dst, stat.S_IMODE(sst.st_mode))
            os.utime(dst, ns=(sst.st_atime_ns, sst.st_mtime_ns))
        return
    if stat.S_ISDIR(sst.st_mode):
        raise CopyError(f'cannot overwrite non-directory "{dst}" with directory "{into}"')
    os.rename(src, dst)


def copy_out(store, ref: str, src_path: str, dest, *, follow: bool = False, archive: bool = False) -> None:
    """docker cp CONTAINER:SRC_PATH DEST: `dest` is a host path, or a writable
    binary stream that gets the tar (DEST "-")."""
    import shutil
    import subprocess
    import tempfile
    from ..layers.apply import apply_layer
    rec = _record(store, ref)
    to_path = _is_path(dest)
    if to_path:
        dest = resolve_local_path(os.fspath(dest))
        validate_output_path(dest)
    spec = {"container": ref, "path": src_path, "follow": follow}

    def attempt():
        with _Helper(rec, "out", spec, subprocess.DEVNULL) as h:
            header = h.answer()
            if not to_path:
                shutil.copyfileobj(h.stdout, dest, CHUNK)
                dest.flush()
                h.finish()
                return
            name = header["name"]
            if name in ("", "..") or "/" in name:
                raise CopyError(f"the copy helper named the source {name!r}")
            info = destination_info(dest)
            dst_dir, _, _ = _plan(header["is_dir"], name, info.path, info.exists, info.is_dir)
            if info.exists and info.is_dir:
                target = info.path if name == "." else os.path.join(info.path, name)
            else:
                target = os.path.join(dst_dir, split_path_dir_entry(info.path)[1])
            # Extracted next to where it goes (same filesystem), then moved in place.
            tmp = tempfile.mkdtemp(prefix=".dockyard-cp-", dir=dst_dir)
            try:
                try:
                    apply_layer(h.stdout, tmp, whiteouts="keep")
                except (DockyardError, OSError):
                    h.settle()  # a cut tar: the helper's own error says more
                    raise
                h.finish()
                top = tmp if name == "." else os.path.join(tmp, name)
                if not archive:
                    _own(top, os.geteuid(), os.getegid())
                _merge(top, target, go_clean(dst_dir), top=(name == "." and info.exists and info.is_dir))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

    _retrying(attempt)


# ---- copy-in

def copy_in(store, ref: str, src, dest_path: str, *, follow: bool = False, archive: bool = False) -> None:
    """docker cp SRC_PATH CONTAINER:DEST_PATH: `src` is a host path, or a
    readable binary stream of a tar (SRC "-") to extract into DEST_PATH."""
    import subprocess
    rec = _record(store, ref)
    src_info = None
    if _is_path(src):
        src = resolve_local_path(os.fspath(src))
        resolved, rebase = resolve_host_source_path(src, follow)
        try:
            st = os.lstat(resolved)
        except OSError as e:
            raise CopyError(f"lstat {resolved}: {_why(e)}") from None
        base = rebase or split_path_dir_entry(resolved)[1]
        src_info = {"is_dir": stat.S_ISDIR(st.st_mode), "base": "." if base == "/" else base}
    spec = {"container": ref, "path": dest_path, "src": src_info, "archive": archive}

    def attempt():
        with _Helper(rec, "in", spec, subprocess.PIPE) as h:
            h.answer()  # the destination is fine: send the tar
            try:
                if src_info is None:
                    while chunk := src.read(CHUNK):
                        h.p.stdin.write(chunk)
                else:
                    write_tar(resolved, src_info["base"], h.p.stdin)
                h.p.stdin.close()
            except BrokenPipeError:
                pass  # the helper stopped reading: its answer says why
            h.answer()
            h.finish()

    _retrying(attempt)


__all__ = ["CopyError", "CopyNotFound", "copy_in", "copy_out", "split_cp_arg"]
