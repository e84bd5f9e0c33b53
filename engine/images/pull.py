"""dockyard pull: an image from a registry into the store, through the same
ingest as `load` (ingest.py: each layer blob read once, hashed, stored and
unpacked in one pass, the rows last in one transaction).

The manifest (or the index, and then the platform's manifest) and the config
come first; the config's diff ids give every layer's chain id, so the layers
are fetched in parallel (3 at a time, as docker) and each unpacks into a
layer directory of its own. A layer the store has is not fetched. A blob is
checked against its digest as it arrives (ingest_layer): a wrong byte fails
the pull naming the blob, before anything of it is visible. An error or
Ctrl-C stops the other downloads at their next read; their staging is
removed, so the store is as it was (`dockyard check` clean)."""
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from .. import reference
from ..errors import DockyardError, StoreError
from ..layers import chain_ids
from ..registry import platforms
from ..registry.client import INDEXES, Registry
from ..registry.transport import Cancelled, Transport
from ..store import Store
from . import manifest as mf
from .ingest import LayerRecord, _known_layer, add_image, ingest_layer, parse_config, record_layers
from .pull_locks import LayerLock

PARALLEL = 3    # docker's max-concurrent-downloads


@dataclass
class PullEvent:
    """A line of docker's pull output: `id` a layer's short id (its blob digest's
    first 12 hex digits) or None for the image; current/total: bytes while downloading."""
    id: str | None
    status: str
    current: int = 0
    total: int | None = None

    def __str__(self) -> str:
        return f"{self.id}: {self.status}" if self.id else self.status


Progress = Callable[[PullEvent], None] | None
Credentials = Callable[[str], tuple[str, str] | None] | None


def _shown_path(ref: reference.Reference) -> str:
    return ref.path   # docker: "Pulling from library/busybox", "Pulling from x" for 127.0.0.1:5000/x


def _client(host: str, credentials: Credentials, settings=None, certs_dir: str | None = None,
            cancel=None) -> tuple[Registry, Transport]:
    """The registry client with what the user configured: credentials from
    docker's config.json and its helpers (registry/credentials.py) unless
    given, CA files and client certificates of certs.d (registry/config.py's
    TlsFor), config.yaml's insecure registries (plain HTTP, for now)."""
    registries, transport = _endpoints(host, credentials, settings, certs_dir, mirrors=False, cancel=cancel)
    return registries[0], transport


def _endpoints(host: str, credentials: Credentials, settings=None, certs_dir: str | None = None,
               mirrors: bool = True, cancel=None) -> tuple[list[Registry], Transport]:
    """The registries to try for `host`, in order: for docker.io config.yaml's
    mirrors first, then registry-1.docker.io (docker's registry-mirrors)."""
    from ..registry import config
    from ..registry import credentials as creds
    settings = settings if settings is not None else config.load_settings()
    cfg_mirrors = config.host_config(host, settings).mirrors if mirrors and host == "docker.io" else ()
    hosts = [host] + [m.split("://", 1)[1] for m in cfg_mirrors]
    insecure = tuple(h for h in hosts if config.is_insecure(h, settings))
    tls = config.TlsFor(settings) if certs_dir is None else config.TlsFor(settings, certs_dir)
    transport = Transport(insecure, tls, cancel)
    lookup = creds.lookup if credentials is None else credentials
    out = [Registry(host, transport, lookup, base_url=m) for m in cfg_mirrors]
    return out + [Registry(host, transport, lookup)], transport


def _manifest(registries: list[Registry], ref, shown: str, emit) -> tuple[Registry, tuple[str, bytes, str]]:
    """The first registry that serves the manifest: a mirror that fails
    (unreachable, 404, 5xx, refusing us) falls through to the next, as in docker."""
    wanted = ref.digest or ref.tag
    for n, registry in enumerate(registries):
        try:
            return registry, registry.manifest(ref.path, wanted, shown)
        except Cancelled:
            raise
        except DockyardError as e:
            if n == len(registries) - 1:
                raise
            emit(PullEvent(None, f"mirror {registry.base} failed ({e}): trying the next"))
    raise AssertionError("no registry")


def pull(store: Store, ref_text: str, *, platform: str | None = None, progress: Progress = None,
         credentials: Credentials = None, settings=None, certs_dir: str | None = None, cancel=None) -> str:
    """Pull `ref_text` (a name, name:tag or name@digest); returns the image id.
    credentials: host -> (user, password) | None; None: docker's config.json
    (pass `lambda host: None` for none at all). cancel: a threading.Event; once
    set, the pull stops at its next read and raises (KeyboardInterrupt, or
    Cancelled while still at the manifest and config)."""
    ref = reference.parse_docker_ref(ref_text)
    want = platforms.parse(platform) if platform else platforms.host()
    emit = progress or (lambda e: None)
    registries, transport = _endpoints(ref.domain, credentials, settings, certs_dir, cancel=cancel)
    shown = ref.familiar()
    wanted = ref.digest or ref.tag
    emit(PullEvent(None, f"{wanted}: Pulling from {_shown_path(ref)}"))
    registry, (media_type, data, top_digest) = _manifest(registries, ref, shown, emit)
    digest = top_digest
    if media_type in INDEXES:
        idx = mf.parse_index(data, f"the index of {shown}")
        chosen = platforms.select(idx["manifests"], want, shown)
        media_type, data, digest = registry.manifest(ref.path, chosen["digest"], f"{shown} ({want})")
        if media_type in INDEXES:
            from ..errors import CorruptArchive
            raise CorruptArchive(f"the {want} entry of {shown}'s index is itself an index: not supported")
    m = mf.parse_manifest(data, f"manifest {digest} of {shown}")
    config = registry.blob_bytes(ref.path, m["config"], f"the config of {shown}")  # in memory: no disk yet
    doc = parse_config(config, f"the config of {shown}")
    mf.check_invariants(m, doc, check_history=False)
    diff_ids = doc["rootfs"]["diff_ids"]
    chains = chain_ids(diff_ids) if diff_ids else []
    parents = [None] + chains[:-1]
    with store.lock.shared():
        records, fetched = _layers(store, registry, ref, m["layers"], diff_ids, parents, emit, transport)
        tags = [str(ref)] if ref.tag and not ref.digest else []
        image_id = mf.sha256_digest(config)
        old = store.db.query("SELECT image_id FROM tags WHERE name = ?", (tags[0],)) if tags else []
        known = store.db.query("SELECT 1 FROM images WHERE id = ?", (image_id,))
        # Our blobs are the registry's (keep_plain): the manifest as served names them.
        same = all(r.blob_digest == d["digest"] for r, d in zip(records, m["layers"]))
        with _disk_full(f"the image {shown}", store):
            image_id = add_image(store, config, records, tags, manifest=data if same else None, event="pull",
                                 repo_digests=[(ref.name, top_digest)])
    emit(PullEvent(None, f"Digest: {top_digest}"))
    up_to_date = not fetched and known and (not tags or (old and old[0]["image_id"] == image_id))
    emit(PullEvent(None, f"Status: {'Image is up to date' if up_to_date else 'Downloaded newer image'} for {shown}"))
    return image_id


