"""The per-instruction work of a build (mixed into builder.Builder): the
arguments of an instruction after expansion and what keys its cache entry,
the config-only steps, WORKDIR, RUN (through the container runtime, the same
defaults as `run`, its container removed whatever happens; the new layer is
its upper dir, written as commit writes one), and what they share with
COPY/ADD: the merged view of the image so far, directories made with the
image's metadata, a staging dir into a layer.

Uses of the builder: store, filename, df, lex, network, lease, _err, _event,
_ensure_image, _content_key (copy.CopySteps)."""
import json
import os
import posixpath
import shutil
import stat

from ..errors import DockyardError, InvalidArgument
from ..images.catalog import get as get_image
from ..images.config import with_env
from ..images.inspect import layer_chain
from ..store import Store
from .merged import MergedView
from .parser import DockerfileError, Instruction, name_values
from .state import BuildError, StageState

DEFAULT_SHELL = ["/bin/sh", "-c"]


class Steps:
    """The per-instruction work; see the module's doc for what it uses of the Builder."""

    def _resolve(self, state: StageState, inst: Instruction, env: dict, used: set) -> dict:
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
            # As BuildKit: the line split on blanks, then each item expanded as one
            # word (`ARG S="a b"` + `COPY $S /d` copies the one file "a b").
            words = [pw(w) for w in (inst.exec_form if inst.exec_form is not None else inst.args)]
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
        if name == "volume":
            words = [pw(w) for w in (inst.exec_form if inst.exec_form is not None else inst.args)]
        elif name == "maintainer":
            words = [inst.arguments]
        elif name in ("user", "workdir", "stopsignal"):
            words = [pw(inst.arguments)]  # the rest of the line is one word (`WORKDIR /a b` is "/a b"), as BuildKit
        else:
            words = lex.process_words(inst.arguments, env, used)
        return {"words": words, "key": words, "created_by": f"{name.upper()} " + " ".join(words)}

    # -- config-only steps
    def _config_step(self, state: StageState, inst: Instruction, d: dict) -> None:
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
    def _workdir(self, state: StageState, inst: Instruction, d: dict):
        cfg = state.config.setdefault("config", {}) or {}
        state.config["config"] = cfg
        wd = posixpath.normpath(posixpath.join("/", cfg.get("WorkingDir") or "/", d["words"][0]))
        cfg["WorkingDir"] = wd
        view = self._view(state)
        if view.lookup(wd) is not None:
            return None
        # as BuildKit: the directories WORKDIR makes belong to the current USER
        owner = self._owner(view, inst, cfg["User"]) if cfg.get("User") else None
        stage = self.store.tmp_dir and mkstage(self.store)
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

    def _view(self, state: StageState) -> MergedView:
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

    def _layer(self, state: StageState, upper: str):
        from ..containers.commit import write_layer
        top = None
        if state.image_id is not None:
            top = get_image(self.store, state.image_id).top_layer
        with self.store.lock.shared():
            return write_layer(self.store, upper, top)

    # -- RUN
    def _run(self, state: StageState, d: dict, shown: str):
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


def mkstage(store: Store) -> str:
    import tempfile
    os.makedirs(store.tmp_dir, exist_ok=True)
    d = tempfile.mkdtemp(prefix="build-", dir=store.tmp_dir)
    os.chmod(d, 0o755)
    return d


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
