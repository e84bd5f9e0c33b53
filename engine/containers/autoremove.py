"""Removal of a --rm container by its monitor when it exits. Kept to the
database and the directory: the monitor must not load the whole engine."""
import json
import os
import shutil
import time


def remove_container(container_dir: str) -> None:
    from ..store.db import Database
    cid = os.path.basename(container_dir.rstrip("/"))
    root = os.path.dirname(os.path.dirname(os.path.abspath(container_dir)))
    db = Database(os.path.join(root, "db.sqlite3"), migrate=False)
    try:
        with db.tx() as c:
            c.execute("DELETE FROM containers WHERE id = ?", (cid,))
            c.execute("INSERT INTO events(time, type, action, id, attrs) VALUES (?,?,?,?,?)",
                      (time.time(), "container", "destroy", cid, json.dumps({"autoremove": True})))
    finally:
        db.close()
    shutil.rmtree(container_dir, ignore_errors=True)
