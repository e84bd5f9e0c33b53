"""Write images as a docker-archive or an OCI archive (``docker save`` / ``podman
save --format oci-archive``), streaming to a binary file object that may be
non-seekable (stdout, a pipe).

docker-archive: the Docker 25+ layout, which old and new docker, podman and skopeo
all load::

    blobs/sha256/<hex>   the config, each layer as an UNCOMPRESSED tar (file digest ==
                         diff id) and one OCI manifest per image
    index.json           OCI index: a descriptor per tag, annotated with
                         io.containerd.image.name (full name) and
                         org.opencontainers.image.ref.name (the tag, as Docker does)
    manifest.json        [{"Config": "blobs/sha256/<hex>", "RepoTags": [familiar names],
                           "Layers": ["blobs/sha256/<diff id hex>", ...]}]
    oci-layout, repositories

OCI archive: ``oci-layout``, ``index.json`` (a descriptor per tag with
org.opencontainers.image.ref.name and io.containerd.image.name both set to the full
name) and ``blobs/sha256/`` holding each manifest, config and layer exactly as stored
(zstd layers included: podman and skopeo read them).

The output is deterministic: members in name order, mtime 0, uid/gid 0, no user or
group names, mode 0644 (0755 for directories). A blob shared by several images is
written once. Every member's size is declared before its data, so a layer stream that
yields another length or other bytes than declared raises DigestMismatch and the
archive is left unfinished (never silently broken).
"""
import hashlib
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

from .. import reference
from ..errors import CorruptArchive, DigestMismatch, InvalidArgument
from . import manifest as mf

CHUNK = 1 << 20


@dataclass
class SaveLayer:
    diff_id: str
    diff_size: int                            # exact size of the uncompressed tar
    open_uncompressed: Callable[[], BinaryIO]
    blob_digest: str
    blob_size: int
    media_type: str
    open_blob: Callable[[], BinaryIO]         # the stored (maybe zstd) blob


@dataclass
class SaveImage:
    config: bytes
    config_digest: str
    manifest: bytes                           # the OCI manifest as stored
    manifest_digest: str
    layers: list[SaveLayer]
    repo_tags: list[str] = field(default_factory=list)  # full names: docker.io/library/busybox:latest


# ---------------------------------------------------------------- names

def split_tag(ref: str) -> tuple[str, str]:
    """"docker.io/library/busybox:latest" -> ("docker.io/library/busybox", "latest")."""
    if "@" in ref:
        raise InvalidArgument(f"cannot save {ref!r} as a tag: it is a digest reference")
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon <= slash or colon == len(ref) - 1:
        raise InvalidArgument(f"cannot save {ref!r} as a tag: it has no tag")
    return ref[:colon], ref[colon + 1:]


def familiar_name(name: str) -> str:
    """Docker's familiar form of a normalised name ("busybox:latest", "localhost/x:1")."""
    return reference.parse(name, default_tag=None).familiar()


# ---------------------------------------------------------------- tar writing

class _Checked:
    """Reads exactly `size` bytes from a stream opened lazily, hashing them; raises
    DigestMismatch when the stream is shorter or longer than declared or its bytes do
    not hash to `digest`. Always returns full reads (tarfile needs them)."""

    def __init__(self, opener: Callable[[], BinaryIO], size: int, digest: str, what: str):
        self._f = opener()
        self._left = size
        self._size = size
        self._digest = digest
        self._what = what
        self._hash = hashlib.sha256()
        self._done = False

    def read(self, n: int = -1) -> bytes:
        want = self._left if n is None or n < 0 else min(n, self._left)
        parts, got = [], 0
        while got < want:
            b = self._f.read(min(want - got, CHUNK))
            if not b:
                raise DigestMismatch(f"{self._what} ended after {self._size - self._left + got} bytes, "
                                     f"but {self._size} were declared")
            parts.append(b)
            got += len(b)
        data = b"".join(parts)
        self._hash.update(data)
        self._left -= got
        if self._left == 0:
            self.finish()
        return data

    def finish(self) -> None:
        if self._done:
            return
        self._done = True
        try:
            if self._left:
                raise DigestMismatch(f"{self._what}: {self._left} of {self._size} bytes were not read")
            if self._f.read(1):
                raise DigestMismatch(f"{self._what} is longer than the {self._size} bytes declared")
            got = "sha256:" + self._hash.hexdigest()
            if got != self._digest:
                raise DigestMismatch(f"{self._what} does not match its digest: expected {self._digest}, got {got}")
        finally:
            self._f.close()

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._f.close()


