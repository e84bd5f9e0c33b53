"""dockyard push: an image's stored manifest and blobs, as they are, to a
registry (docs/registry.md, Push).

The store keeps pulled images byte for byte as served and local ones as an
OCI 1.1 manifest with zstd layers, so the pushed manifest digest is the one
the store already records (what `skopeo inspect` reports). Each blob is
checked with HEAD first; one the store knows from another repository of the
same registry (repo_digests: where it was pulled from or pushed to) is
mounted from there; the rest are uploaded, 5 at a time (docker's
max-concurrent-uploads), the config with them; the manifest goes last. An
error or Ctrl-C stops the other uploads at their next block."""
import json

from .. import reference
from ..errors import NotFound
from ..registry.upload import Uploader
from ..store import Store
from . import manifest as mf
from .pull import PullEvent

PARALLEL = 5    # docker's max-concurrent-uploads


class PushEvent(PullEvent):
    """A line of docker's push output: `id` a layer's short id (its diff id's
    first 12 hex digits, as docker) or None for the image; current/total:
    bytes while uploading ("Pushing"). Pull's fields, so one renderer draws both."""


def local_tag(store: Store, ref: reference.Reference) -> str:
    """The image id `ref` (name:tag) names in the store, or docker's message."""
    rows = store.db.query("SELECT image_id FROM tags WHERE name = ?", (str(ref),))
    if not rows:
        raise NotFound(f"An image does not exist locally with the tag: {ref.repository_familiar()}")
    return rows[0]["image_id"]


