"""The build cache: a step's key (its parent's key, the instruction after
expansion, the ARG and ENV values it uses, a hash of COPY/ADD's files) maps
to the untagged intermediate image holding the state after it (the table
build_cache)."""
import hashlib
import json
import os
import stat
import time

from ..store import Store


def key(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True).encode())
        h.update(b"\0")
    return h.hexdigest()


def get(store: Store, key: str) -> str | None:
    rows = store.db.query("SELECT image_id FROM build_cache WHERE key = ?", (key,))
    if not rows:
        return None
    iid = rows[0]["image_id"]
    if not store.db.query("SELECT 1 FROM images WHERE id = ?", (iid,)):
        return None
    return iid


def put(store: Store, key: str, image_id: str) -> None:
    with store.db.tx() as c:
        c.execute("INSERT INTO build_cache(key, image_id, created) VALUES (?,?,?) "
                  "ON CONFLICT(key) DO UPDATE SET image_id = excluded.image_id, created = excluded.created",
                  (key, image_id, time.time()))



def content_key(inst, sources, iter_tree) -> str:
    """A hash of what COPY/ADD selects: heredocs, or for each source root (from
    Builder._sources) every file under it (metadata without mtime, contents)."""
    h = hashlib.sha256()
    if inst.heredocs:
        for hd in inst.heredocs:
            h.update(json.dumps([hd.name, hd.content, hd.expand]).encode())
        return h.hexdigest()
    for root_rel, host, st, view in sources:
        if view == "url":
            h.update(root_rel.encode() + b"\0url")
            continue
        h.update(root_rel.encode() + b"\0")
        for rel, p, s in iter_tree(root_rel, host, st, view):
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
