"""Which images the store holds: look-up by reference, id prefix or digest,
tags, removal and the garbage collection of what no image references."""
from dataclasses import dataclass, field

from .. import reference
from ..errors import Conflict, InvalidReference, NotFound
from ..store import Store
from ..store.events import record_event


@dataclass
class ImageRecord:
    id: str
    manifest_digest: str
    top_layer: str | None
    size: int
    created: str | None
    added: float
    tags: list[str] = field(default_factory=list)

    @property
    def short_id(self) -> str:
        return self.id[7:19]


def _record(store: Store, row) -> ImageRecord:
    tags = [r["name"] for r in store.db.query("SELECT name FROM tags WHERE image_id = ? ORDER BY name", (row["id"],))]
    return ImageRecord(row["id"], row["manifest_digest"], row["top_layer"], row["size"], row["created"], row["added"], tags)


def list_images(store: Store) -> list[ImageRecord]:
    rows = store.db.query("SELECT * FROM images ORDER BY added DESC")
    tags: dict[str, list[str]] = {}
    for r in store.db.query("SELECT name, image_id FROM tags ORDER BY name"):
        tags.setdefault(r["image_id"], []).append(r["name"])
    return [ImageRecord(r["id"], r["manifest_digest"], r["top_layer"], r["size"], r["created"], r["added"],
                        tags.get(r["id"], [])) for r in rows]


def get(store: Store, image_id: str) -> ImageRecord:
    rows = store.db.query("SELECT * FROM images WHERE id = ?", (image_id,))
    if not rows:
        raise NotFound(f"no such image: {image_id}")
    return _record(store, rows[0])


def resolve(store: Store, ref: str) -> ImageRecord:
    """A name (short names resolve as podman does), name@digest, a full id or a
    unique id prefix, to one image."""
    ref = ref.strip()
    if not ref:
        raise InvalidReference("invalid reference format: empty image name")
    ids = None
    if reference.looks_like_id(ref) and len(ref.removeprefix("sha256:")) == 64:
        return get(store, "sha256:" + ref.removeprefix("sha256:"))
    try:
        candidates = reference.short_name_candidates(ref)
    except InvalidReference:
        if not reference.looks_like_id(ref):
            raise
        candidates = []
    for cand in candidates:
        if cand.digest:
            rows = store.db.query(
                "SELECT * FROM images WHERE manifest_digest = ? OR id = ? OR id IN "
                "(SELECT image_id FROM repo_digests WHERE name = ? AND digest = ?)",
                (cand.digest, cand.digest, cand.name, cand.digest))
            if rows:
                return _record(store, rows[0])
            continue
        rows = store.db.query("SELECT image_id FROM tags WHERE name = ?", (str(cand),))
        if rows:
            return get(store, rows[0]["image_id"])
    if reference.looks_like_id(ref):
        ids = [r["id"] for r in store.db.query("SELECT id FROM images")]
        return get(store, reference.resolve_id_prefix(ref, ids, kind="image"))
    raise NotFound(f"no such image: {ref}")


def tag(store: Store, source: str, target: str) -> ImageRecord:
    img = resolve(store, source)
    ref = reference.parse(target)
    if ref.digest:
        raise InvalidReference(f"invalid reference format: a tag cannot carry a digest: {target!r}")
    with store.db.tx() as c:
        c.execute("INSERT INTO tags(name, image_id) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id",
                  (str(ref), img.id))
        record_event(c, "image", "tag", img.id, {"name": str(ref)})
    return get(store, img.id)


def containers_using(store: Store, image_id: str) -> list[str]:
    return [r["id"] for r in store.db.query("SELECT id FROM containers WHERE image_id = ?", (image_id,))]


def remove(store: Store, ref: str, force: bool = False) -> list[tuple[str, str]]:
    """docker rmi: returns [("Untagged", name) | ("Deleted", id)]."""
    with store.lock.exclusive():
        img = resolve(store, ref)
        by_name = _named(ref, img)
        users = containers_using(store, img.id)
        out: list[tuple[str, str]] = []
        if by_name and len(img.tags) > 1:
            # One of several tags: only that tag goes.
            with store.db.tx() as c:
                c.execute("DELETE FROM tags WHERE name = ?", (by_name,))
                record_event(c, "image", "untag", img.id, {"name": by_name})
            return [("Untagged", by_name)]
        if not by_name and len(img.tags) > 1 and not force:
            raise Conflict(f"conflict: unable to delete {img.short_id} (must be forced) - image is referenced in "
                           f"multiple repositories: {', '.join(familiar(t) for t in img.tags)}")
        if users and not force:
            what = f'repository reference "{ref}"' if by_name else img.short_id
            raise Conflict(f"conflict: unable to remove {what} (must force) - container {users[0][:12]} "
                           f"is using its referenced image {img.short_id}")
        with store.db.tx() as c:
            for t in img.tags:
                c.execute("DELETE FROM tags WHERE name = ?", (t,))
                out.append(("Untagged", t))
                record_event(c, "image", "untag", img.id, {"name": t})
            if not users:
                c.execute("DELETE FROM images WHERE id = ?", (img.id,))
                out.append(("Deleted", img.id))
                record_event(c, "image", "delete", img.id)
        collect_garbage(store)
        return out


