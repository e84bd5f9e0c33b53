"""Engine.build: a Dockerfile into an image, step by step, with a layer cache.

Every step leaves an image in the store (an intermediate one, without a tag):
RUN, COPY, ADD and WORKDIR (when it makes the directory) add a layer; the
others change the config and add a history entry marked empty_layer. A step's
cache key is the parent's key, the instruction after expansion with its flags,
the ARG and ENV values it uses and, for COPY and ADD, a hash of the selected
files (metadata without mtime, plus contents); the table `build_cache` maps it
to the intermediate image. RUN goes through the container runtime (the same
defaults as `run`), its container removed whatever happens; the new layer is
its upper dir, written as commit writes one."""
import dataclasses
import fnmatch
import hashlib
import json
import os
import posixpath
import shutil
import stat
import tarfile
import time
from dataclasses import dataclass, field
from typing import Callable

from ..errors import DockyardError, InvalidArgument, NotFound
from ..images import manifest as mf
from ..images.catalog import get as get_image, resolve
from ..images.config import host_arch, timestamp, with_env
from ..images.ingest import add_image
from ..images.inspect import config_of, layer_chain
from ..store import Store
from . import ignore
from .expand import Lexer
from .merged import MergedView
from .parser import Dockerfile, DockerfileError, Instruction, check, name_values, parse

DEFAULT_SHELL = ["/bin/sh", "-c"]
BUILDKIT_COMMENT = "buildkit.dockerfile.v0"


class BuildError(DockyardError):
    """A RUN step failed: exit_code is the step's."""

    def __init__(self, msg: str, exit_code: int):
        super().__init__(msg)
        self.exit_code = exit_code


@dataclass
class BuildEvent:
    step: int                 # #N
    kind: str                 # start | cached | output | done | error
    name: str = ""            # "[build 2/5] RUN make"
    text: str = ""            # an output line (kind output) or the error
    elapsed: float = 0.0


@dataclass
class _State:
    name: str
    index: int
    image_id: str | None      # the image of the last step (None: scratch, nothing yet)
    config: dict              # the whole image config document
    key: str
    args: dict = field(default_factory=dict)   # ARGs declared in the stage: name -> value
    cmd_set: bool = False


def _sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True).encode())
        h.update(b"\0")
    return h.hexdigest()


def _cache_get(store: Store, key: str) -> str | None:
    rows = store.db.query("SELECT image_id FROM build_cache WHERE key = ?", (key,))
    if not rows:
        return None
    iid = rows[0]["image_id"]
    if not store.db.query("SELECT 1 FROM images WHERE id = ?", (iid,)):
        return None
    return iid


def _cache_put(store: Store, key: str, image_id: str) -> None:
    with store.db.tx() as c:
        c.execute("INSERT INTO build_cache(key, image_id, created) VALUES (?,?,?) "
                  "ON CONFLICT(key) DO UPDATE SET image_id = excluded.image_id, created = excluded.created",
                  (key, image_id, time.time()))


def read_dockerfile(context: str, dockerfile: str | None) -> tuple[str, str, str]:
    """(text, display name, path or '') of the Dockerfile."""
    path = dockerfile or os.path.join(context, "Dockerfile")
    if dockerfile and not os.path.isabs(dockerfile) and not os.path.exists(dockerfile):
        path = os.path.join(context, dockerfile)
    if not os.path.exists(path) and not dockerfile:
        alt = os.path.join(context, "dockerfile")
        if os.path.exists(alt):
            path = alt
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "surrogateescape"), os.path.basename(path), path
    except FileNotFoundError:
        raise NotFound(f"failed to read dockerfile: open {path}: no such file or directory") from None


def check_text(text: str, filename: str = "Dockerfile") -> Dockerfile:
    df = parse(text, filename)
    check(df)
    stages(df, {})  # stage names, FROM lines, ARG scoping
    return df