def _mount_sources(store: Store, ref: reference.Reference) -> dict[str, str]:
    """blob digest -> another repository (path) of the same registry known to hold it."""
    out: dict[str, str] = {}
    prefix = ref.domain + "/"
    rows = store.db.query("SELECT r.name, i.manifest_digest FROM repo_digests r JOIN images i ON i.id = r.image_id "
                          "WHERE r.name LIKE ? ESCAPE '\\' AND r.name != ?",
                          (prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%", ref.name))
    for r in rows:
        try:
            m = json.loads(store.blobs.read_bytes(r["manifest_digest"]))
        except Exception:
            continue   # `check` reports a bad manifest; a push needs no mount
        for d in [m.get("config") or {}, *(m.get("layers") or [])]:
            if isinstance(d, dict) and isinstance(d.get("digest"), str):
                out.setdefault(d["digest"], r["name"][len(prefix):])
    return out


def push(store: Store, ref_text: str, progress=None, *, credentials=None, settings=None,
         certs_dir: str | None = None, chunk_size: int | None = None, cancel=None) -> str:
    """Push the image tagged `ref_text` (name[:tag], :latest by default) to
    its registry; returns the manifest digest. chunk_size: upload in chunks
    of that many bytes (else only blobs over upload.CHUNKED_OVER are).
    cancel: a threading.Event; once set, the uploads stop at their next block."""
    from .pull import _client
    ref = reference.parse(ref_text)
    if ref.digest:
        from ..errors import InvalidArgument
        raise InvalidArgument(f"cannot push a digest reference ({ref_text}): push a tag")
    emit = progress or (lambda e: None)
    emit(PushEvent(None, f"The push refers to repository [{ref.name}]"))
    image_id = local_tag(store, ref)
    manifest_digest = store.db.query("SELECT manifest_digest FROM images WHERE id = ?",
                                     (image_id,))[0]["manifest_digest"]
    data = store.blobs.read_bytes(manifest_digest)
    m = mf.parse_manifest(data, f"the stored manifest of {ref.familiar()}")
    media_type = m.get("mediaType") or mf.OCI_MANIFEST
    config = store.blobs.read_bytes(m["config"]["digest"])
    diff_ids = json.loads(config).get("rootfs", {}).get("diff_ids") or []
    layers = m["layers"]
    for d in [m["config"], *layers]:
        if not store.blobs.has(d["digest"]):
            raise NotFound(f"blob {d['digest']} of {ref.familiar()} is missing from the store: run `dockyard check`")
    registry, transport = _client(ref.domain, credentials, settings, certs_dir, cancel)
    registry.ping()   # once, before the threads: the scheme and the challenge are settled for all of them
    up = Uploader(registry, ref.path)
    sources = _mount_sources(store, ref)
    shorts = [(diff_ids[i] if i < len(diff_ids) else d["digest"])[7:19] for i, d in enumerate(layers)]
    for i in reversed(range(len(layers))):   # docker lists the top layer first
        emit(PushEvent(shorts[i], "Preparing"))

    def send(desc: dict, short: str | None, what: str) -> None:
        digest, size = desc["digest"], desc["size"]
        say = (lambda *a: emit(PushEvent(short, *a))) if short else (lambda *a: None)
        if up.has_blob(digest, what):
            return say("Layer already exists")
        source = sources.get(digest)
        mounted, location = up.start(what, mount=digest, source=source) if source else up.start(what)
        if mounted:
            return say(f"Mounted from {source}")
        step = max(size // 20, 1 << 20)
        mark = [0]

        def sent(n: int) -> None:
            if n - mark[0] >= step or n == size:
                mark[0] = n
                say("Pushing", n, size)
        say("Pushing", 0, size)
        up.upload(location, digest, size, lambda offset: _open_at(store, digest, offset), what, chunk_size, sent)
        say("Pushed")

    jobs, seen = [], set()
    for i in reversed(range(len(layers))):
        d = layers[i]
        if d["digest"] in seen:   # the same blob twice in one image: one upload
            emit(PushEvent(shorts[i], "Layer already exists"))
            continue
        seen.add(d["digest"])
        jobs.append((d, shorts[i], f"layer blob {d['digest']} ({i + 1} of {len(layers)}) of {ref.familiar()}"))
    jobs.append((m["config"], None, f"the config blob {m['config']['digest']} of {ref.familiar()}"))
    _run(jobs, send, transport)
    what = f"the manifest {manifest_digest} of {ref.familiar()}"
    said = up.put_manifest(ref.tag or "latest", data, media_type, what)
    if said and said != manifest_digest:
        from ..errors import RegistryError
        raise RegistryError(f"{what}: the registry stored it as {said}: it changed the manifest's bytes")
    with store.db.tx() as c:
        c.execute("INSERT INTO repo_digests(name, digest, image_id) VALUES (?, ?, ?) "
                  "ON CONFLICT(name, digest) DO UPDATE SET image_id = excluded.image_id",
                  (ref.name, manifest_digest, image_id))
    emit(PushEvent(None, f"{ref.tag or 'latest'}: digest: {manifest_digest} size: {len(data)}"))
    return manifest_digest


def _open_at(store: Store, digest: str, offset: int):
    """The stored blob from `offset`: whole, it is verified as it is read (a
    damaged blob fails naming itself); a later chunk is read as it is (the
    registry checks the whole against its digest at the closing PUT)."""
    if offset == 0:
        return store.blobs.open(digest)
    f = open(store.blobs.path(digest), "rb")
    f.seek(offset)
    return f


def _run(jobs: list, send, transport) -> None:
    """The uploads, PARALLEL at a time; the first error (or Ctrl-C) stops the rest."""
    from ..registry.parallel import run_all
    run_all([lambda job=job: send(*job) for job in jobs], PARALLEL, transport, "push")


def local_tags(store: Store, ref_text: str) -> list[str]:
    """Every tag the store has for `ref_text`'s repository (push -a), sorted."""
    ref = reference.parse(ref_text, default_tag=None)
    rows = store.db.query("SELECT name FROM tags WHERE name LIKE ? ESCAPE '\\'",
                          (ref.name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%",))
    tags = sorted(r["name"][len(ref.name) + 1:] for r in rows if ":" not in r["name"][len(ref.name) + 1:])
    if not tags:
        raise NotFound(f"An image does not exist locally with the tag: {ref.repository_familiar()}")
    return tags


__all__ = ["PushEvent", "local_tags", "push"]
