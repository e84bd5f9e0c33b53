"""Read image archives: docker-archive (``docker save``, ``podman save``) and OCI
image layouts in a tar (``podman save --format oci-archive``, ``skopeo copy
oci-archive:``), plain or as a whole compressed with gzip or zstd.

The tar is read with random access and never extracted: members are looked up by
their exact normalised name and opened with ``extractfile``. Member names are never
trusted: names with ``..`` or absolute names are not indexed, and a manifest that
names such a path is rejected. Symbolic and hard links between members (legacy
``docker save`` links shared ``<id>/layer.tar`` files) are followed inside the
archive only.

Layouts:

* docker-archive, found by ``manifest.json``: legacy Docker < 25 (``Config:
  "<hex>.json"``, ``Layers: ["<id>/layer.tar"]``), podman (``<hex>.json``,
  ``<hex>.tar``) and Docker 25+ (``blobs/sha256/<hex>`` paths, plus ``index.json``
  and ``oci-layout``). manifest.json is preferred when present. A config named by
  its digest (``<hex>.json`` or ``blobs/sha256/<hex>``) is verified against it. A
  layer's ``digest`` is set only when its path is ``blobs/sha256/<hex>`` (content
  addressed); ``media_type`` is None (detect by magic). When the archive also holds
  an OCI index whose manifest names the same config and layer blobs (Docker 25+,
  dockyard), that manifest's bytes are given as ``manifest``.
* OCI image layout, found by ``oci-layout``/``index.json``: every entry of the index,
  following nested indexes (the linux manifest for the host's architecture, else
  linux/amd64, else a lone entry). Entries for the same manifest are merged; tags
  come from ``io.containerd.image.name`` (full name) or else
  ``org.opencontainers.image.ref.name`` (may be just a tag), as written.

Every manifest, index and config blob is verified against its descriptor (size and
digest: DigestMismatch names the blob). Layer blobs are checked for size only; the
caller verifies their digest while reading. Layer streams share the archive's file:
use them from one thread, and before the reader is closed.
"""
import io
import json
import os
import posixpath
import re
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import zstandard

from ..errors import CorruptArchive, DigestMismatch, NotFound
from ..layers import compression
from . import manifest as mf
from .config import host_arch

CHUNK = 1 << 20
MAX_JSON = 64 << 20      # manifests, indexes, configs: refuse to read more into memory
MAX_LINKS = 16           # symlink/hardlink hops when resolving a member
MAX_NESTING = 4          # nested indexes

_CONFIG_NAME = re.compile(r"(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?\Z")
_BLOB_NAME = re.compile(r"blobs/sha256/([0-9a-f]{64})\Z")

@dataclass
class ArchiveLayer:
    open: Callable[[], BinaryIO]   # the layer blob exactly as stored (gzip, zstd or plain tar)
    media_type: str | None         # from the OCI manifest; None for docker-archive
    digest: str | None             # descriptor digest, or the blobs/sha256/<hex> name
    size: int | None


@dataclass
class ArchiveImage:
    config: bytes
    config_digest: str
    layers: list[ArchiveLayer]
    repo_tags: list[str] = field(default_factory=list)
    manifest: bytes | None = None


def _norm(name: str) -> str | None:
    """A member name in canonical form, or None when it is absolute or has '..'."""
    if name.startswith("/"):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


class _Member(io.RawIOBase):
    """A member's data; a truncated archive raises CorruptArchive, not tarfile's errors."""

    def __init__(self, f, name: str, archive: str):
        super().__init__()
        self._f, self._name, self._archive = f, name, archive

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        try:
            return self._f.readinto(b)
        except (tarfile.ReadError, EOFError) as e:
            raise CorruptArchive(f"{self._archive} is truncated or corrupt: cannot read {self._name} ({e})") from None

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()


