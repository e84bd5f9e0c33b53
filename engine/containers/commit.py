"""docker commit: a container's writable layer becomes one new layer of a new image.

One pass over the upper dir: tar_directory(upper, whiteouts="oci") writes the
layer tar (overlay whiteouts as `.wh.` entries, opaque directories as
`.wh..wh..opq`, hardlinks as hardlinks, owners, modes and xattrs such as
security.capability kept, trusted.overlay.* never written) into a tee: one side
is a zstd compressor writing into a blob writer of the store (which hashes the
blob: its digest), the other a pipe into apply_layer running in a thread,
which hashes the tar (the diff id), unpacks the same bytes into the new layer
directory and gives the file index. So the files are read once, each byte is
hashed once, the blob and the unpacked layer hold the same bytes even if the
container writes meanwhile (--pause=false), and nothing is decompressed.
(LayerWriter would hash the tar and the blob a second time: ~0.35 s of CPU on
a 120 MB layer here.)

The new config is the container's config (the image's, with the run's command,
entrypoint, env, workdir, user, labels and stop signal, as docker takes it)
with the -c changes applied; a history entry {created, author, created_by: the
container's Cmd, comment}. As docker does, an empty diff adds no layer: the
history entry is then marked empty_layer, so layers, diff ids and non-empty
history entries stay in step."""
import fcntl
import json
import os
import posixpath
import re
import threading

from .. import reference
from ..errors import Conflict, DockyardError, InvalidArgument
from ..images import fileindex
from ..images import manifest as mf
from ..images.catalog import get as get_image
from ..images.config import timestamp, with_env
from ..images.ingest import LayerRecord, add_image
from ..images.inspect import config_of, layer_chain
from ..layers import apply_layer, chain_ids, compression, tar_directory
from ..layers.digest import CHUNK
from ..store import Store
from . import signals
from .records import ContainerRecord, find

_OCI_TYPE = {mf.DOCKER_LAYER: mf.OCI_LAYER, mf.DOCKER_LAYER_GZIP: mf.OCI_LAYER_GZIP,
             mf.DOCKER_LAYER_ZSTD: mf.OCI_LAYER_ZSTD, mf.DOCKER_FOREIGN_LAYER_GZIP: mf.OCI_LAYER_NONDIST_GZIP}


def commit(store: Store, ref: str, repo_tag: str | None = None, *, message: str | None = None,
           author: str | None = None, changes: list[str] | tuple = (), pause: bool = True) -> str:
    """Returns the new image id (sha256:…)."""
    rec = find(store, ref)
    tags = [str(_tag_ref(repo_tag))] if repo_tag else []
    img = get_image(store, rec.image_id)
    parent_cfg = config_of(store, img)
    container_cfg = container_config(parent_cfg.get("config") or {}, rec.config.get("options") or {})
    new_cfg = apply_changes(container_cfg, list(changes))
    with store.lock.shared():  # the start-up sweep must not take our staged files for leftovers
        layer = _with_pause(rec, pause, lambda: write_layer(store, os.path.join(rec.dir, "upper"), img.top_layer))
        records = parent_records(store, img)
        created = timestamp()
        config = _image_config(parent_cfg, new_cfg, container_cfg, rec, records, layer, created,
                               message or "", author or "")
        return add_image(store, mf.dumps(config), records + ([layer] if layer else []), tags, event="commit")


def _tag_ref(repo_tag: str):
    ref = reference.parse(repo_tag)
    if ref.digest:
        raise InvalidArgument(f"invalid reference format: a tag cannot carry a digest: {repo_tag!r}")
    return ref


def _with_pause(rec: ContainerRecord, pause: bool, work):
    """Runs `work` with the container frozen by its monitor, for as long as our
    connection to it stays open: when this process ends in any way (SIGKILL,
    its terminal closed), the connection closes and the monitor thaws the
    container. A container the user paused stays paused."""
    from .lifecycle import is_running
    held = None
    if pause and is_running(rec):
        from ..runtime.client import ContainerNotRunning, MonitorClient
        client = None
        try:
            client = MonitorClient(rec.dir)
            client.pause(hold=True)
            held = client
        except DockyardError as e:
            if client is not None:
                client.close()
            if not isinstance(e, ContainerNotRunning) and is_running(rec):
                raise Conflict(f"cannot pause container {rec.id[:12]} for the commit: {e} "
                               "(--pause=false commits without pausing)") from None
            # it has exited meanwhile: its upper dir no longer changes
    try:
        return work()
    finally:
        if held is not None:
            held.close()   # the monitor thaws the container (unless the user paused it)


