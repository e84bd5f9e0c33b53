"""Removal of a --rm container by its monitor when it exits. Kept to the
database and the directory: the monitor must not load the whole engine."""
import json
import os
import shutil
import time


def remove_container(container_dir: str) -> None:
    import sqlite3
    cid = os.path.basename(container_dir.rstrip("/"))
    root = os.path.dirname(os.path.dirname(os.path.abspath(container_dir)))
    try:
        _forget(os.path.join(root, "db.sqlite3"), cid, migrate=False)  # the usual case: the schema is there
    except sqlite3.OperationalError:
        _forget(os.path.join(root, "db.sqlite3"), cid, migrate=True)
    shutil.rmtree(container_dir, ignore_errors=True)


def _forget(path: str, cid: str, migrate: bool) -> None:
    from ..store.db import Database
    db = Database(path, migrate=migrate)
    try:
        with db.tx() as c:
            c.execute("DELETE FROM containers WHERE id = ?", (cid,))
            c.execute("INSERT INTO events(time, type, action, id, attrs) VALUES (?,?,?,?,?)",
                      (time.time(), "container", "destroy", cid, json.dumps({"autoremove": True})))
    finally:
        db.close()