def _named(ref: str, img: ImageRecord) -> str | None:
    """The tag a reference names, if it names one of the image's tags."""
    try:
        for cand in reference.short_name_candidates(ref):
            if str(cand) in img.tags:
                return str(cand)
    except InvalidReference:
        pass
    return None


def familiar(name: str) -> str:
    try:
        return reference.parse(name).familiar()
    except InvalidReference:
        return name


def prune(store: Store, all_unused: bool = False) -> tuple[list[tuple[str, str]], int]:
    """docker image prune: dangling images (no tag), or with all_unused every
    image no container uses. Returns what was removed and the bytes reclaimed."""
    with store.lock.exclusive():
        before = _disk_usage(store)
        out: list[tuple[str, str]] = []
        with store.db.tx() as c:
            used = {r[0] for r in c.execute("SELECT DISTINCT image_id FROM containers")}
            used |= {r[0] for r in c.execute("SELECT image_id FROM build_cache")}  # the build cache keeps its own
            for row in c.execute("SELECT id FROM images").fetchall():
                iid = row[0]
                if iid in used:
                    continue
                tags = [r[0] for r in c.execute("SELECT name FROM tags WHERE image_id = ?", (iid,))]
                if tags and not all_unused:
                    continue
                for t in tags:
                    c.execute("DELETE FROM tags WHERE name = ?", (t,))
                    out.append(("Untagged", t))
                c.execute("DELETE FROM images WHERE id = ?", (iid,))
                out.append(("Deleted", iid))
                record_event(c, "image", "delete", iid)
        collect_garbage(store)
        return out, max(0, before - _disk_usage(store))


def prune_build_cache(store: Store) -> tuple[list[str], int]:
    """docker builder prune: forget every cached build step, and remove the
    intermediate images only the cache kept (untagged, no container uses
    them). Returns the removed image ids and the bytes reclaimed."""
    with store.lock.exclusive():
        before = _disk_usage(store)
        removed: list[str] = []
        with store.db.tx() as c:
            cached = {r[0] for r in c.execute("SELECT image_id FROM build_cache")}
            c.execute("DELETE FROM build_cache")
            used = {r[0] for r in c.execute("SELECT DISTINCT image_id FROM containers")}
            tagged = {r[0] for r in c.execute("SELECT DISTINCT image_id FROM tags")}
            for iid in sorted(cached - used - tagged):
                c.execute("DELETE FROM images WHERE id = ?", (iid,))
                removed.append(iid)
                record_event(c, "image", "delete", iid, {"build_cache": True})
        collect_garbage(store)
        return removed, max(0, before - _disk_usage(store))


def _disk_usage(store: Store) -> int:
    total = 0
    for d in store.blobs.all():
        try:
            total += store.blobs.size(d)
        except NotFound:
            pass
    for r in store.db.query("SELECT size FROM layers"):
        total += r["size"]
    return total


def reachable_layers(store: Store) -> set[str]:
    parents = {r["chain_id"]: r["parent"] for r in store.db.query("SELECT chain_id, parent FROM layers")}
    keep: set[str] = set()
    for r in store.db.query("SELECT top_layer FROM images WHERE top_layer IS NOT NULL"):
        layer = r["top_layer"]
        while layer and layer not in keep:
            keep.add(layer)
            layer = parents.get(layer)
    return keep


def referenced_blobs(store: Store, layers: set[str]) -> set[str]:
    keep: set[str] = set()
    for r in store.db.query("SELECT id, manifest_digest FROM images"):
        keep.add(r["id"])
        keep.add(r["manifest_digest"])
    diff_ids = {r["diff_id"] for r in store.db.query("SELECT chain_id, diff_id FROM layers") if r["chain_id"] in layers}
    for r in store.db.query("SELECT diff_id, digest FROM layer_blobs"):
        if r["diff_id"] in diff_ids:
            keep.add(r["digest"])
    return keep


def collect_garbage(store: Store) -> tuple[int, int]:
    """Remove layers and blobs no image references: rows first, then files, so a
    crash in between leaves only unreferenced files for the next collection.
    The caller holds the store's exclusive lock."""
    keep_layers = reachable_layers(store)
    with store.db.tx() as c:
        for r in c.execute("SELECT chain_id FROM layers").fetchall():
            if r[0] not in keep_layers:
                c.execute("UPDATE layers SET parent = NULL WHERE parent = ?", (r[0],))
        for r in c.execute("SELECT chain_id FROM layers").fetchall():
            if r[0] not in keep_layers:
                c.execute("DELETE FROM layers WHERE chain_id = ?", (r[0],))
        c.execute("DELETE FROM layer_blobs WHERE diff_id NOT IN (SELECT diff_id FROM layers)")
    keep_blobs = referenced_blobs(store, keep_layers)
    layers_removed = blobs_removed = 0
    for chain in store.layers.all():
        if chain not in keep_layers:
            store.layers.remove(chain)
            layers_removed += 1
    for d in list(store.blobs.all()):
        if d not in keep_blobs:
            store.blobs.delete(d)
            blobs_removed += 1
    return layers_removed, blobs_removed