def meta_args(df: Dockerfile, build_args: dict) -> dict:
    arch = host_arch()
    out = {"TARGETPLATFORM": f"linux/{arch}", "TARGETOS": "linux", "TARGETARCH": arch,
           "BUILDPLATFORM": f"linux/{arch}", "BUILDOS": "linux", "BUILDARCH": arch}
    lex = Lexer(df.escape)
    for inst in df.instructions:
        if inst.instruction == "from":
            break
        for k, v in name_values(inst, df.escape, df.filename):
            out[k] = build_args[k] if k in build_args else (lex.process_word(v, out) if v is not None else None)
    return out


def stages(df: Dockerfile, build_args: dict) -> list[tuple[str, Instruction, list[Instruction]]]:
    """[(name, FROM instruction, its instructions)]."""
    out, names = [], set()
    for inst in df.instructions:
        if inst.instruction == "from":
            words = inst.arguments.split()
            name = words[2].lower() if len(words) == 3 else str(len(out))
            if len(words) == 3:
                if name in names:
                    raise DockerfileError(df.filename, inst.start_line, f"duplicate stage name {name!r}")
                names.add(name)
            out.append((name, inst, []))
        elif out:
            out[-1][2].append(inst)
    return out


class Builder:
    def __init__(self, store: Store, context: str, *, dockerfile: str | None = None,
                 dockerfile_text: str | None = None, tags=(), build_args: dict | None = None,
                 target: str | None = None, no_cache: bool = False,
                 progress: Callable[[BuildEvent], None] | None = None, network: str = "none"):
        self.store = store
        self.context = os.path.abspath(context)
        if not os.path.isdir(self.context):
            raise NotFound(f"unable to prepare context: path {context!r} not found")
        if dockerfile_text is None:
            self.text, self.filename, self.df_path = read_dockerfile(self.context, dockerfile)
        else:
            self.text, self.filename, self.df_path = dockerfile_text, "Dockerfile", ""
        self.tags = list(tags)
        self.build_args = dict(build_args or {})
        self.target = target
        self.no_cache = no_cache
        self.progress = progress or (lambda e: None)
        if network not in ("none", "host", "default"):
            raise InvalidArgument(f"network mode {network!r} not supported: none or host")
        self.network = "none" if network == "default" else network
        self.step = 0
        self._matcher = None
        self._context_paths = None
        self.lease: str | None = None

    # -- the context
    def context_paths(self) -> list[str]:
        if self._context_paths is None:
            pats = ignore.read_patterns(self.context, self.df_path or None)
            self._matcher = ignore.Matcher(pats)
            self._context_paths = ignore.walk(self.context, self._matcher)
        return self._context_paths

    # -- the build
    def run(self) -> str:
        from ..images.catalog import tag as tag_image
        from .. import reference
        for t in self.tags:
            if reference.parse(t).digest:
                raise InvalidArgument(f"invalid tag {t!r}: a tag cannot carry a digest")
        df = parse(self.text, self.filename)
        check(df)
        self.df = df
        self.lex = Lexer(df.escape)
        self.meta = meta_args(df, self.build_args)
        all_stages = stages(df, self.build_args)
        if self.target:
            idx = next((i for i, s in enumerate(all_stages) if s[0] == self.target.lower()), None)
            if idx is None:
                raise InvalidArgument(f"target stage {self.target!r} could not be found")
        else:
            idx = len(all_stages) - 1
        needed = self._needed(all_stages, idx)
        self.done: dict[str, _State] = {}
        self.total = {i: 1 + len(s[2]) for i, s in enumerate(all_stages)}
        state = None
        from ..containers.builders import lease
        with lease(self.store) as self.lease:  # RUN containers are this build's (containers/builders.py)
            for i, (name, from_inst, insts) in enumerate(all_stages[:idx + 1]):
                if i not in needed:
                    continue
                state = self._stage(i, name, from_inst, insts)
                self.done[name] = state
                self.done[str(i)] = state
        image_id = self._ensure_image(state)
        for t in self.tags:
            tag_image(self.store, image_id, t)
        return image_id

    def _needed(self, all_stages, idx) -> set[int]:
        names = {s[0]: i for i, s in enumerate(all_stages)}
        need, todo = set(), [idx]
        while todo:
            i = todo.pop()
            if i in need:
                continue
            need.add(i)
            _, from_inst, insts = all_stages[i]
            base = from_inst.arguments.split()[0].lower() if from_inst.arguments.split() else ""
            if base in names and names[base] < i:
                todo.append(names[base])
            for inst in insts:
                src = inst.flag("from") if inst.instruction in ("copy",) else None
                if src is not None:
                    src = src.lower()
                    if src in names and names[src] < i:
                        todo.append(names[src])
                    elif src.isdigit() and int(src) < i:
                        todo.append(int(src))
        return need

    def _event(self, kind, name="", text="", elapsed=0.0):
        self.progress(BuildEvent(self.step, kind, name, text, elapsed))

    def _err(self, inst: Instruction, msg: str):
        raise DockerfileError(self.filename, inst.start_line, msg)

    # -- stages
    def _stage(self, index: int, name: str, from_inst: Instruction, insts: list[Instruction]) -> _State:
        words = from_inst.arguments.split()
        try:
            base = self.lex.process_word(words[0], self.meta)
        except InvalidArgument as e:
            self._err(from_inst, str(e))
        platform = from_inst.flag("platform")
        if platform:
            platform = self.lex.process_word(platform, self.meta)
            if platform.split("/")[:2] != ["linux", host_arch()]:
                self._err(from_inst, f"platform {platform!r} is not this host's (linux/{host_arch()})")
        label = f"[{name if not name.isdigit() else 'stage-' + name} {{}}/{self.total[index]}]"
        self.step += 1
        title = label.format(1) + " FROM " + base
        t0 = time.monotonic()
        self._event("start", title)
        if base.lower() in self.done:
            prev = self.done[base.lower()]
            state = _State(name, index, prev.image_id, json.loads(json.dumps(prev.config)), prev.key)
        elif base.lower() == "scratch":
            state = _State(name, index, None, _scratch_config(), _sha("scratch"))
        else:
            try:
                img = resolve(self.store, base)
            except NotFound:
                self._err(from_inst, f"{base}: image not found in the store (dockyard cannot pull yet: "
                                     "load or import it first)")
            cfg = config_of(self.store, img)
            state = _State(name, index, img.id, cfg, _sha("from", img.id))
            _align_history(state.config, len(layer_chain(self.store, img)))
        self._event("done", title, elapsed=time.monotonic() - t0)
        triggers = list((state.config.get("config") or {}).get("OnBuild") or [])
        if triggers:
            state.config["config"]["OnBuild"] = None
            try:
                extra = parse("\n".join(triggers), f"{self.filename} (ONBUILD of {base})").instructions
            except DockerfileError as e:
                self._err(from_inst, f"invalid ONBUILD trigger in {base}: {e.msg}")
            for t in extra:
                t.start_line = t.end_line = from_inst.start_line
            insts = extra + list(insts)
            self.total[index] += len(extra)
        for k, inst in enumerate(insts):
            self.step += 1
            self._instruction(state, inst, label.format(k + 2))
        return state

    def _env(self, state: _State) -> dict:
        env = {k: v for k, v in state.args.items() if v is not None}
        for e in (state.config.get("config") or {}).get("Env") or []:
            k, _, v = e.partition("=")
            env[k] = v
        return env

    def _ensure_image(self, state: _State) -> str:
        if state.image_id is None:
            state.image_id = self._save(state, [])
        return state.image_id

    def _records(self, state: _State):
        if state.image_id is None:
            return []
        from ..containers.commit import parent_records
        return parent_records(self.store, get_image(self.store, state.image_id))

    def _save(self, state: _State, records) -> str:
        cfg = state.config
        cfg["rootfs"] = {"type": "layers", "diff_ids": [r.diff_id for r in records]}
        doc = {k: cfg[k] for k in sorted(cfg) if cfg[k] is not None}
        return add_image(self.store, mf.dumps(doc), records, [], event="build")

    # -- one instruction
    def _instruction(self, state: _State, inst: Instruction, label: str) -> None:
        name = inst.instruction
        t0 = time.monotonic()
        used: set = set()
        env = self._env(state)
        try:
            detail = self._resolve(state, inst, env, used)
        except InvalidArgument as e:
            if isinstance(e, DockerfileError):
                raise
            self._err(inst, str(e))
        shown = f"{label} {name.upper()} " + "".join(f + " " for f in inst.flags) + (json.dumps(inst.exec_form) if inst.exec_form is not None
                                              else inst.arguments)
        if name == "arg":
            self._apply_arg(state, detail)
            self._event("start", shown)
            self._event("done", shown, elapsed=time.monotonic() - t0)
            return
        args_used = {k: env.get(k) for k in sorted(used)}
        if name == "run":  # every ARG and ENV is in RUN's environment
            args_used = {k: v for k, v in sorted(env.items())}
        key = _sha(state.key, name, detail.get("key"), args_used, detail.get("content"))
        self._event("start", shown)
        cached = None if self.no_cache else _cache_get(self.store, key)
        if cached:
            state.image_id = cached
            state.config = config_of(self.store, get_image(self.store, cached))
            state.key = key
            if name == "cmd":
                state.cmd_set = True
            self._event("cached", shown)
            return
        created_by = detail.get("created_by") or f"{name.upper()} {inst.arguments}".strip()
        layer = None
        if name == "run":
            layer = self._run(state, detail, shown)
        elif name in ("copy", "add"):
            layer = self._copy(state, inst, detail)
        elif name == "workdir":
            layer = self._workdir(state, inst, detail)
        else:
            self._config_step(state, inst, detail)
        records = self._records(state)
        entry = {"created": timestamp(), "created_by": created_by, "comment": BUILDKIT_COMMENT}
        if layer is None and name not in ("run", "copy", "add", "workdir"):
            entry["empty_layer"] = True
        elif layer is None:
            entry["empty_layer"] = True
        state.config["history"] = list(state.config.get("history") or []) + [entry]
        state.config["created"] = entry["created"]
        with self.store.lock.shared():
            state.image_id = self._save(state, records + ([layer] if layer else []))
        state.key = key
        _cache_put(self.store, key, state.image_id)
        self._event("done", shown, elapsed=time.monotonic() - t0)

    def _apply_arg(self, state: _State, pairs) -> None:
        for k, v in pairs:
            if k in self.build_args:
                state.args[k] = self.build_args[k]
            elif v is not None:
                state.args[k] = v
            else:
                state.args[k] = self.meta.get(k)

    def _resolve(self, state: _State, inst: Instruction, env: dict, used: set) -> dict:
        """The instruction's arguments after expansion, and what keys its cache entry."""
        name, lex = inst.instruction, self.lex
        pw = lambda s: lex.process_word(s, env, used)
        if name == "arg":
            out = []
            for k, v in name_values(inst, self.df.escape, self.filename):
                out.append((k, pw(v) if v is not None else None))
            return out
        if name in ("env", "label"):
            pairs = [(pw(k) if name == "label" else k, pw(v)) for k, v in
                     name_values(inst, self.df.escape, self.filename)]
            return {"pairs": pairs, "key": pairs,
                    "created_by": f"{name.upper()} " + " ".join(f"{k}={v}" for k, v in pairs)}
        if name in ("cmd", "entrypoint", "run"):
            shell = (state.config.get("config") or {}).get("Shell") or DEFAULT_SHELL
            if inst.exec_form is not None:
                argv = list(inst.exec_form)
            elif name == "run" and inst.heredocs and inst.arguments.strip() in (
                    f"<<{'-' if inst.heredocs[0].chomp else ''}{q}{inst.heredocs[0].name}{q}" for q in ("", '"', "'")):
                argv = list(shell) + [inst.heredocs[0].content]
            elif name == "run" and inst.heredocs:
                script = inst.arguments + "\n" + "".join(h.content + h.name + "\n" for h in inst.heredocs)
                argv = list(shell) + [script]
            else:
                argv = list(shell) + [inst.arguments]
            cb = f"{name.upper()} {json.dumps(argv) if name != 'run' else ' '.join(argv)}"
            if name == "run":
                cb += " # buildkit"
            return {"argv": argv, "key": [argv, inst.flags], "created_by": cb}
        if name == "shell":
            return {"argv": list(inst.exec_form), "key": inst.exec_form,
                    "created_by": f"SHELL {json.dumps(inst.exec_form)}"}
        if name in ("copy", "add"):
            words = [pw(w) for w in inst.exec_form] if inst.exec_form is not None else \
                lex.process_words(inst.arguments, env, used)
            if len(words) < 2:
                self._err(inst, f"{name.upper()} requires at least two arguments")
            flags = {k: pw(inst.flag(k)) for k in ("from", "chown", "chmod") if inst.flag(k) is not None}
            srcs, dest = words[:-1], words[-1]
            content = self._content_key(state, inst, srcs, flags)
            return {"srcs": srcs, "dest": dest, "flags": flags, "key": [srcs, dest, flags], "content": content,
                    "created_by": f"{name.upper()} " + " ".join(
                        [f"--{k}={v}" for k, v in flags.items()] + srcs + [dest]) + " # buildkit"}
        if name == "healthcheck":
            return {"key": [inst.arguments, inst.flags],
                    "created_by": f"HEALTHCHECK {inst.arguments}"}
        if name == "onbuild":
            return {"key": inst.arguments, "created_by": f"ONBUILD {inst.arguments}"}
        # expose, volume, user, workdir, stopsignal, maintainer
        if name == "volume" and inst.exec_form is not None:
            words = [pw(w) for w in inst.exec_form]
        elif name == "maintainer":
            words = [inst.arguments]
        else:
            words = lex.process_words(inst.arguments, env, used)
        if name in ("user", "workdir", "stopsignal") and len(words) != 1:
            self._err(inst, f"{name.upper()} requires exactly one argument")
        return {"words": words, "key": words, "created_by": f"{name.upper()} " + " ".join(words)}

    # -- config-only steps
    def _config_step(self, state: _State, inst: Instruction, d: dict) -> None:
        from ..containers import signals
        from ..containers.commit import _ports
        cfg = state.config.setdefault("config", {}) or {}
        state.config["config"] = cfg
        name = inst.instruction
        if name == "env":
            cfg["Env"] = with_env(cfg.get("Env"), d["pairs"])
        elif name == "label":
            cfg["Labels"] = dict(cfg.get("Labels") or {}, **dict(d["pairs"]))
        elif name == "cmd":
            cfg["Cmd"] = d["argv"]
            state.cmd_set = True
        elif name == "entrypoint":
            cfg["Entrypoint"] = d["argv"]
            if not state.cmd_set:
                cfg["Cmd"] = None
        elif name == "shell":
            cfg["Shell"] = d["argv"]
        elif name == "expose":
            ports = dict(cfg.get("ExposedPorts") or {})
            for w in d["words"]:
                try:
                    for p in _ports(w):
                        ports[p] = {}
                except InvalidArgument as e:
                    self._err(inst, str(e))
            cfg["ExposedPorts"] = ports
        elif name == "volume":
            if not d["words"] or any(not w for w in d["words"]):
                self._err(inst, "VOLUME specified can not be an empty string")
            cfg["Volumes"] = dict(cfg.get("Volumes") or {}, **{w: {} for w in d["words"]})
        elif name == "user":
            cfg["User"] = d["words"][0]
        elif name == "stopsignal":
            try:
                signals.parse(d["words"][0])
            except (InvalidArgument, ValueError) as e:
                self._err(inst, f"invalid STOPSIGNAL: {e}")
            cfg["StopSignal"] = d["words"][0]
        elif name == "maintainer":
            state.config["author"] = d["words"][0]
        elif name == "onbuild":
            cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [inst.arguments]
        elif name == "healthcheck":
            cfg["Healthcheck"] = self._healthcheck(inst)

    def _healthcheck(self, inst: Instruction) -> dict:
        kind, _, rest = inst.arguments.partition(" ")
        if kind.upper() == "NONE":
            return {"Test": ["NONE"]}
        rest = rest.strip()
        try:
            v = json.loads(rest) if rest.startswith("[") else None
        except ValueError:
            v = None
        test = ["CMD"] + v if isinstance(v, list) else ["CMD-SHELL", rest]
        hc = {"Test": test}
        for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                          ("start-interval", "StartInterval")):
            val = inst.flag(flag)
            if val is not None:
                hc[key] = _duration(val, inst, self.filename)
        if inst.flag("retries") is not None:
            try:
                hc["Retries"] = int(inst.flag("retries"))
            except ValueError:
                self._err(inst, f"invalid --retries: {inst.flag('retries')!r}")
        return hc

    # -- WORKDIR
    def _workdir(self, state: _State, inst: Instruction, d: dict):
        cfg = state.config.setdefault("config", {}) or {}
        state.config["config"] = cfg
        wd = posixpath.normpath(posixpath.join("/", cfg.get("WorkingDir") or "/", d["words"][0]))
        cfg["WorkingDir"] = wd
        view = self._view(state)
        if view.lookup(wd) is not None:
            return None
        # as BuildKit: the directories WORKDIR makes belong to the current USER
        owner = self._owner(view, inst, cfg["User"]) if cfg.get("User") else None
        stage = self.store.tmp_dir and _mkstage(self.store)
        try:
            self._parents(view, stage, wd, make_last=True, owner=owner)
            return self._layer(state, stage)
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def _owner(self, view: MergedView, inst: Instruction, user: str) -> tuple[int, int]:
        """(uid, gid) of a user[:group] by the image's /etc/passwd and /etc/group."""
        from ..containers.users import resolve_user
        try:
            u = resolve_user(view.layers, user)
        except InvalidArgument as e:
            self._err(inst, str(e))
        return u["uid"], u["gid"]

    def _view(self, state: _State) -> MergedView:
        if state.image_id is None:
            return MergedView([])
        chain = layer_chain(self.store, get_image(self.store, state.image_id))
        return MergedView([l["path"] for l in chain][::-1])

    def _parents(self, view: MergedView, stage: str, path: str, make_last: bool,
                 owner: tuple[int, int] | None = None) -> None:
        """Make the directories leading to `path` in the staging dir, with the
        metadata the image gives them (new ones: 0755, root or `owner`)."""
        parts = [p for p in path.strip("/").split("/") if p]
        upto = parts if make_last else parts[:-1]
        for k in range(1, len(upto) + 1):
            rel = "/".join(upto[:k])
            host = os.path.join(stage, rel)
            found = view.lookup(rel)
            if os.path.lexists(host):
                continue
            os.mkdir(host, 0o755)
            if found and stat.S_ISDIR(found[1].st_mode):
                st = found[1]
                os.chown(host, st.st_uid, st.st_gid)
                os.chmod(host, stat.S_IMODE(st.st_mode))
                os.utime(host, ns=(st.st_atime_ns, st.st_mtime_ns))
            elif found:
                raise InvalidArgument(f"cannot create directory /{rel}: a file is in the way")
            else:
                os.chmod(host, 0o755)
                if owner is not None:
                    os.chown(host, *owner)

    def _layer(self, state: _State, upper: str):
        from ..containers.commit import write_layer
        top = None
        if state.image_id is not None:
            top = get_image(self.store, state.image_id).top_layer
        with self.store.lock.shared():
            return write_layer(self.store, upper, top)

    # -- RUN
    def _run(self, state: _State, d: dict, shown: str):
        from ..containers.create import create
        from ..containers.lifecycle import remove, start, wait
        from ..containers.options import RunOptions
        from ..containers.records import find
        from ..runtime.logs import read_logs
        image_id = self._ensure_image(state)
        cfg = state.config.get("config") or {}
        env_keys = {e.partition("=")[0] for e in cfg.get("Env") or []}
        env = [f"{k}={v}" for k, v in state.args.items() if v is not None and k not in env_keys]
        opts = RunOptions(image=image_id, command=d["argv"], entrypoint=[""], env=env,
                          workdir=cfg.get("WorkingDir") or None, user=cfg.get("User") or None,
                          network=self.network, labels={"dockyard.build": "1"})
        cid = create(self.store, opts, builder=self.lease)
        rec = find(self.store, cid)
        try:
            start(self.store, cid)
            tail: list[str] = []
            buf = b""
            for _stream, _t, data in read_logs(rec.dir, follow=True):
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    text = line.decode("utf-8", "replace")
                    tail = (tail + [text])[-20:]
                    self._event("output", shown, text)
            if buf:
                text = buf.decode("utf-8", "replace")
                tail = (tail + [text])[-20:]
                self._event("output", shown, text)
            code = wait(self.store, cid)
            if code:
                self._event("error", shown, f"exit code: {code}")
                raise BuildError(f"process {json.dumps(d['argv'])} did not complete successfully: exit code: "
                                 f"{code}\n{self.filename}:{shown}\n" + "\n".join(tail[-5:]), code)
            return self._layer(state, os.path.join(rec.dir, "upper"))
        finally:
            try:
                remove(self.store, cid, force=True)  # still running if we were interrupted (Ctrl-C)
            except DockyardError:
                pass

    # -- COPY / ADD
    def _sources(self, state: _State, inst: Instruction, srcs: list[str], flags: dict):
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

    def _content_key(self, state: _State, inst: Instruction, srcs, flags) -> str:
        h = hashlib.sha256()
        if inst.heredocs:
            for hd in inst.heredocs:
                h.update(json.dumps([hd.name, hd.content, hd.expand]).encode())
            return h.hexdigest()
        for root_rel, host, st, view in self._sources(state, inst, srcs, flags):
            if view == "url":
                h.update(root_rel.encode() + b"\0url")
                continue
            h.update(root_rel.encode() + b"\0")
            for rel, p, s in self._iter_tree(root_rel, host, st, view):
                h.update(json.dumps([rel, s.st_mode, s.st_uid, s.st_gid, s.st_size]).encode())
                if stat.S_ISREG(s.st_mode):
                    with open(p, "rb") as f:
                        while True:
                            b = f.read(1 << 20)
                            if not b:
                                break
                            h.update(b)
                elif stat.S_ISLNK(s.st_mode):
                    h.update(os.readlink(p).encode())
        return h.hexdigest()

    def _copy(self, state: _State, inst: Instruction, d: dict):
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
            names = {h.name for h in inst.heredocs}
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
        stage = _mkstage(self.store)
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
            self._err(inst, f"ADD {url}: downloading needs the network; build with --network host")
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