def _layers(store: Store, registry: Registry, ref, descs: list[dict], diff_ids: list[str],
            parents: list, emit, transport: Transport) -> tuple[list[LayerRecord], int]:
    records: list[LayerRecord | None] = [None] * len(descs)
    todo = []
    for i, (desc, diff_id) in enumerate(zip(descs, diff_ids)):
        short = desc["digest"][7:19]
        known = _known_layer(store, parents[i], diff_id)
        if known:
            records[i] = known
            emit(PullEvent(short, "Already exists"))
        else:
            todo.append(i)
            emit(PullEvent(short, "Pulling fs layer"))
    if not todo:
        return records, 0

    fetched = [0]
    # A layer's rows name its parent (a foreign key): it is recorded only after
    # the layer below it, whichever download finishes first. Lower layers start
    # first (the pool takes them in order), so the wait always ends.
    done = {i: threading.Event() for i in todo}
    recorded: set[int] = set()

    def record_after_parent(i: int, rec: LayerRecord) -> None:
        below = done.get(i - 1)
        while below is not None and not below.wait(0.05):
            if transport.cancel.is_set():
                raise Cancelled("interrupted")
        if below is not None and i - 1 not in recorded:
            raise Cancelled("the layer below failed")
        with store.db.tx() as c:
            record_layers(c, [rec], time.time())

    def fetch(i: int) -> LayerRecord:
        try:
            rec = _fetch(i)
            recorded.add(i)
            return rec
        finally:
            done[i].set()

    def _fetch(i: int) -> LayerRecord:
        desc = descs[i]
        short, size = desc["digest"][7:19], desc["size"]
        what = f"layer blob {desc['digest']} ({i + 1} of {len(descs)}) of {ref.familiar()}"
        step = max(size // 20, 1 << 20)
        mark = [0]

        def on_read(got: int) -> None:
            if got - mark[0] >= step:
                mark[0] = got
                emit(PullEvent(short, "Downloading", got, size))

        # Another pull (another process) fetching this layer: wait for it, then use its work.
        lock = LayerLock(store.root, chain_ids([parents[i], diff_ids[i]])[1] if parents[i] else diff_ids[i])
        lock.acquire(transport.cancel, lambda: emit(PullEvent(short, "Waiting")))
        try:
            known = _known_layer(store, parents[i], diff_ids[i])
            if known:
                emit(PullEvent(short, "Already exists"))
                return known
            with _disk_full(desc["digest"], store):
                rec = ingest_layer(store, lambda: registry.open_blob(ref.path, desc["digest"], size, what, on_read),
                                   parent=parents[i], expected_diff_id=diff_ids[i], expected_digest=desc["digest"],
                                   what=what, keep_plain=desc.get("mediaType") or mf.OCI_LAYER)
                # Known at once (not only with the image): a pull waiting on the lock then finds it.
                # A pull that fails later leaves this whole layer, unused, for the next collection.
                record_after_parent(i, rec)
            fetched[0] += 1
        finally:
            lock.release()
        emit(PullEvent(short, "Pull complete"))
        return rec

    from ..registry.parallel import run_all
    for i, rec in zip(todo, run_all([lambda i=i: fetch(i) for i in todo], PARALLEL, transport, "pull")):
        records[i] = rec
    return records, fetched[0]


@contextmanager
def _disk_full(what: str, store: Store):
    """ENOSPC (and a full quota, and SQLite's "disk is full") as a message
    naming the blob and the store; what was staged is already gone."""
    import errno
    import sqlite3
    try:
        yield
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise StoreError(f"no space left on device while pulling {what} into {store.root}") from None
    except sqlite3.OperationalError as e:
        if "full" not in str(e):
            raise
        raise StoreError(f"no space left on device while pulling {what} into {store.root}") from None


def remote_tags(ref_text: str, *, credentials: Credentials = None, settings=None) -> list[str]:
    """The tags of the repository `ref_text` names (for pull -a)."""
    ref = reference.parse_docker_ref(ref_text)
    registry, _ = _client(ref.domain, credentials, settings)
    return registry.tags(ref.path, ref.repository_familiar())


__all__ = ["PullEvent", "pull", "remote_tags"]
