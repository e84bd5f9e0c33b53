"""dockyard check: verify the whole store and say exactly what is wrong;
--repair removes what cannot be trusted (and the images that need it)."""
from dataclasses import dataclass, field

from ..errors import DigestMismatch, DockyardError
from ..layers.verify import verify_layer_dir
from ..store import Store
from ..store.events import record_event
from . import manifest as mf
from .catalog import collect_garbage, reachable_layers, referenced_blobs
from .ingest import parse_config


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)       # harmless: leftovers a collection removes
    repaired: list[str] = field(default_factory=list)
    blobs: int = 0
    layers: int = 0
    images: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def check(store: Store, repair: bool = False) -> CheckReport:
    lock = store.lock.exclusive() if repair else store.lock.shared()
    with lock:
        rep = CheckReport()
        bad_blobs = _check_blobs(store, rep)
        bad_layers = _check_layers(store, rep, bad_blobs)
        bad_images = _check_images(store, rep, bad_blobs, bad_layers)
        _check_leftovers(store, rep)
        if repair and (rep.problems or rep.notes):
            _repair(store, rep, bad_blobs, bad_layers, bad_images)
        return rep


def _check_blobs(store: Store, rep: CheckReport) -> set[str]:
    bad = set()
    for d in store.blobs.all():
        rep.blobs += 1
        try:
            store.blobs.verify(d)
        except DockyardError as e:
            rep.problems.append(str(e))
            bad.add(d)
    return bad


def _check_layers(store: Store, rep: CheckReport, bad_blobs: set[str]) -> set[str]:
    bad = set()
    blobs = {}
    for r in store.db.query("SELECT diff_id, digest FROM layer_blobs"):
        blobs.setdefault(r["diff_id"], []).append(r["digest"])
    for r in store.db.query("SELECT chain_id, diff_id FROM layers"):
        rep.layers += 1
        chain, diff_id = r["chain_id"], r["diff_id"]
        if not store.layers.exists(chain):
            rep.problems.append(f"layer {chain}: its unpacked directory is missing")
            bad.add(chain)
            continue
        usable = [d for d in blobs.get(diff_id, []) if d not in bad_blobs and store.blobs.has(d)]
        if not usable:
            rep.problems.append(f"layer {chain}: no intact blob holds its diff id {diff_id}")
            bad.add(chain)
            continue
        with store.blobs.open(usable[0]) as f:
            got, problems = verify_layer_dir(f, store.layers.path(chain))
        if got and got != diff_id:
            rep.problems.append(f"layer {chain}: blob {usable[0]} holds diff id {got}, not {diff_id}")
            bad.add(chain)
        for p in problems:
            rep.problems.append(f"layer {chain}: {p}")
            bad.add(chain)
    return bad


def _check_images(store: Store, rep: CheckReport, bad_blobs: set[str], bad_layers: set[str]) -> set[str]:
    bad = set()
    parents = {r["chain_id"]: (r["parent"], r["diff_id"]) for r in store.db.query("SELECT * FROM layers")}
    for r in store.db.query("SELECT * FROM images"):
        rep.images += 1
        iid = r["id"]
        try:
            for d in (iid, r["manifest_digest"]):
                if d in bad_blobs or not store.blobs.has(d):
                    raise DigestMismatch(f"blob {d} is missing or corrupt")
            cfg = parse_config(store.blobs.read_bytes(iid))
            man = mf.parse_manifest(store.blobs.read_bytes(r["manifest_digest"]))
            if man["config"]["digest"] != iid:
                raise DigestMismatch(f"its manifest names config {man['config']['digest']}")
            for desc in man["layers"]:
                if desc["digest"] in bad_blobs or not store.blobs.has(desc["digest"]):
                    raise DigestMismatch(f"its manifest names layer blob {desc['digest']}, which is missing or corrupt")
            chain, layer = [], r["top_layer"]
            while layer:
                if layer in bad_layers or layer not in parents:
                    raise DigestMismatch(f"layer {layer} is missing or corrupt")
                chain.append(parents[layer][1])
                layer = parents[layer][0]
            if chain[::-1] != cfg["rootfs"]["diff_ids"]:
                raise DigestMismatch("its layers do not match its config's diff ids")
        except DockyardError as e:
            rep.problems.append(f"image {iid}: {e}")
            bad.add(iid)
    return bad


def _check_leftovers(store: Store, rep: CheckReport) -> None:
    keep_layers = reachable_layers(store)
    for chain in store.layers.all():
        if chain not in keep_layers:
            rep.notes.append(f"layer directory {chain} is not used by any image (left by interrupted work)")
    keep_blobs = referenced_blobs(store, keep_layers)
    for d in store.blobs.all():
        if d not in keep_blobs:
            rep.notes.append(f"blob {d} is not referenced by any image (left by interrupted work)")


def _repair(store: Store, rep: CheckReport, bad_blobs, bad_layers, bad_images) -> None:
    for d in bad_blobs:
        store.blobs.delete(d)
        rep.repaired.append(f"removed corrupt blob {d}")
    with store.db.tx() as c:
        for chain in bad_layers:
            c.execute("DELETE FROM layer_blobs WHERE diff_id = (SELECT diff_id FROM layers WHERE chain_id = ?)", (chain,))
        for iid in bad_images:
            names = [x[0] for x in c.execute("SELECT name FROM tags WHERE image_id = ?", (iid,))]
            c.execute("DELETE FROM tags WHERE image_id = ?", (iid,))
            c.execute("DELETE FROM images WHERE id = ?", (iid,))
            record_event(c, "image", "delete", iid, {"reason": "check --repair", "tags": names})
            rep.repaired.append(f"removed image {iid}" + (f" ({', '.join(names)})" if names else ""))
    for chain in bad_layers:
        store.layers.remove(chain)
    layers, blobs = collect_garbage(store)
    if layers or blobs:
        rep.repaired.append(f"removed {layers} unused layer directories and {blobs} unreferenced blobs")