@dataclass
class _Stream:
    size: int
    opener: Callable[[], BinaryIO]
    digest: str
    what: str


_Entry = bytes | _Stream


def _info(name: str, size: int = 0, is_dir: bool = False) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mtime = 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    if is_dir:
        ti.type = tarfile.DIRTYPE
        ti.mode = 0o755
    else:
        ti.mode = 0o644
        ti.size = size
    return ti


def _add(files: dict[str, _Entry], name: str, entry: _Entry) -> None:
    old = files.get(name)
    if old is None:
        files[name] = entry
        return
    old_size = len(old) if isinstance(old, bytes) else old.size
    new_size = len(entry) if isinstance(entry, bytes) else entry.size
    if old_size != new_size:
        raise InvalidArgument(f"{name} is given twice with different sizes ({old_size} and {new_size})")


def _blob_name(digest: str) -> str:
    if not mf.is_digest(digest):
        raise InvalidArgument(f"invalid digest {digest!r}")
    return "blobs/sha256/" + digest[len("sha256:"):]


def _write_tar(out: BinaryIO, files: dict[str, _Entry]) -> None:
    dirs = {"blobs", "blobs/sha256"} if any(n.startswith("blobs/") for n in files) else set()
    names = sorted([n + "/" for n in dirs] + list(files))
    tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK,
                       copybufsize=CHUNK)
    # On an exception TarFile.__exit__ does not write the end-of-archive blocks, so a
    # failed save never looks like a complete archive.
    with tar:
        for name in names:
            if name.endswith("/"):
                tar.addfile(_info(name, is_dir=True))
                continue
            entry = files[name]
            if isinstance(entry, bytes):
                tar.addfile(_info(name, len(entry)), _BytesReader(entry))
                continue
            src = _Checked(entry.opener, entry.size, entry.digest, entry.what)
            try:
                tar.addfile(_info(name, entry.size), src)
                src.finish()
            finally:
                src.close()
    out.flush()


class _BytesReader:
    def __init__(self, data: bytes):
        self._data = memoryview(data)
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._data) if n is None or n < 0 else min(len(self._data), self._pos + n)
        b = bytes(self._data[self._pos:end])
        self._pos = end
        return b


# ---------------------------------------------------------------- images

def _merge(images: list[SaveImage], key: Callable[[SaveImage], str]) -> list[tuple[SaveImage, list[str]]]:
    """Images in first-seen order, one per key, with their tags merged."""
    merged: dict[str, tuple[SaveImage, list[str]]] = {}
    for img in images:
        _, tags = merged.setdefault(key(img), (img, []))
        for t in img.repo_tags:
            split_tag(t)
            if t not in tags:
                tags.append(t)
    return list(merged.values())


def _check_image(img: SaveImage) -> tuple[dict, dict]:
    """Verify the image's own documents agree; return (manifest, config) parsed."""
    if mf.sha256_digest(img.config) != img.config_digest:
        raise DigestMismatch(f"config of image {img.config_digest} does not match its digest")
    if mf.sha256_digest(img.manifest) != img.manifest_digest:
        raise DigestMismatch(f"manifest {img.manifest_digest} does not match its digest")
    m = mf.parse_manifest(img.manifest, f"manifest {img.manifest_digest}")
    config = mf.parse_config(img.config, f"config {img.config_digest}")
    mf.check_invariants(m, config, check_history=False)
    if m["config"]["digest"] != img.config_digest:
        raise CorruptArchive(f"manifest {img.manifest_digest} names config {m['config']['digest']}, "
                             f"not {img.config_digest}")
    if [d["digest"] for d in m["layers"]] != [l.blob_digest for l in img.layers]:
        raise CorruptArchive(f"manifest {img.manifest_digest} does not list the layers given")
    if config["rootfs"]["diff_ids"] != [l.diff_id for l in img.layers]:
        raise CorruptArchive(f"config {img.config_digest} does not list the diff ids of the layers given")
    return m, config


