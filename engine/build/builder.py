"""Engine.build: a Dockerfile into an image, step by step, with a layer cache.

Every step leaves an image in the store (an intermediate one, without a tag):
RUN, COPY, ADD and WORKDIR (when it makes the directory) add a layer; the
others change the config and add a history entry marked empty_layer. A step's
cache key is the parent's key, the instruction after expansion with its flags,
the ARG and ENV values it uses and, for COPY and ADD, a hash of the selected
files (metadata without mtime, plus contents); the table `build_cache` maps it
to the intermediate image. RUN goes through the container runtime (the same
defaults as `run`), its container removed whatever happens; the new layer is
its upper dir, written as commit writes one.

Split along its seams: state.py (events, errors, the stage's state), cache.py
(keys and the build_cache table), steps.py (the per-instruction work and
RUN), copy.py (COPY and ADD); this module drives the stages."""
import json
import os
import time
from collections.abc import Callable

from ..errors import DockyardError, InvalidArgument, NotFound
from ..images import manifest as mf
from ..images.catalog import get as get_image
from ..images.config import host_arch, timestamp
from ..images.ingest import add_image
from ..images.inspect import config_of, layer_chain
from ..store import Store
from . import cache, ignore
from .copy import CopySteps
from .expand import Lexer
from .parser import Dockerfile, DockerfileError, Instruction, check, name_values, parse
from .state import BuildError, BuildEvent, StageState
from .steps import Steps

BUILDKIT_COMMENT = "buildkit.dockerfile.v0"


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


class Builder(CopySteps, Steps):
    def __init__(self, store: Store, context: str, *, dockerfile: str | None = None,
                 dockerfile_text: str | None = None, tags=(), build_args: dict | None = None,
                 target: str | None = None, no_cache: bool = False,
                 progress: Callable[[BuildEvent], None] | None = None, network: str = "none",
                 pull: bool = False):
        """pull: docker's `build --pull`, every FROM image pulled again (else only when missing)."""
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
        self.pull = pull
        self.progress = progress or (lambda e: None)
        # as docker's: none, host or the default bridge (with NAT); "default" is none, as before the bridge
        if network not in ("none", "host", "bridge", "default"):
            raise InvalidArgument(f"network mode {network!r} not supported: none, host or bridge")
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
        from .. import reference
        from ..images.catalog import tag as tag_image
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
        self.done: dict[str, StageState] = {}
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
    def _stage(self, index: int, name: str, from_inst: Instruction, insts: list[Instruction]) -> StageState:
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
            state = StageState(name, index, prev.image_id, json.loads(json.dumps(prev.config)), prev.key)
        elif base.lower() == "scratch":
            state = StageState(name, index, None, _scratch_config(), cache.key("scratch"))
        else:
            from .from_image import from_image
            try:
                img = from_image(self.store, base, pull=self.pull, platform=platform,
                                 output=lambda line: self._event("output", title, line))
            except DockyardError as e:
                self._err(from_inst, f"{base}: {e}")
            cfg = config_of(self.store, img)
            state = StageState(name, index, img.id, cfg, cache.key("from", img.id))
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

    def _env(self, state: StageState) -> dict:
        env = {k: v for k, v in state.args.items() if v is not None}
        for e in (state.config.get("config") or {}).get("Env") or []:
            k, _, v = e.partition("=")
            env[k] = v
        return env

    def _ensure_image(self, state: StageState) -> str:
        if state.image_id is None:
            state.image_id = self._save(state, [])
        return state.image_id

    def _records(self, state: StageState):
        if state.image_id is None:
            return []
        from ..containers.commit import parent_records
        return parent_records(self.store, get_image(self.store, state.image_id))

    def _save(self, state: StageState, records) -> str:
        cfg = state.config
        cfg["rootfs"] = {"type": "layers", "diff_ids": [r.diff_id for r in records]}
        doc = {k: cfg[k] for k in sorted(cfg) if cfg[k] is not None}
        return add_image(self.store, mf.dumps(doc), records, [], event="build")

    # -- one instruction
    def _instruction(self, state: StageState, inst: Instruction, label: str) -> None:
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
        key = cache.key(state.key, name, detail.get("key"), args_used, detail.get("content"))
        self._event("start", shown)
        cached = None if self.no_cache else cache.get(self.store, key)
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
        cache.put(self.store, key, state.image_id)
        self._event("done", shown, elapsed=time.monotonic() - t0)

    def _apply_arg(self, state: StageState, pairs) -> None:
        for k, v in pairs:
            if k in self.build_args:
                state.args[k] = self.build_args[k]
            elif v is not None:
                state.args[k] = v
            else:
                state.args[k] = self.meta.get(k)


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


__all__ = ["BuildError", "BuildEvent", "Builder", "build", "check_text", "read_dockerfile"]
