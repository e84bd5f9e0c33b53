"""Bringing images into the store: each layer blob is read once, and in that one
pass it is hashed, stored (compressed blobs as they come, plain tars compressed
with zstd) and unpacked into its own layer directory. Files land first (blobs,
layer dirs, by rename); the database rows that make them visible come last, in
one transaction, so a crash leaves only unreferenced files that a sweep removes."""
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import CorruptArchive, DigestMismatch
from ..layers import apply_layer, chain_ids, compression
from ..store import Store
from ..store.blobs import CHUNK
from ..store.events import record_event
from . import fileindex
from . import manifest as mf


@dataclass
class LayerRecord:
    chain_id: str
    diff_id: str
    parent: str | None
    diff_size: int
    size: int
    files: int
    blob_digest: str
    blob_media_type: str
    blob_size: int
    index: bytes | None = None   # the encoded file index (fileindex.py), recorded by add_image


class _Tee(io.RawIOBase):
    """Reads from src, hashes the bytes (to check them against the source's
    digest) and copies them into sink."""

    def __init__(self, src: BinaryIO, sink):
        import hashlib
        self._src = src
        self._sink = sink
        self.hash = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self._src.read(len(b))
        n = len(data)
        if n:
            b[:n] = data
            self.hash.update(data)
            self._sink.write(data)
            self.size += n
        return n

    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def _peek(src: BinaryIO) -> tuple[BinaryIO, bytes]:
    buffered = io.BufferedReader(src, CHUNK) if not hasattr(src, "peek") else src
    return buffered, buffered.peek(8)[:8]


def ingest_layer(store: Store, open_blob: Callable[[], BinaryIO], *, parent: str | None,
                 expected_diff_id: str | None, expected_digest: str | None = None,
                 what: str = "layer", keep_plain: str | None = None) -> LayerRecord:
    """Store and unpack one layer blob (whatever its compression). Checks the
    blob against expected_digest and its uncompressed tar against
    expected_diff_id; on any error nothing of it stays in the store.
    keep_plain: a media type under which a plain tar is kept as it came (a
    pulled manifest names that blob) instead of zstd-compressed."""
    if expected_diff_id:
        known = _known_layer(store, parent, expected_diff_id)
        if known:
            return known
    staged = store.layers.stage()
    try:
        with open_blob() as raw:
            src, head = _peek(raw)
            kind = compression.detect(head)
            writer = store.blobs.writer(what=what)
            with writer:
                if kind == "none" and not keep_plain:
                    # Plain tars are kept zstd-compressed: a third of the disk for little time.
                    comp = compression.compressor(writer, "zstd")
                    tee = _Tee(src, comp)
                    media_type = mf.OCI_LAYER_ZSTD
                else:
                    comp = None
                    tee = _Tee(src, writer)
                    media_type = keep_plain if kind == "none" else compression.media_type_for(kind)
                try:
                    result = apply_layer(io.BufferedReader(tee, CHUNK), staged)
                except CorruptArchive:
                    # A wrong byte in a compressed blob breaks the decompressor before the digest
                    # can speak: read the rest, and if the blob is not what its digest says, say that.
                    if expected_digest:
                        while tee.read(CHUNK):
                            pass
                        if tee.digest() != expected_digest:
                            raise DigestMismatch(f"{what} does not match its digest: expected {expected_digest}, "
                                                 f"got {tee.digest()}") from None
                    raise
                while tee.read(CHUNK):  # trailing bytes belong to the blob too
                    pass
                if comp is not None:
                    comp.close()
                if expected_digest and tee.digest() != expected_digest:
                    raise DigestMismatch(f"{what} does not match its digest: expected {expected_digest}, got {tee.digest()}")
                if expected_diff_id and result.diff_id != expected_diff_id:
                    raise DigestMismatch(f"{what} does not match its diff id: the image config says "
                                         f"{expected_diff_id}, its content is {result.diff_id}")
                blob_digest = writer.commit()
                blob_size = writer.size
        chain = chain_ids([parent, result.diff_id])[1] if parent else result.diff_id
        store.layers.commit(staged, chain)
        staged = None
        return LayerRecord(chain, result.diff_id, parent, result.diff_size, result.size, result.files,
                           blob_digest, media_type, blob_size, fileindex.encode(result.entries))
    finally:
        if staged:
            from ..store.fsutil import remove_tree
            remove_tree(staged, store.tmp_dir)