# ---------------------------------------------------------------- the layer

class _Tee:
    def __init__(self, a, b):
        self._a, self._b = a, b

    def write(self, data) -> int:
        self._a.write(data)
        self._b.write(data)
        return len(data)


def write_layer(store: Store, upper: str, parent: str | None) -> LayerRecord | None:
    """Tar, compress, store and unpack the upper dir in one pass (see the
    module's doc). None when it holds nothing (an empty diff)."""
    staged = store.layers.stage()
    writer = store.blobs.writer(what="committed layer")
    box: dict = {}
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, CHUNK)
    except OSError:
        pass

    def unpack():
        try:
            with open(r, "rb", buffering=CHUNK) as src:
                box["result"] = apply_layer(src, staged)
        except BaseException as e:  # reported by the main thread
            box["error"] = e

    t = threading.Thread(target=unpack, name="commit-unpack", daemon=True)
    t.start()
    try:
        with writer:
            pipe = open(w, "wb", buffering=CHUNK)
            zstd = compression.compressor(writer, "zstd")
            try:
                count = tar_directory(upper, _Tee(zstd, pipe), whiteouts="oci")
                zstd.close()  # ends the zstd stream; the blob writer stays open
                pipe.close()
            except BrokenPipeError:
                t.join()
                raise box.get("error") or DockyardError("the layer unpacker stopped early") from None
            finally:
                if not pipe.closed:
                    try:
                        pipe.close()
                    except OSError:
                        pass
                t.join()
            if "error" in box:
                raise box["error"]
            result = box["result"]
            diff_id = result.diff_id
            if count == 0:
                return None  # docker: an empty diff is an empty_layer history entry
            blob_digest = writer.commit()
            blob_size = writer.size
        chain = chain_ids([parent, diff_id])[1] if parent else diff_id
        store.layers.commit(staged, chain)
        staged = None
        return LayerRecord(chain, diff_id, parent, result.diff_size, result.size, result.files, blob_digest,
                           mf.OCI_LAYER_ZSTD, blob_size, fileindex.encode(result.entries))
    finally:
        if t.is_alive():
            t.join()
        if staged:
            from ..store.fsutil import remove_tree
            remove_tree(staged, store.tmp_dir)


def parent_records(store: Store, img) -> list[LayerRecord]:
    """The image's layers as add_image wants them, naming the blobs its manifest names."""
    chain = layer_chain(store, img)
    descs = mf.parse_manifest(store.blobs.read_bytes(img.manifest_digest))["layers"]
    out, parent = [], None
    for l, d in zip(chain, descs):
        out.append(LayerRecord(l["chain_id"], l["diff_id"], parent, l["diff_size"], l["size"], l["files"],
                               d["digest"], _OCI_TYPE.get(d.get("mediaType"), d.get("mediaType") or mf.OCI_LAYER),
                               d["size"]))
        parent = l["chain_id"]
    return out


# ---------------------------------------------------------------- the config

def container_config(image_cfg: dict, opts: dict) -> dict:
    """The container's config as docker keeps it: the image's config with the
    run options in it (command, entrypoint, env, workdir, user, labels, stop signal)."""
    cfg = json.loads(json.dumps(image_cfg))  # a deep copy
    if opts.get("entrypoint") is not None:
        ep = opts["entrypoint"]
        cfg["Entrypoint"] = None if ep == [""] else list(ep)
        cfg["Cmd"] = list(opts["command"]) if opts.get("command") else None
    elif opts.get("command"):
        cfg["Cmd"] = list(opts["command"])
    user_env: list[str] = []
    for path in opts.get("env_files") or []:
        try:
            with open(path, encoding="utf-8") as f:
                user_env += [l.strip() for l in f.read().splitlines() if l.strip() and not l.startswith("#")]
        except OSError:
            pass
    user_env += list(opts.get("env") or [])
    user_env = [e for e in user_env if "=" in e]  # `-e VAR` took the caller's value at run time
    if user_env:
        keys = {e.partition("=")[0] for e in user_env}
        cfg["Env"] = user_env + [e for e in cfg.get("Env") or [] if e.partition("=")[0] not in keys]
    if opts.get("workdir"):
        cfg["WorkingDir"] = opts["workdir"]
    if opts.get("user"):
        cfg["User"] = opts["user"]
    if opts.get("labels"):
        cfg["Labels"] = dict(cfg.get("Labels") or {}, **opts["labels"])
    if opts.get("stop_signal"):
        cfg["StopSignal"] = opts["stop_signal"]
    return _tidy(cfg)


