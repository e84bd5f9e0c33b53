"""Container records in the database, and finding one by name, id or prefix."""
import json
import os
from dataclasses import dataclass

from .. import reference
from ..errors import NotFound
from ..store import Store


@dataclass
class ContainerRecord:
    id: str
    name: str
    image_id: str
    created: float
    state: str                 # last state the engine recorded
    config: dict               # {"options": RunOptions as a dict, "image": the reference given, …}
    dir: str
    builder: str | None = None  # the lease of the build whose RUN step this is (containers/builders.py)

    @property
    def short_id(self) -> str:
        return self.id[:12]


def container_dir(store: Store, cid: str) -> str:
    return os.path.join(store.root, "containers", cid)


def _record(store: Store, row) -> ContainerRecord:
    return ContainerRecord(row["id"], row["name"], row["image_id"], row["created"], row["state"],
                           json.loads(row["config"]), container_dir(store, row["id"]), row["builder"])


def all_records(store: Store, builders: bool = False) -> list[ContainerRecord]:
    """The user's containers, newest first; with `builders`, builds' RUN
    containers too (docker never lists those)."""
    where = "" if builders else " WHERE builder IS NULL"
    return [_record(store, r) for r in store.db.query(f"SELECT * FROM containers{where} ORDER BY created DESC")]


def find(store: Store, ref: str) -> ContainerRecord:
    """A name (with or without docker's leading /), a full id or a unique prefix.
    A build's container is found by its full id only (the builder's own use)."""
    ref = ref.strip()
    name = ref.lstrip("/")
    rows = store.db.query("SELECT * FROM containers WHERE (name = ? AND builder IS NULL) OR id = ?", (name, ref))
    if rows:
        return _record(store, rows[0])
    if ref and all(c in "0123456789abcdef" for c in ref):
        ids = [r["id"] for r in store.db.query("SELECT id FROM containers WHERE id LIKE ? AND builder IS NULL",
                                               (ref + "%",))]
        if ids:
            cid = reference.resolve_id_prefix(ref, ids, kind="container")
            return _record(store, store.db.query("SELECT * FROM containers WHERE id = ?", (cid,))[0])
    raise NotFound(f"no such container: {ref}")


def set_state(store: Store, cid: str, state: str) -> None:
    with store.db.tx() as c:
        c.execute("UPDATE containers SET state = ? WHERE id = ?", (state, cid))


def update_config(store: Store, cid: str, config: dict) -> None:
    with store.db.tx() as c:
        c.execute("UPDATE containers SET config = ? WHERE id = ?", (json.dumps(config), cid))
