"""Named volumes: ROOT/volumes/<name>/_data, as docker's local driver keeps them."""
import json
import os
import re
import time

from ..errors import Conflict, InvalidArgument, NotFound
from ..store import Store
from ..store.fsutil import rmtree

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")


def volume_dir(store: Store, name: str) -> str:
    return os.path.join(store.root, "volumes", name)


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidArgument(f'"{name}" includes invalid characters for a local volume name, '
                              "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name


def create(store: Store, name: str | None = None, labels: dict | None = None) -> str:
    if name is None:
        name = os.urandom(32).hex()
    check_name(name)
    data = os.path.join(volume_dir(store, name), "_data")
    os.makedirs(data, exist_ok=True)
    with store.db.tx() as c:
        c.execute("INSERT OR IGNORE INTO volumes(name, created, labels) VALUES (?,?,?)",
                  (name, time.time(), json.dumps(labels or {})))
    return name


def ensure(store: Store, name: str) -> str:
    """The data path of a named volume, created on first use as docker does."""
    create(store, name)
    return os.path.join(volume_dir(store, name), "_data")


def list_volumes(store: Store) -> list[dict]:
    return [{"Name": r["name"], "Driver": "local", "Mountpoint": os.path.join(volume_dir(store, r["name"]), "_data"),
             "CreatedAt": r["created"], "Labels": json.loads(r["labels"])}
            for r in store.db.query("SELECT * FROM volumes ORDER BY name")]


def users(store: Store, name: str) -> list[str]:
    out = []
    for r in store.db.query("SELECT id, config FROM containers"):
        if name in json.loads(r["config"]).get("volumes", []):
            out.append(r["id"])
    return out


def remove(store: Store, name: str, force: bool = False) -> None:
    if not store.db.query("SELECT 1 FROM volumes WHERE name = ?", (name,)):
        raise NotFound(f"no such volume: {name}")
    used = users(store, name)
    if used:
        raise Conflict(f"remove {name}: volume is in use - [{', '.join(used)}]")
    with store.db.tx() as c:
        c.execute("DELETE FROM volumes WHERE name = ?", (name,))
    rmtree(volume_dir(store, name))
