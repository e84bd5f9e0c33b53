"""The engine side of docker cp (copy_out, copy_in): runs in the CLI or TUI
process. It never forks and never touches the container's filesystem: it
spawns the helper (`python -m engine.containers.copy.shell`, see that module),
reads a tar from it (copy-out) or feeds it one (copy-in), and applies
docker's rules for the host side (CopyInfoDestinationPath,
ValidateOutputPath, the merge of an extracted tree into place)."""
import json
import os
import stat
import sys

from ...errors import DockyardError, NotFound
from ...layers.digest import CHUNK
from .errors import ContainerGone, CopyError, CopyNotFound, from_answer
from .inside import write_tar
from .paths import (
    go_clean,
    go_dir,
    os_reason,
    prepare_archive_copy,
    resolve_host_source_path,
    resolve_local_path,
    split_path_dir_entry,
)

HELPER_MODULE = "engine.containers.copy.shell"


def _record(store, ref: str):
    from ..records import find
    try:
        return find(store, ref)
    except NotFound:
        raise CopyNotFound(f"No such container: {ref}") from None


def _root_spec(rec) -> dict:
    """How the helper reaches the container's root: a running container's
    /proc/<pid>/root, or its overlay (layers from config.json's annotations)."""
    from ..lifecycle import runtime_state
    from ..spec import ANN_LOWER, ANN_UPPER, ANN_WORK
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

        from ...runtime.launcher import PACKAGE_ROOT
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
            raise from_answer(doc)
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
                return from_answer(doc)
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


def _retrying(fn):
    """Once more if the container stopped (or started) right as we looked.
    Host-side OSErrors become CopyErrors with the path in them."""
    try:
        try:
            return fn()
        except ContainerGone:
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
        raise CopyError(f"stat {path}: {os_reason(e)}") from None
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
            raise CopyError(f"stat {parent}: {os_reason(e)}") from None
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

    from ...layers.apply import apply_layer
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
            dst_dir, _, _ = prepare_archive_copy(header["is_dir"], name, info.path, info.exists, info.is_dir)
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
            raise CopyError(f"lstat {resolved}: {os_reason(e)}") from None
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