_ORDER = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir", "Labels", "StopSignal")


def _tidy(cfg: dict) -> dict:
    """OCI's field order, empty fields left out."""
    out = {k: cfg[k] for k in _ORDER if cfg.get(k) not in (None, "", [], {})}
    out.update((k, v) for k, v in cfg.items() if k not in _ORDER and v not in (None, "", [], {}))
    return out


_ALLOWED = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


def apply_changes(cfg: dict, changes: list[str]) -> dict:
    """Apply `-c` Dockerfile instructions to a config, as docker's commit does
    (dockerfile.BuildFromConfig): CMD/ENTRYPOINT in JSON or shell form, ENV and
    LABEL as key=value pairs (or the legacy `KEY value`), EXPOSE, VOLUME,
    WORKDIR (relative to the current one), USER, STOPSIGNAL, ONBUILD; $VAR and
    ${VAR} are expanded from the env, except in CMD and ENTRYPOINT. ENTRYPOINT
    resets CMD unless a CMD came in the same changes."""
    cfg = json.loads(json.dumps(cfg))
    cmd_set = False
    for change in changes:
        line = change.strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            rest = more + " " + rest
        instr = word.upper()
        rest = rest.strip()
        if instr not in _ALLOWED:
            raise InvalidArgument(f"{word} is not a valid change command")
        env = _env_map(cfg)
        if instr in ("CMD", "ENTRYPOINT"):
            args = _exec_form(rest)
            if args is None:
                args = list(cfg.get("Shell") or ["/bin/sh", "-c"]) + [rest]
            if instr == "CMD":
                cfg["Cmd"] = args
                cmd_set = True
            else:
                cfg["Entrypoint"] = args
                if not cmd_set:
                    cfg["Cmd"] = None
        elif instr in ("ENV", "LABEL"):
            pairs = _name_values(rest, env, instr)
            if instr == "ENV":
                cfg["Env"] = with_env(cfg.get("Env"), pairs)
                env.update(pairs)
            else:
                cfg["Labels"] = dict(cfg.get("Labels") or {}, **dict(pairs))
        elif instr == "EXPOSE":
            ports = dict(cfg.get("ExposedPorts") or {})
            for p in _lex(rest, env, split=True):
                for key in _ports(p):
                    ports[key] = {}
            cfg["ExposedPorts"] = ports
        elif instr == "VOLUME":
            vols = _exec_form(rest)
            if vols is None:
                vols = _lex(rest, env, split=True)
            if not vols:
                raise InvalidArgument("VOLUME specified can not be an empty string")
            cfg["Volumes"] = dict(cfg.get("Volumes") or {}, **{v: {} for v in vols})
        elif instr == "WORKDIR":
            wd = _lex(rest, env, split=False)[0] if rest else ""
            if not wd:
                raise InvalidArgument("WORKDIR requires exactly one argument")
            cfg["WorkingDir"] = posixpath.normpath(posixpath.join("/", cfg.get("WorkingDir") or "/", wd))
        elif instr == "USER":
            user = _lex(rest, env, split=False)[0] if rest else ""
            if not user:
                raise InvalidArgument("USER requires exactly one argument")
            cfg["User"] = user
        elif instr == "STOPSIGNAL":
            sig = _lex(rest, env, split=False)[0] if rest else ""
            signals.parse(sig)  # raises on a bad one
            cfg["StopSignal"] = sig
        elif instr == "ONBUILD":
            trigger, _, body = rest.partition(" ")
            if trigger.upper() in ("ONBUILD", "FROM", "MAINTAINER", ""):
                raise InvalidArgument(f"{trigger or 'ONBUILD'} isn't allowed as an ONBUILD trigger")
            cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [f"{trigger.upper()} {body}".strip()]
    return _tidy(cfg)


def _env_map(cfg: dict) -> dict:
    return {k: v for k, _, v in (e.partition("=") for e in cfg.get("Env") or [])}


def _exec_form(rest: str) -> list[str] | None:
    if not rest.startswith("["):
        return None
    try:
        v = json.loads(rest)
    except ValueError:
        return None
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return v
    return None