class ArchiveReader:
    """Opens an archive and reads its images' metadata; a context manager."""

    def __init__(self, path: str, spool_dir: str):
        self.path = path
        self.images: list[ArchiveImage] = []
        self._spool: str | None = None
        self._tar: tarfile.TarFile | None = None
        self._members: dict[str, tarfile.TarInfo] = {}
        try:
            self._open(spool_dir)
            self.images = self._read()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "ArchiveReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._tar is not None:
            self._tar.close()
            self._tar = None
        if self._spool is not None:
            try:
                os.unlink(self._spool)
            except FileNotFoundError:
                pass
            self._spool = None

    # ------------------------------------------------------------ the tar

    def _open(self, spool_dir: str) -> None:
        try:
            with open(self.path, "rb") as f:
                head = f.read(512)
        except FileNotFoundError:
            raise NotFound(f"no such file: {self.path}") from None
        except IsADirectoryError:
            raise CorruptArchive(f"{self.path} is a directory, not an archive") from None
        kind = compression.detect(head)
        tar_path = self.path
        if kind != "none":
            fd, self._spool = tempfile.mkstemp(prefix="archive-", suffix=".tar", dir=spool_dir)
            with open(self.path, "rb") as src, os.fdopen(fd, "wb") as dst:
                stream = compression.open_decompressed(src)
                while True:
                    try:
                        chunk = stream.read(CHUNK)
                    except (CorruptArchive, EOFError, OSError, ValueError, zlib.error, zstandard.ZstdError) as e:
                        raise CorruptArchive(f"{self.path} is truncated or corrupt ({kind}: {e})") from None
                    if not chunk:
                        break
                    dst.write(chunk)
            tar_path = self._spool
        try:
            self._tar = tarfile.open(tar_path, mode="r:")
        except tarfile.ReadError as e:
            raise CorruptArchive(f"{self.path} is not a docker-archive or OCI archive: not a tar file, "
                                 f"or truncated or corrupt ({e})") from None
        try:
            for info in self._tar.getmembers():
                name = _norm(info.name)
                if name is not None:
                    self._members[name] = info   # a later member of the same name wins, as in tar
        except (tarfile.ReadError, EOFError) as e:
            raise CorruptArchive(f"{self.path} is truncated or corrupt ({e})") from None

    def _ref(self, name, what: str) -> str:
        """A name a manifest gives; reject unsafe ones."""
        if not isinstance(name, str) or not name:
            raise CorruptArchive(f"{what} names a member {name!r} that is not a path")
        norm = _norm(name)
        if norm is None:
            raise CorruptArchive(f"{what} names {name!r}, a path outside the archive")
        return norm

    def _resolve(self, name: str, what: str) -> tarfile.TarInfo:
        """The regular-file member `name` stands for, following links inside the archive."""
        cur = name
        info = self._members.get(cur)
        hops = 0
        while info is not None and (info.issym() or info.islnk()):
            hops += 1
            if hops > MAX_LINKS:
                raise CorruptArchive(f"{name} ({what}) is a chain of too many links")
            if info.issym():
                target = info.linkname
                joined = posixpath.normpath(posixpath.join(posixpath.dirname(cur), target))
                if target.startswith("/") or joined == ".." or joined.startswith("../"):
                    raise CorruptArchive(f"{name} ({what}) links to {target!r}, outside the archive")
                cur = joined
            else:
                target = _norm(info.linkname)
                if target is None:
                    raise CorruptArchive(f"{name} ({what}) links to {info.linkname!r}, outside the archive")
                cur = target
            info = self._members.get(cur)
        if info is None:
            raise CorruptArchive(f"{self.path} has no member {name!r} ({what}); the archive may be truncated")
        if not info.isreg():
            raise CorruptArchive(f"{name} ({what}) is not a regular file")
        return info

    def _open_member(self, info: tarfile.TarInfo, name: str) -> BinaryIO:
        if self._tar is None:
            raise ValueError(f"{self.path} is closed")
        return _Member(self._tar.extractfile(info), name, self.path)

    def _read_member(self, name: str, what: str) -> bytes:
        info = self._resolve(name, what)
        if info.size > MAX_JSON:
            raise CorruptArchive(f"{name} ({what}) is too large ({info.size} bytes)")
        with self._open_member(info, name) as f:
            data = f.read()
        if len(data) != info.size:
            raise CorruptArchive(f"{self.path} is truncated or corrupt: {name} is short")
        return data

    def _layer(self, info: tarfile.TarInfo, name: str, media_type, digest, size) -> ArchiveLayer:
        return ArchiveLayer(open=lambda: self._open_member(info, name),
                            media_type=media_type, digest=digest, size=size)

    # ------------------------------------------------------------ layouts

    def _read(self) -> list[ArchiveImage]:
        if "manifest.json" in self._members:
            return self._read_docker()
        if "oci-layout" in self._members or "index.json" in self._members:
            return self._read_oci()
        raise CorruptArchive(f"{self.path} is not a docker-archive (no manifest.json) "
                             "nor an OCI archive (no oci-layout and index.json)")

    def _read_docker(self) -> list[ArchiveImage]:
        raw = self._read_member("manifest.json", "docker-archive manifest")
        try:
            entries = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as e:
            raise CorruptArchive(f"manifest.json in {self.path} is not valid JSON: {e}") from None
        if not isinstance(entries, list):
            raise CorruptArchive(f"manifest.json in {self.path} is not a list")
        images = []
        for n, e in enumerate(entries):
            what = f"manifest.json entry {n}"
            if not isinstance(e, dict):
                raise CorruptArchive(f"{what} is not an object")
            cfg_name = self._ref(e.get("Config"), f"{what} Config")
            layer_names = e.get("Layers")
            if not isinstance(layer_names, list):
                raise CorruptArchive(f"{what} Layers is not a list")
            tags = e.get("RepoTags") or []
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise CorruptArchive(f"{what} RepoTags is not a list of names")
            config = self._read_member(cfg_name, f"config of {what}")
            digest = mf.sha256_digest(config)
            m = _CONFIG_NAME.match(cfg_name)
            if m and m.group(1) != digest[len("sha256:"):]:
                raise DigestMismatch(f"config {cfg_name} in {self.path} does not match its name: "
                                     f"its bytes hash to {digest}")
            layers = []
            for i, ln in enumerate(layer_names):
                name = self._ref(ln, f"{what} layer {i}")
                info = self._resolve(name, f"layer {i} of {what}")
                bm = _BLOB_NAME.match(name)
                layers.append(self._layer(info, name, None, "sha256:" + bm.group(1) if bm else None, info.size))
            mf.check_invariants({"layers": layers}, mf.parse_config(config, f"config {cfg_name}"),
                                check_history=False)
            images.append(ArchiveImage(config=config, config_digest=digest, layers=layers,
                                       repo_tags=list(tags)))
        if "index.json" in self._members:
            self._attach_oci_manifests(images)
        return images

    def _attach_oci_manifests(self, images: list[ArchiveImage]) -> None:
        """Docker 25+ (and dockyard) docker-archives carry an OCI manifest per image
        beside manifest.json; hand it over when it names exactly the same blobs.
        manifest.json stays authoritative: a bad index.json here is ignored."""
        try:
            idx = mf.parse_index(self._read_member("index.json", "OCI index"), "index.json")
            found: dict[tuple, bytes] = {}
            for d in idx["manifests"]:
                if d.get("mediaType") in mf.MANIFEST_TYPES:
                    data = self._blob(d, f"manifest {d['digest']}")
                    m = mf.parse_manifest(data, f"manifest {d['digest']}")
                    key = (m["config"]["digest"], tuple(l["digest"] for l in m["layers"]))
                    found[key] = data
        except (CorruptArchive, DigestMismatch):
            return
        for img in images:
            key = (img.config_digest, tuple(l.digest for l in img.layers))
            img.manifest = found.get(key)

    def _blob(self, desc: dict, what: str) -> bytes:
        """A small blob named by a descriptor, verified against it."""
        name = "blobs/sha256/" + desc["digest"][len("sha256:"):]
        info = self._resolve(name, what)
        if info.size != desc["size"]:
            raise DigestMismatch(f"{name} ({what}) has {info.size} bytes, but its descriptor says {desc['size']}")
        data = self._read_member(name, what)
        got = mf.sha256_digest(data)
        if got != desc["digest"]:
            raise DigestMismatch(f"{name} ({what}) does not match its digest: its bytes hash to {got}")
        return data

    def _read_oci(self) -> list[ArchiveImage]:
        layout = self._read_member("oci-layout", "OCI layout header")
        try:
            version = json.loads(layout).get("imageLayoutVersion")
        except (ValueError, UnicodeDecodeError, AttributeError):
            version = None
        if not isinstance(version, str):
            raise CorruptArchive(f"oci-layout in {self.path} has no imageLayoutVersion")
        idx = mf.parse_index(self._read_member("index.json", "OCI index"), "index.json")
        images: dict[str, ArchiveImage] = {}
        for n, d in enumerate(idx["manifests"]):
            ann = d.get("annotations") or {}
            tag = ann.get(mf.ANNOTATION_CONTAINERD_NAME) or ann.get(mf.ANNOTATION_REF_NAME)
            self._collect(d, f"index.json entry {n}", tag, images, 0)
        if not images:
            raise CorruptArchive(f"{self.path} is an OCI archive with no image manifest")
        return list(images.values())

    def _collect(self, desc: dict, what: str, tag: str | None, images: dict, depth: int) -> None:
        mt = desc.get("mediaType")
        if mt is not None and mt not in mf.MANIFEST_TYPES + mf.INDEX_TYPES:
            return  # not an image (an artifact, a signature): nothing to load
        data = self._blob(desc, what)
        if mt is None:
            try:
                doc = json.loads(data)
                mt = doc.get("mediaType") or (mf.OCI_INDEX if "manifests" in doc else mf.OCI_MANIFEST)
            except (ValueError, UnicodeDecodeError, AttributeError):
                raise CorruptArchive(f"{what} ({desc['digest']}) is not valid JSON") from None
        if mt in mf.INDEX_TYPES:
            if depth >= MAX_NESTING:
                raise CorruptArchive(f"{what}: indexes nested too deep")
            nested = mf.parse_index(data, f"{what} ({desc['digest']})")
            chosen = _pick_platform(nested["manifests"], f"{what} ({desc['digest']})")
            self._collect(chosen, f"{what} ({desc['digest']}) platform manifest", tag, images, depth + 1)
            return
        if desc["digest"] not in images:
            images[desc["digest"]] = self._image(data, desc["digest"], what)
        img = images[desc["digest"]]
        if tag and tag not in img.repo_tags:
            img.repo_tags.append(tag)

    def _image(self, data: bytes, digest: str, what: str) -> ArchiveImage:
        m = mf.parse_manifest(data, f"manifest {digest} ({what})")
        config = self._blob(m["config"], f"config of manifest {digest}")
        mf.check_invariants(m, mf.parse_config(config, f"config {m['config']['digest']}"), check_history=False)
        layers = []
        for i, ld in enumerate(m["layers"]):
            name = "blobs/sha256/" + ld["digest"][len("sha256:"):]
            info = self._resolve(name, f"layer {i} of manifest {digest}")
            if info.size != ld["size"]:
                raise DigestMismatch(f"{name} (layer {i} of manifest {digest}) has {info.size} bytes, "
                                     f"but its descriptor says {ld['size']}")
            layers.append(self._layer(info, name, ld.get("mediaType"), ld["digest"], ld["size"]))
        return ArchiveImage(config=config, config_digest=m["config"]["digest"], layers=layers, manifest=data)


def _pick_platform(descs: list[dict], what: str) -> dict:
    images = [d for d in descs if d.get("mediaType") in (None,) + mf.MANIFEST_TYPES + mf.INDEX_TYPES]
    for arch in dict.fromkeys((host_arch(), "amd64")):
        for d in images:
            p = d.get("platform") or {}
            if p.get("os") == "linux" and p.get("architecture") == arch:
                return d
    if len(images) == 1:
        return images[0]
    raise NotFound(f"{what} has no image for linux/{host_arch()}")


def read_archive(path: str, spool_dir: str) -> ArchiveReader:
    return ArchiveReader(path, spool_dir)
