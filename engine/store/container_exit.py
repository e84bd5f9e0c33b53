"""What a container's monitor writes to the store when the container exits:
docker's `die` event, and for --rm the container's row and directory removed.
Kept to the database and the directory (the monitor must not load the whole
engine); here, in the store, so that the runtime writes no record through
the containers code above it."""
import json
import os
import shutil
import time


def remove_container(container_dir: str, exit_code: int | None = None, name: str | None = None) -> None:
    """The --rm container's row (after its `die` event) and its directory."""
    import sqlite3
    cid = os.path.basename(container_dir.rstrip("/"))
    root = os.path.dirname(os.path.dirname(os.path.abspath(container_dir)))
    try:
        _forget(os.path.join(root, "db.sqlite3"), cid, exit_code, name, migrate=False)  # the schema is there
    except sqlite3.OperationalError:
        _forget(os.path.join(root, "db.sqlite3"), cid, exit_code, name, migrate=True)
    shutil.rmtree(container_dir, ignore_errors=True)


def release_addresses(container_dir: str) -> None:
    """A bridge container's addresses (engine/network/ipam.py), free again."""
    from .db import Database
    cid = os.path.basename(container_dir.rstrip("/"))
    root = os.path.dirname(os.path.dirname(os.path.abspath(container_dir)))
    db = Database(os.path.join(root, "db.sqlite3"), migrate=False)
    try:
        with db.tx() as c:
            c.execute("DELETE FROM endpoints WHERE container = ?", (cid,))
    finally:
        db.close()


def record_die(container_dir: str, exit_code: int, name: str | None = None) -> None:
    """docker's `die` event of a container that stays (not --rm)."""
    from .db import Database
    cid = os.path.basename(container_dir.rstrip("/"))
    root = os.path.dirname(os.path.dirname(os.path.abspath(container_dir)))
    db = Database(os.path.join(root, "db.sqlite3"), migrate=False)
    try:
        with db.tx() as c:
            _die(c, cid, exit_code, name)
    finally:
        db.close()


def _die(c, cid: str, exit_code: int | None, name: str | None) -> None:
    attrs = {"exitCode": str(exit_code if exit_code is not None else 0)}
    if name:
        attrs["name"] = name
    c.execute("INSERT INTO events(time, type, action, id, attrs) VALUES (?,?,?,?,?)",
              (time.time(), "container", "die", cid, json.dumps(attrs)))
    # its addresses on bridge networks are free again (engine/network/ipam.py)
    c.execute("DELETE FROM endpoints WHERE container = ?", (cid,))


def _forget(path: str, cid: str, exit_code, name, migrate: bool) -> None:
    from .db import Database
    db = Database(path, migrate=migrate)
    try:
        with db.tx() as c:
            _die(c, cid, exit_code, name)
            c.execute("DELETE FROM containers WHERE id = ?", (cid,))
            attrs = {"autoremove": True, **({"name": name} if name else {})}
            c.execute("INSERT INTO events(time, type, action, id, attrs) VALUES (?,?,?,?,?)",
                      (time.time(), "container", "destroy", cid, json.dumps(attrs)))
    finally:
        db.close()
