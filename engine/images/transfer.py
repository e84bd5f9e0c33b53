"""dockyard load / save: between the store and docker-archive or OCI archives."""
import io
import os
import shutil
from collections.abc import Callable
from typing import BinaryIO

from .. import reference
from ..errors import CorruptArchive, InvalidReference
from ..layers import compression
from ..store import Store
from ..store.fsutil import staging_name
from . import archive, archive_write
from . import manifest as mf
from .catalog import ImageRecord, resolve
from .ingest import add_image, ingest_layer, parse_config

Progress = Callable[[str], None] | None


def load(store: Store, src: str | BinaryIO, progress: Progress = None) -> list[tuple[str, list[str]]]:
    """Loads every image of an archive (a path, or a stream such as stdin, which
    is spooled to the staging area first). Returns (image id, tags) per image."""
    with store.lock.shared():
        spooled = None
        try:
            if not isinstance(src, str):
                spooled = staging_name(store.tmp_dir, "load")
                with open(spooled, "xb") as f:
                    shutil.copyfileobj(src, f, 1 << 20)
                path = spooled
            else:
                path = src
            results = []
            with archive.read_archive(path, store.tmp_dir) as reader:
                if not reader.images:
                    raise CorruptArchive(f"{_name(src)} holds no image")
                for n, img in enumerate(reader.images, 1):
                    results.append(_load_one(store, img, progress, f"image {n} of {_name(src)}"))
            return results
        finally:
            if spooled and os.path.exists(spooled):
                os.unlink(spooled)


def _name(src) -> str:
    return src if isinstance(src, str) else "the archive on standard input"


def _load_one(store: Store, img, progress: Progress, what: str) -> tuple[str, list[str]]:
    doc = parse_config(img.config, f"the config of {what}")
    diff_ids = doc["rootfs"]["diff_ids"]
    if len(diff_ids) != len(img.layers):
        raise CorruptArchive(f"{what} has {len(img.layers)} layers but its config lists {len(diff_ids)} diff ids")
    records = []
    parent = None
    for i, (layer, diff_id) in enumerate(zip(img.layers, diff_ids), 1):
        if progress:
            progress(f"Loading layer {i}/{len(diff_ids)} {diff_id[7:19]}")
        rec = ingest_layer(store, layer.open, parent=parent, expected_diff_id=diff_id,
                           expected_digest=layer.digest, what=f"layer {i} ({diff_id[7:19]}) of {what}")
        records.append(rec)
        parent = rec.chain_id
    manifest = img.manifest
    if manifest is not None and any(r.blob_digest != l.digest for r, l in zip(records, img.layers)):
        manifest = None  # we recompressed some layer: the archive's manifest no longer names our blobs
    tags = []
    for t in img.repo_tags:
        try:
            tags.append(str(reference.parse(t)))
        except InvalidReference:
            if progress:
                progress(f"ignoring invalid tag {t!r} in {what}")
    image_id = add_image(store, img.config, records, tags, manifest=manifest, event="load")
    if progress:
        progress(f"Loaded image: {', '.join(_familiar(t) for t in tags) or image_id}")
    return image_id, tags


def _familiar(name: str) -> str:
    return reference.parse(name).familiar()


def save_images(store: Store, refs: list[str]) -> list[archive_write.SaveImage]:
    chosen: dict[str, tuple[ImageRecord, list[str]]] = {}
    for ref in refs:
        img = resolve(store, ref)
        named = [str(c) for c in _candidates(ref) if str(c) in img.tags][:1]
        entry = chosen.setdefault(img.id, (img, []))
        for t in named:
            if t not in entry[1]:
                entry[1].append(t)
    return [_save_image(store, img, tags) for img, tags in chosen.values()]


def _candidates(ref: str):
    try:
        return reference.short_name_candidates(ref)
    except InvalidReference:
        return []


def _save_image(store: Store, img: ImageRecord, tags: list[str]) -> archive_write.SaveImage:
    config = store.blobs.read_bytes(img.id)
    manifest = store.blobs.read_bytes(img.manifest_digest)
    doc = mf.parse_manifest(manifest)
    diff_ids = parse_config(config)["rootfs"]["diff_ids"]
    sizes = {}
    for r in store.db.query("SELECT diff_id, diff_size FROM layers"):
        sizes[r["diff_id"]] = r["diff_size"]
    layers = []
    for desc, diff_id in zip(doc["layers"], diff_ids):
        digest = desc["digest"]
        layers.append(archive_write.SaveLayer(
            diff_id=diff_id, diff_size=sizes[diff_id],
            open_uncompressed=lambda d=digest: _Uncompressed(store, d),
            blob_digest=digest, blob_size=desc["size"], media_type=desc["mediaType"],
            open_blob=lambda d=digest: store.blobs.open(d)))
    return archive_write.SaveImage(config=config, config_digest=img.id, manifest=manifest,
                                   manifest_digest=img.manifest_digest, layers=layers, repo_tags=tags)


class _Uncompressed(io.RawIOBase):
    """A stored layer blob, decompressed. Corrupt data usually breaks the
    decompressor before the digest check at EOF can speak: then the blob is
    verified, so the error names it."""

    def __init__(self, store: Store, digest: str):
        self._store, self._digest = store, digest
        self._f = compression.open_decompressed(store.blobs.open(digest))

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        try:
            return self._f.read(n)
        except CorruptArchive:
            self._store.blobs.verify(self._digest)  # raises DigestMismatch naming the blob
            raise

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()


def save(store: Store, refs: list[str], out: BinaryIO, fmt: str = "docker-archive") -> None:
    with store.lock.shared():
        images = save_images(store, refs)
        if fmt in ("docker-archive", "docker"):
            archive_write.write_docker_archive(out, images)
        elif fmt in ("oci", "oci-archive"):
            archive_write.write_oci_archive(out, images)
        else:
            from ..errors import InvalidArgument
            raise InvalidArgument(f"unknown archive format {fmt!r}: use docker-archive or oci")