def _name_values(rest: str, env: dict, instr: str) -> list[tuple[str, str]]:
    if not rest:
        raise InvalidArgument(f"{instr} requires at least one argument")
    first_raw = rest.split(None, 1)[0]
    if "=" not in first_raw:
        # legacy `ENV KEY value with spaces`
        parts = rest.split(None, 1)
        if len(parts) < 2:
            raise InvalidArgument(f"{instr} must have two arguments")
        return [(parts[0], _lex(parts[1], env, split=False)[0])]
    out = []
    for w in _lex(rest, env, split=True):
        k, eq, v = w.partition("=")
        if not eq or not k:
            raise InvalidArgument(f"{instr} names can not be blank and need a value: {w!r}")
        out.append((k, v))
    return out


_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def _expand(s: str, env: dict) -> str:
    def sub(m):
        name = m.group(1) or m.group(4)
        op, word = m.group(2), m.group(3)
        val = env.get(name)
        if op in (":-", "-"):
            return val if (val if op == ":-" else val is not None) else word
        if op in (":+", "+"):
            return word if (val if op == ":+" else val is not None) else ""
        return val or ""
    return _VAR.sub(sub, s)


def _lex(s: str, env: dict, *, split: bool) -> list[str]:
    """Docker's word processing: quotes removed ('…' literal, "…" with \\ escapes
    and $VAR), backslash escapes outside quotes, $VAR expanded outside single
    quotes; split on blanks outside quotes (or one word, blanks kept)."""
    words, cur, have = [], [], False
    i, n = 0, len(s)
    plain: list[str] = []

    def flush_plain():
        if plain:
            cur.append(_expand("".join(plain), env))
            plain.clear()

    while i < n:
        c = s[i]
        if split and c in " \t\n":
            flush_plain()
            if have:
                words.append("".join(cur))
                cur, have = [], False
            i += 1
            continue
        have = True
        if c == "\\" and i + 1 < n:
            flush_plain()
            cur.append(s[i + 1])
            i += 2
        elif c == "'":
            flush_plain()
            j = s.find("'", i + 1)
            if j < 0:
                raise InvalidArgument(f"unexpected end of statement while looking for matching single-quote: {s}")
            cur.append(s[i + 1:j])
            i = j + 1
        elif c == '"':
            flush_plain()
            j, buf = i + 1, []
            while j < n and s[j] != '"':
                if s[j] == "\\" and j + 1 < n and s[j + 1] in '"\\$':
                    buf.append(s[j + 1])
                    j += 2
                else:
                    buf.append(s[j])
                    j += 1
            if j >= n:
                raise InvalidArgument(f"unexpected end of statement while looking for matching double-quote: {s}")
            cur.append(_expand("".join(buf), env))
            i = j + 1
        else:
            plain.append(c)
            i += 1
    flush_plain()
    if have or not split:
        words.append("".join(cur))
    return words


def _ports(spec: str) -> list[str]:
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise InvalidArgument(f"invalid proto: {proto}")
    lo, dash, hi = port.partition("-")
    if not lo.isdigit() or (dash and not hi.isdigit()):
        raise InvalidArgument(f"invalid containerPort: {port}")
    a, b = int(lo), int(hi) if dash else int(lo)
    if not (0 < a <= 65535 and a <= b <= 65535):
        raise InvalidArgument(f"invalid port range: {port}")
    return [f"{p}/{proto}" for p in range(a, b + 1)]


def _image_config(parent: dict, cfg: dict, container_cfg: dict, rec: ContainerRecord, records: list,
                  layer: LayerRecord | None, created: str, comment: str, author: str) -> dict:
    history = [h for h in parent.get("history") or [] if isinstance(h, dict)]
    if sum(1 for h in history if not h.get("empty_layer")) != len(records):
        # no history (or one out of step with the layers): one entry per layer keeps them aligned
        history = [{"created": parent.get("created")} if parent.get("created") else {} for _ in records]
    entry = {"created": created}
    if author:
        entry["author"] = author
    entry["created_by"] = " ".join(container_cfg.get("Cmd") or [])
    if comment:
        entry["comment"] = comment
    if layer is None:
        entry["empty_layer"] = True
    doc = {k: v for k, v in parent.items()
           if k not in ("author", "comment", "config", "container", "container_config", "created", "docker_version",
                        "history", "rootfs")}
    doc.update({"author": author, "comment": comment, "config": cfg, "container": rec.id,
                "container_config": container_cfg, "created": created, "history": history + [entry],
                "rootfs": {"type": "layers",
                           "diff_ids": [r.diff_id for r in records] + ([layer.diff_id] if layer else [])}})
    if not author:
        del doc["author"]
    if not comment:
        del doc["comment"]
    return {k: doc[k] for k in sorted(doc)}  # docker writes the keys sorted