def _known_layer(store: Store, parent: str | None, diff_id: str) -> LayerRecord | None:
    chain = chain_ids([parent, diff_id])[1] if parent else diff_id
    row = store.db.query(
        "SELECT l.*, b.digest, b.media_type AS bmt, b.size AS bsize FROM layers l "
        "JOIN layer_blobs b ON b.diff_id = l.diff_id WHERE l.chain_id = ? LIMIT 1", (chain,))
    if not row or not store.layers.exists(chain) or not store.blobs.has(row[0]["digest"]):
        return None
    r = row[0]
    return LayerRecord(chain, diff_id, parent, r["diff_size"], r["size"], r["files"], r["digest"], r["bmt"], r["bsize"])


def parse_config(config: bytes, what: str = "image config") -> dict:
    """The config as a dict, its rootfs.diff_ids checked."""
    doc = mf.parse_config(config, what)
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers" or not isinstance(rootfs.get("diff_ids"), list):
        raise CorruptArchive(f"{what} has no rootfs.diff_ids list")
    for d in rootfs["diff_ids"]:
        if not mf.is_digest(d):
            raise CorruptArchive(f"{what} lists an invalid diff id: {d!r}")
    return doc


def record_layers(c, layers: list[LayerRecord], now: float) -> None:
    """The rows that make unpacked layers known (within the caller's transaction)."""
    for l in layers:
        c.execute("INSERT OR IGNORE INTO layers(chain_id, diff_id, parent, diff_size, size, files, created) "
                  "VALUES (?,?,?,?,?,?,?)", (l.chain_id, l.diff_id, l.parent, l.diff_size, l.size, l.files, now))
        c.execute("INSERT OR IGNORE INTO layer_blobs(diff_id, digest, media_type, size) VALUES (?,?,?,?)",
                  (l.diff_id, l.blob_digest, l.blob_media_type, l.blob_size))
        if l.index is not None:
            fileindex.record(c, l.diff_id, l.index, l.files)


def add_image(store: Store, config: bytes, layers: list[LayerRecord], tags: list[str],
              manifest: bytes | None = None, event: str = "load",
              repo_digests: list[tuple[str, str]] = ()) -> str:
    """Write the config and manifest blobs, then make the image and its tags
    visible in one transaction. Returns the image id (the config's digest).
    repo_digests: (repository, digest) it was pulled by (docker's RepoDigests)."""
    doc = parse_config(config)
    diff_ids = doc["rootfs"]["diff_ids"]
    if [l.diff_id for l in layers] != diff_ids:
        raise CorruptArchive("the image's layers do not match its config's rootfs.diff_ids")
    image_id = store.blobs.put_bytes(config, what="image config")
    if manifest is None:
        manifest = mf.build_manifest(
            mf.descriptor(mf.OCI_CONFIG, config),
            [mf.descriptor(l.blob_media_type, l.blob_digest, l.blob_size) for l in layers])
    manifest_digest = store.blobs.put_bytes(manifest, what="image manifest")
    now = time.time()
    with store.db.tx() as c:
        record_layers(c, layers, now)
        size = sum(l.size for l in layers)
        top = layers[-1].chain_id if layers else None
        c.execute("INSERT INTO images(id, manifest_digest, top_layer, size, created, added) VALUES (?,?,?,?,?,?) "
                  "ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest",
                  (image_id, manifest_digest, top, size, doc.get("created"), now))
        for name in tags:
            c.execute("INSERT INTO tags(name, image_id) VALUES (?, ?) "
                      "ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id", (name, image_id))
        for name, digest in repo_digests:
            c.execute("INSERT INTO repo_digests(name, digest, image_id) VALUES (?, ?, ?) "
                      "ON CONFLICT(name, digest) DO UPDATE SET image_id = excluded.image_id", (name, digest, image_id))
        record_event(c, "image", event, image_id, {"tags": tags})
    return image_id


