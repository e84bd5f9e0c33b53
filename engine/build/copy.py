"""COPY and ADD (mixed into builder.Builder): the sources they select (the
context less .dockerignore, another stage or image with --from, URLs for
ADD), the files they put into a staging dir with docker's ownership and mode
rules, local archives ADD unpacks, heredocs.

Uses of the builder: store, context, network, done, context_paths, _err,
_env, and from steps.Steps _view, _owner, _parents, _layer."""
import fnmatch
import os
import posixpath
import shutil
import stat
import tarfile

from ..errors import InvalidArgument, NotFound
from ..images.catalog import resolve
from ..images.inspect import layer_chain
from . import cache
from .merged import MergedView
from .parser import Instruction
from .state import StageState
from .steps import mkstage


class CopySteps:
    """COPY and ADD; see the module's doc for what they use of the Builder."""

    def _sources(self, state: StageState, inst: Instruction, srcs: list[str], flags: dict):
        """[(rel name in its source, host path, stat, view-or-None)] for every selected root."""
        frm = flags.get("from")
        if inst.heredocs:
            return None
        if frm is not None:
            view = self._from_view(inst, frm)
            out = []
            for s in srcs:
                rel = posixpath.normpath("/" + s).strip("/")
                if any(c in rel for c in "*?["):
                    parent = posixpath.dirname(rel)
                    hits = [posixpath.join(parent, n) if parent else n for n in view.listdir(parent)
                            if fnmatch.fnmatchcase(n, posixpath.basename(rel))]
                else:
                    hits = [rel]
                if not hits:
                    self._err(inst, f"{s}: no source files were specified")
                for h in hits:
                    found = view.lookup(h)
                    if not found:
                        self._err(inst, f"failed to compute cache key: \"/{h}\": not found")
                    out.append((h, found[0], found[1], view))
            return out
        paths = self.context_paths()
        pset = set(paths)
        out = []
        for s in srcs:
            if s.startswith(("http://", "https://")) and inst.instruction == "add":
                out.append((s, None, None, "url"))
                continue
            rel = posixpath.normpath("/" + s).strip("/")
            if rel == "":
                hits = [""]
            elif any(c in rel for c in "*?["):
                depth = rel.count("/")
                hits = [p for p in paths if p.count("/") == depth and
                        all(fnmatch.fnmatchcase(a, b) for a, b in zip(p.split("/"), rel.split("/")))]
                if not hits:
                    self._err(inst, f"lstat {s}: no source files were specified")
            else:
                if rel not in pset:
                    self._err(inst, f"failed to compute cache key: \"/{rel}\": not found")
                hits = [rel]
            for h in hits:
                host = os.path.join(self.context, h) if h else self.context
                out.append((h, host, os.lstat(host), None))
        return out

    def _from_view(self, inst: Instruction, frm: str) -> MergedView:
        key = frm.lower()
        if key in self.done:
            st = self.done[key]
            return self._view(st)
        try:
            img = resolve(self.store, frm)
        except NotFound:
            self._err(inst, f"--from={frm}: no such stage or image")
        return MergedView([l["path"] for l in layer_chain(self.store, img)][::-1])

    def _iter_tree(self, root_rel: str, host: str, st, view):
        """(rel under the root, host path, stat) for the root and what is under it (context or view)."""
        if view is None:
            yield "", host, st
            if stat.S_ISDIR(st.st_mode):
                prefix = root_rel + "/" if root_rel else ""
                for p in self.context_paths():
                    if p.startswith(prefix):
                        h = os.path.join(self.context, p)
                        yield p[len(prefix):], h, os.lstat(h)
        else:
            for rel, h, s in view.walk(root_rel):
                yield rel[len(root_rel):].lstrip("/") if root_rel else rel, h, s

    def _content_key(self, state: StageState, inst: Instruction, srcs, flags) -> str:
        sources = None if inst.heredocs else self._sources(state, inst, srcs, flags)
        return cache.content_key(inst, sources, self._iter_tree)

    def _copy(self, state: StageState, inst: Instruction, d: dict):
        cfg = state.config.get("config") or {}
        flags = d["flags"]
        wd = cfg.get("WorkingDir") or "/"
        dest = d["dest"]
        dest_dir_form = dest.endswith("/") or dest in (".", "..") or dest.endswith("/.")
        dest_abs = posixpath.normpath(posixpath.join("/", wd, dest))
        view = self._view(state)
        chown = self._owner(view, inst, flags["chown"]) if flags.get("chown") else None
        chmod = None
        if flags.get("chmod"):
            try:
                chmod = int(flags["chmod"], 8)
            except ValueError:
                self._err(inst, f"invalid chmod parameter: {flags['chmod']!r}")
        if inst.heredocs:
            items = []
            for s in d["srcs"]:
                n = s[2:].lstrip("-").strip("'\"") if s.startswith("<<") else s
                hd = next((h for h in inst.heredocs if h.name == n), None)
                if hd is None:
                    self._err(inst, f"{s}: only heredoc sources are supported next to a heredoc")
                content = hd.content
                if hd.expand:
                    content = _expand_vars(content, self._env(state))
                items.append((n, content))
            sources = None
        else:
            sources = self._sources(state, inst, d["srcs"], flags)
            items = None
        multi = (len(items) if items is not None else len(sources)) > 1 or any(
            c in s for s in d["srcs"] for c in "*?[")
        existing = view.lookup(dest_abs)
        into_dir = dest_dir_form or (existing is not None and stat.S_ISDIR(existing[1].st_mode))
        if multi and not into_dir:
            self._err(inst, f"When using {inst.instruction.upper()} with more than one source file, "
                            "the destination must be a directory and end with a /")
        stage = mkstage(self.store)
        try:
            def target(name: str) -> str:
                return posixpath.join(dest_abs, name) if into_dir else dest_abs

            def meta(path: str, s=None, is_dir=False):
                if chown is not None:
                    os.lchown(path, *chown)
                elif s is not None and sources is not None and any(v is not None for *_, v in sources):
                    os.lchown(path, s.st_uid, s.st_gid)  # --from keeps owners
                else:
                    os.lchown(path, 0, 0)
                if chmod is not None and not os.path.islink(path):
                    os.chmod(path, chmod)
                if s is not None and not stat.S_ISLNK(s.st_mode):
                    os.utime(path, ns=(s.st_atime_ns, s.st_mtime_ns))

            if items is not None:
                for n, content in items:
                    t = target(n)
                    self._parents(view, stage, t, make_last=False)
                    p = os.path.join(stage, t.lstrip("/"))
                    with open(p, "w", encoding="utf-8") as f:
                        f.write(content)
                    os.chmod(p, 0o644)
                    meta(p)
            else:
                for root_rel, host, st, src_view in sources:
                    if src_view == "url":
                        self._add_url(inst, root_rel, stage, target, view, meta)
                        continue
                    base = posixpath.basename(root_rel)
                    if stat.S_ISDIR(st.st_mode):
                        tdir = dest_abs
                        self._parents(view, stage, tdir, make_last=True)
                        for rel, p, s in self._iter_tree(root_rel, host, st, src_view):
                            if not rel:
                                continue
                            self._put(stage, posixpath.join(tdir, rel), p, s, meta)
                    elif inst.instruction == "add" and src_view is None and _is_archive(host):
                        tdir = dest_abs
                        self._parents(view, stage, tdir, make_last=True)
                        _untar(host, os.path.join(stage, tdir.lstrip("/")))
                    else:
                        t = target(base)
                        self._parents(view, stage, t, make_last=False)
                        self._put(stage, t, host, st, meta)
            return self._layer(state, stage)
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def _put(self, stage: str, dest: str, src: str, st, meta) -> None:
        p = os.path.join(stage, dest.lstrip("/"))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if stat.S_ISDIR(st.st_mode):
            if not os.path.isdir(p):
                os.mkdir(p)
            os.chmod(p, stat.S_IMODE(st.st_mode))
        elif stat.S_ISLNK(st.st_mode):
            if os.path.lexists(p):
                os.unlink(p)
            os.symlink(os.readlink(src), p)
        elif stat.S_ISREG(st.st_mode):
            shutil.copyfile(src, p, follow_symlinks=False)
            os.chmod(p, stat.S_IMODE(st.st_mode))
        else:
            return  # devices, fifos, sockets: left out
        meta(p, st)

    def _add_url(self, inst, url, stage, target, view, meta) -> None:
        if self.network == "none":
            self._err(inst, f"ADD {url}: downloading needs the network; build with --network bridge or host")
        import urllib.request
        name = posixpath.basename(url.split("?")[0]) or "index.html"
        t = target(name)
        self._parents(view, stage, t, make_last=False)
        p = os.path.join(stage, t.lstrip("/"))
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(p, "wb") as f:
                shutil.copyfileobj(r, f)
        except OSError as e:
            self._err(inst, f"ADD {url}: {e}")
        os.chmod(p, 0o600)
        meta(p)


def _is_archive(path: str) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _untar(path: str, dest: str) -> None:
    os.makedirs(dest, exist_ok=True)
    with tarfile.open(path) as tf:
        try:
            tf.extractall(dest, filter="tar")
        except TypeError:  # no extraction filters in this python: check the names ourselves
            for m in tf.getmembers():
                if m.name.startswith("/") or ".." in m.name.split("/"):
                    raise InvalidArgument(f"ADD {path}: unsafe path in archive: {m.name}") from None
            tf.extractall(dest)


def _expand_vars(text: str, env: dict) -> str:
    import re
    return re.sub(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))",
                  lambda m: env.get(m.group(1) or m.group(2), ""), text)