def _mkstage(store: Store) -> str:
    import tempfile
    os.makedirs(store.tmp_dir, exist_ok=True)
    d = tempfile.mkdtemp(prefix="build-", dir=store.tmp_dir)
    os.chmod(d, 0o755)
    return d


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
        except TypeError:  # no extraction filters in this python
            for m in tf.getmembers():
                if m.name.startswith("/") or ".." in m.name.split("/"):
                    raise InvalidArgument(f"ADD {path}: unsafe path in archive: {m.name}")
            tf.extractall(dest)


def _expand_vars(text: str, env: dict) -> str:
    import re
    return re.sub(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))",
                  lambda m: env.get(m.group(1) or m.group(2), ""), text)


def _duration(s: str, inst: Instruction, filename: str) -> int:
    import re
    total, pos = 0.0, 0
    units = {"ns": 1, "us": 1e3, "µs": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9}
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise DockerfileError(filename, inst.start_line, f"invalid duration {s!r}")
    return int(total)


def _scratch_config() -> dict:
    return {"architecture": host_arch(), "os": "linux", "config": {"Env": [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
        "history": [], "rootfs": {"type": "layers", "diff_ids": []}}


def _align_history(cfg: dict, n_layers: int) -> None:
    history = [h for h in cfg.get("history") or [] if isinstance(h, dict)]
    if sum(1 for h in history if not h.get("empty_layer")) != n_layers:
        history = [{"created": cfg.get("created")} if cfg.get("created") else {} for _ in range(n_layers)]
    cfg["history"] = history
    for k in ("container", "container_config", "docker_version"):
        cfg.pop(k, None)


def build(store: Store, context: str, **kw) -> str:
    return Builder(store, context, **kw).run()