def write_docker_archive(out: BinaryIO, images: list[SaveImage]) -> None:
    files: dict[str, _Entry] = {}
    index_descs: list[dict] = []
    entries: list[dict] = []
    repositories: dict[str, dict[str, str]] = {}
    for img, tags in _merge(images, lambda i: i.config_digest):
        stored, config = _check_image(img)
        config_name = _blob_name(img.config_digest)
        _add(files, config_name, img.config)
        layer_names = []
        for l in img.layers:
            name = _blob_name(l.diff_id)
            _add(files, name, _Stream(l.diff_size, l.open_uncompressed, l.diff_id, f"layer {l.diff_id}"))
            layer_names.append(name)
        # The OCI manifest of what this archive holds: the uncompressed layer tars.
        manifest = mf.build_manifest(
            mf.descriptor(mf.OCI_CONFIG, img.config),
            [mf.descriptor(mf.OCI_LAYER, l.diff_id, l.diff_size) for l in img.layers],
            stored.get("annotations"))
        _add(files, _blob_name(mf.sha256_digest(manifest)), manifest)
        platform = mf.platform_of(config)
        for t in tags:
            _, tag = split_tag(t)
            index_descs.append(mf.descriptor(mf.OCI_MANIFEST, manifest, platform=platform, annotations={
                mf.ANNOTATION_CONTAINERD_NAME: t, mf.ANNOTATION_REF_NAME: tag}))
            if img.layers:
                repo, tag = split_tag(familiar_name(t))
                repositories.setdefault(repo, {})[tag] = img.layers[-1].diff_id[len("sha256:"):]
        if not tags:
            index_descs.append(mf.descriptor(mf.OCI_MANIFEST, manifest, platform=platform))
        entries.append({"Config": config_name, "RepoTags": [familiar_name(t) for t in tags],
                        "Layers": layer_names})
    files["manifest.json"] = mf.dumps(entries)
    files["index.json"] = mf.build_index(index_descs)
    files["oci-layout"] = mf.OCI_LAYOUT
    if repositories:
        files["repositories"] = mf.dumps({r: dict(sorted(t.items())) for r, t in sorted(repositories.items())})
    _write_tar(out, files)


def write_oci_archive(out: BinaryIO, images: list[SaveImage]) -> None:
    files: dict[str, _Entry] = {}
    index_descs: list[dict] = []
    for img, tags in _merge(images, lambda i: i.manifest_digest):
        stored, _ = _check_image(img)
        _add(files, _blob_name(img.manifest_digest), img.manifest)
        _add(files, _blob_name(img.config_digest), img.config)
        for l, desc in zip(img.layers, stored["layers"]):
            if desc["size"] != l.blob_size:
                raise CorruptArchive(f"manifest {img.manifest_digest} gives layer {l.blob_digest} "
                                     f"size {desc['size']}, not {l.blob_size}")
            _add(files, _blob_name(l.blob_digest),
                 _Stream(l.blob_size, l.open_blob, l.blob_digest, f"layer blob {l.blob_digest}"))
        media_type = stored.get("mediaType", mf.OCI_MANIFEST)
        for t in tags:
            index_descs.append(mf.descriptor(media_type, img.manifest, annotations={
                mf.ANNOTATION_CONTAINERD_NAME: t, mf.ANNOTATION_REF_NAME: t}))
        if not tags:
            index_descs.append(mf.descriptor(media_type, img.manifest))
    files["index.json"] = mf.build_index(index_descs)
    files["oci-layout"] = mf.OCI_LAYOUT
    _write_tar(out, files)
