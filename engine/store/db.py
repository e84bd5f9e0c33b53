"""SQLite metadata (WAL). One connection per thread; every change is one
transaction, so a kill -9 leaves either the old or the new state."""
import os
import sqlite3
import threading
from contextlib import contextmanager

SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE layers(
    chain_id   TEXT PRIMARY KEY,
    diff_id    TEXT NOT NULL,
    parent     TEXT REFERENCES layers(chain_id),
    diff_size  INTEGER NOT NULL,     -- bytes of the uncompressed tar
    size       INTEGER NOT NULL,     -- bytes of file content once unpacked
    files      INTEGER NOT NULL,
    created    REAL NOT NULL
);
CREATE INDEX layers_parent ON layers(parent);
-- the stored, maybe compressed, blobs known to hold a diff id
CREATE TABLE layer_blobs(
    diff_id    TEXT NOT NULL,
    digest     TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL,
    PRIMARY KEY(diff_id, digest)
);
CREATE TABLE images(
    id              TEXT PRIMARY KEY,          -- sha256 of the config bytes
    manifest_digest TEXT NOT NULL,
    top_layer       TEXT REFERENCES layers(chain_id),
    size            INTEGER NOT NULL,
    created         TEXT,                      -- from the config
    added           REAL NOT NULL
);
CREATE TABLE tags(
    name     TEXT PRIMARY KEY,                 -- full normalised reference
    image_id TEXT NOT NULL REFERENCES images(id)
);
CREATE INDEX tags_image ON tags(image_id);
CREATE TABLE containers(
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    image_id TEXT NOT NULL REFERENCES images(id),
    created  REAL NOT NULL,
    state    TEXT NOT NULL,
    config   TEXT NOT NULL DEFAULT '{}',
    builder  TEXT                     -- a build's RUN container: that build's lease (engine/containers/builders.py)
);
CREATE INDEX containers_image ON containers(image_id);
CREATE TABLE volumes(
    name    TEXT PRIMARY KEY,
    created REAL NOT NULL,
    labels  TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE events(
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    time   REAL NOT NULL,
    type   TEXT NOT NULL,
    action TEXT NOT NULL,
    id     TEXT NOT NULL,
    attrs  TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE networks(
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    driver   TEXT NOT NULL,
    bridge   TEXT NOT NULL UNIQUE,    -- the Linux bridge's name
    subnet   TEXT NOT NULL UNIQUE,    -- CIDR
    gateway  TEXT NOT NULL,
    internal INTEGER NOT NULL DEFAULT 0,
    created  REAL NOT NULL,
    options  TEXT NOT NULL DEFAULT '{}'
);
-- a running container's address on a network (engine/network/ipam.py): the
-- UNIQUE pair is what makes an address never given twice, whoever asks at once
CREATE TABLE endpoints(
    container TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    network   TEXT NOT NULL REFERENCES networks(id),
    ip        TEXT NOT NULL,
    mac       TEXT NOT NULL,
    created   REAL NOT NULL,
    PRIMARY KEY(container, network),
    UNIQUE(network, ip)
);
"""

# schema 3's tables, as SCHEMA makes them (IF NOT EXISTS: a store marked older than it is may have them)
NETWORK_TABLES = [s.strip().replace("CREATE TABLE ", "CREATE TABLE IF NOT EXISTS ")
                  for s in ("CREATE TABLE networks" + SCHEMA.split("CREATE TABLE networks", 1)[1]).split(";")
                  if s.strip()]

# From schema N-1 to N, in order; each runs in the transaction that sets user_version.
MIGRATIONS = {
    # A build's containers are marked, so that they are never the user's and
    # those of a dead build are removed. The RUN containers builds before
    # this left behind carry the label dockyard.build=1 and no build holds
    # them any more: marked with a lease nobody holds, they go at the next start.
    2: ["ALTER TABLE containers ADD COLUMN builder TEXT",
        "UPDATE containers SET builder = 'unleased' "
        "WHERE json_extract(config, '$.options.labels.\"dockyard.build\"') = '1'"],
    # Bridge networks and the addresses their containers hold (engine/network).
    3: NETWORK_TABLES,
}

# Added after roots were first made: run on every open, so it is idempotent.
EXTRA_SCHEMA = """
-- per-layer file index (engine/images/fileindex.py): keyed by diff id, since a
-- layer's files depend only on its tar; dropped with the last layer row using it
CREATE TABLE IF NOT EXISTS layer_files(
    diff_id  TEXT PRIMARY KEY,
    format   INTEGER NOT NULL,
    entries  INTEGER NOT NULL,
    data     BLOB NOT NULL           -- zstd-compressed columns
);
-- the build cache (engine/build): a step's key -> the untagged intermediate
-- image holding the state after it; such images are hidden from `images`
-- without -a and kept by `image prune`, as docker's classic builder does
CREATE TABLE IF NOT EXISTS build_cache(
    key      TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,
    created  REAL NOT NULL
);
-- the digests an image was pulled (later pushed) by, per repository, as docker's
-- RepoDigests: a tag's manifest list or index digest is not the image's own manifest
-- digest, and a pull by digest leaves no tag (engine/images/pull.py)
CREATE TABLE IF NOT EXISTS repo_digests(
    name     TEXT NOT NULL,             -- repository, normalised: docker.io/library/busybox
    digest   TEXT NOT NULL,             -- what the registry served for it: index or manifest
    image_id TEXT NOT NULL,
    PRIMARY KEY(name, digest)
);
CREATE INDEX IF NOT EXISTS repo_digests_image ON repo_digests(image_id);
CREATE TRIGGER IF NOT EXISTS repo_digests_gc AFTER DELETE ON images
BEGIN
    DELETE FROM repo_digests WHERE image_id = OLD.id;
END;
CREATE TRIGGER IF NOT EXISTS layer_files_gc AFTER DELETE ON layers
WHEN NOT EXISTS (SELECT 1 FROM layers WHERE diff_id = OLD.diff_id)
BEGIN
    DELETE FROM layer_files WHERE diff_id = OLD.diff_id;
END;
"""


def _statements(script: str) -> list[str]:
    """Split a script into statements; a trigger's body keeps its own semicolons."""
    out, cur = [], ""
    for line in script.splitlines(keepends=True):
        if line.lstrip().startswith("--"):
            continue
        cur += line
        if sqlite3.complete_statement(cur):
            out.append(cur.strip())
            cur = ""
    return out


class Database:
    def __init__(self, path: str, migrate: bool = True):
        """`migrate=False`: the schema is known to be there (a monitor removing
        its --rm container's row): no write transaction to check it."""
        self.path = path
        self._local = threading.local()
        if migrate:
            self._migrate()

    def conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            c.row_factory = sqlite3.Row
            c.execute("PRAGMA busy_timeout = 60000")
            c.execute("PRAGMA foreign_keys = ON")
            c.execute("PRAGMA synchronous = FULL")
            self._local.conn = c
        return c

    def _migrate(self) -> None:
        new = not os.path.exists(self.path)
        c = self.conn()
        if new:
            os.chmod(self.path, 0o600)
        c.execute("PRAGMA journal_mode = WAL")
        with self.tx() as c:
            version = c.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version > SCHEMA_VERSION:
                from ..errors import StoreError
                raise StoreError(f"{self.path} was written by a newer dockyard (schema {version}); upgrade dockyard")
            elif version < SCHEMA_VERSION:
                for v in range(version + 1, SCHEMA_VERSION + 1):
                    for stmt in MIGRATIONS[v]:
                        c.execute(stmt)
                c.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            for stmt in _statements(EXTRA_SCHEMA):
                c.execute(stmt)

    @contextmanager
    def tx(self):
        """A write transaction, taken at once (BEGIN IMMEDIATE) so that two processes
        never both read-then-write the same rows."""
        c = self.conn()
        if c.in_transaction:  # nested: join the outer transaction
            yield c
            return
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        else:
            c.execute("COMMIT")

    def query(self, sql: str, args=()) -> list[sqlite3.Row]:
        return self.conn().execute(sql, args).fetchall()

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None
