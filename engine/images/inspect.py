"""What `inspect` and `history` show about an image, shaped like docker's."""
import json
from dataclasses import dataclass

from .. import reference
from ..store import Store
from . import manifest as mf
from .catalog import ImageRecord, familiar


@dataclass
class HistoryEntry:
    id: str                 # the image id on the top entry, "<missing>" below, as docker shows
    created: str | None
    created_by: str
    size: int
    comment: str
    empty_layer: bool


def config_of(store: Store, img: ImageRecord) -> dict:
    return json.loads(store.blobs.read_bytes(img.id))


def layer_chain(store: Store, img: ImageRecord) -> list[dict]:
    """The image's layers bottom-up, with their unpacked paths."""
    out = []
    layer = img.top_layer
    while layer:
        row = store.db.query("SELECT * FROM layers WHERE chain_id = ?", (layer,))[0]
        out.append({"chain_id": row["chain_id"], "diff_id": row["diff_id"], "size": row["size"],
                    "diff_size": row["diff_size"], "files": row["files"], "path": store.layers.path(layer)})
        layer = row["parent"]
    return out[::-1]


def inspect_image(store: Store, img: ImageRecord) -> dict:
    cfg = config_of(store, img)
    chain = layer_chain(store, img)
    repo_digests = [f"{reference.parse(t).repository_familiar()}@{img.manifest_digest}" for t in img.tags]
    for r in store.db.query("SELECT name, digest FROM repo_digests WHERE image_id = ?", (img.id,)):
        # what it was pulled by: for an index, the index's digest (docker's RepoDigests)
        repo_digests.append(f"{reference.parse(r['name']).repository_familiar()}@{r['digest']}")
    manifest = mf.parse_manifest(store.blobs.read_bytes(img.manifest_digest))
    return {
        "Id": img.id,
        "RepoTags": [familiar(t) for t in img.tags],
        "RepoDigests": sorted(set(repo_digests)),
        "Parent": "",
        "Comment": cfg.get("comment", ""),
        "Created": cfg.get("created"),
        "Author": cfg.get("author", ""),
        "Config": cfg.get("config", {}),
        "Architecture": cfg.get("architecture"),
        "Variant": cfg.get("variant"),
        "Os": cfg.get("os"),
        "Size": img.size,
        "GraphDriver": {"Name": "overlay", "Data": {
            "LowerDir": ":".join(l["path"] for l in reversed(chain))}},
        "RootFS": {"Type": "layers", "Layers": cfg.get("rootfs", {}).get("diff_ids", [])},
        "Manifest": {"Digest": img.manifest_digest, "MediaType": manifest.get("mediaType", mf.OCI_MANIFEST),
                     "Layers": [{"Digest": l["digest"], "MediaType": l["mediaType"], "Size": l["size"]}
                                for l in manifest.get("layers", [])]},
        "Metadata": {"LastTagTime": ""},
    }


def history(store: Store, img: ImageRecord) -> list[HistoryEntry]:
    cfg = config_of(store, img)
    chain = layer_chain(store, img)
    entries = cfg.get("history") or [{} for _ in chain]
    sizes = iter(l["size"] for l in chain)
    out = []
    for h in entries:
        empty = bool(h.get("empty_layer"))
        out.append(HistoryEntry("<missing>", h.get("created"), h.get("created_by", ""),
                                0 if empty else next(sizes, 0), h.get("comment", ""), empty))
    out.reverse()
    if out:
        out[0].id = img.id
    return out
