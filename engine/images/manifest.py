"""OCI / Docker schema2 manifests, indexes and descriptors.

JSON written by the engine is compact and deterministic: ``dumps`` uses
``separators=(",", ":")``, keeps the key order the caller built (no sorting: the
builders below emit keys in the order the OCI spec lists them, as Go's encoders do)
and ``ensure_ascii=False`` (UTF-8 out, like Go). Digests are always taken over the
exact bytes that were written or read; a parsed document is never re-serialised
to be hashed.

Only sha256 digests are accepted (the content store is sha256-only).
"""
import json
import re

from ..errors import CorruptArchive

# OCI image-spec media types
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

# Docker image manifest v2 schema 2 media types
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_MANIFEST_LIST)
CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)

# Annotations
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"

OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'

_SHA256_RE = re.compile(r"sha256:[0-9a-f]{64}\Z")


def dumps(obj: object) -> bytes:
    """Compact, deterministic JSON (key order as built, UTF-8)."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=False, ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    from ..store.hashing import sha256
    h = sha256(len(data))
    h.update(data)
    return "sha256:" + h.hexdigest()


def is_digest(value: object) -> bool:
    return isinstance(value, str) and _SHA256_RE.match(value) is not None


def descriptor(media_type: str, data_or_digest: bytes | str, size: int | None = None,
               annotations: dict[str, str] | None = None, platform: dict | None = None) -> dict:
    """An OCI content descriptor. Given bytes, digest and size are computed from them
    (a size passed as well must agree); given a digest string, size is required."""
    if isinstance(data_or_digest, (bytes, bytearray, memoryview)):
        data = bytes(data_or_digest)
        if size is not None and size != len(data):
            raise ValueError(f"descriptor size {size} does not match the {len(data)} bytes given")
        digest, size = sha256_digest(data), len(data)
    else:
        digest = data_or_digest
        if not is_digest(digest):
            raise ValueError(f"invalid digest {digest!r}: expected sha256: and 64 lowercase hex digits")
        if not isinstance(size, int) or size < 0:
            raise ValueError("descriptor needs a size when given a digest")
    desc: dict[str, object] = {"mediaType": media_type, "digest": digest, "size": size}
    if annotations:
        desc["annotations"] = dict(annotations)
    if platform:
        desc["platform"] = dict(platform)
    return desc


def build_manifest(config_desc: dict, layer_descs: list[dict],
                   annotations: dict[str, str] | None = None) -> bytes:
    """An OCI image manifest (schemaVersion 2, mediaType set)."""
    m: dict[str, object] = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                         "config": config_desc, "layers": list(layer_descs)}
    if annotations:
        m["annotations"] = dict(annotations)
    return dumps(m)


def build_index(manifest_descs: list[dict], annotations: dict[str, str] | None = None) -> bytes:
    """An OCI image index."""
    idx: dict[str, object] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": list(manifest_descs)}
    if annotations:
        idx["annotations"] = dict(annotations)
    return dumps(idx)


def platform_of(config: dict) -> dict | None:
    """The OCI platform object of an image config, or None when it names none."""
    os_, arch = config.get("os"), config.get("architecture")
    if not (isinstance(os_, str) and os_ and isinstance(arch, str) and arch):
        return None
    plat = {"architecture": arch, "os": os_}
    if isinstance(config.get("variant"), str) and config["variant"]:
        plat["variant"] = config["variant"]
    return plat


# ---------------------------------------------------------------- parsing

def _load_object(data: bytes, what: str) -> dict:
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptArchive(f"{what} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise CorruptArchive(f"{what} is not a JSON object")
    return obj


def check_descriptor(desc: object, what: str) -> dict:
    """Check the fields of a descriptor the engine relies on; return it."""
    if not isinstance(desc, dict):
        raise CorruptArchive(f"{what} is not a descriptor object")
    if not is_digest(desc.get("digest")):
        raise CorruptArchive(f"{what} has a bad digest {desc.get('digest')!r}: "
                             "expected sha256: and 64 lowercase hex digits")
    size = desc.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise CorruptArchive(f"{what} has a bad size {size!r}")
    if "mediaType" in desc and not isinstance(desc["mediaType"], str):
        raise CorruptArchive(f"{what} has a mediaType that is not a string")
    ann = desc.get("annotations")
    if ann is not None and not (isinstance(ann, dict) and all(isinstance(v, str) for v in ann.values())):
        raise CorruptArchive(f"{what} has annotations that are not a string map")
    return desc


def _check_versioned(obj: dict, what: str) -> None:
    if obj.get("schemaVersion") != 2:
        raise CorruptArchive(f"{what} has schemaVersion {obj.get('schemaVersion')!r}, expected 2")


def parse_manifest(data: bytes, what: str = "manifest") -> dict:
    """Parse an OCI image manifest or a Docker schema2 manifest; raise CorruptArchive
    naming what is wrong."""
    m = _load_object(data, what)
    _check_versioned(m, what)
    mt = m.get("mediaType")
    if mt is not None and mt not in MANIFEST_TYPES:
        if mt in INDEX_TYPES:
            raise CorruptArchive(f"{what} is an index ({mt}), not an image manifest")
        raise CorruptArchive(f"{what} has unsupported mediaType {mt!r}")
    if "manifests" in m and "layers" not in m:
        raise CorruptArchive(f"{what} is an index, not an image manifest")
    if "config" not in m:
        raise CorruptArchive(f"{what} has no config descriptor")
    check_descriptor(m["config"], f"{what} config")
    layers = m.get("layers")
    if not isinstance(layers, list):
        raise CorruptArchive(f"{what} layers is not a list")
    for i, layer in enumerate(layers):
        check_descriptor(layer, f"{what} layer {i}")
    return m


def parse_index(data: bytes, what: str = "index") -> dict:
    """Parse an OCI image index or a Docker manifest list."""
    idx = _load_object(data, what)
    _check_versioned(idx, what)
    mt = idx.get("mediaType")
    if mt is not None and mt not in INDEX_TYPES:
        raise CorruptArchive(f"{what} has unsupported mediaType {mt!r}")
    manifests = idx.get("manifests")
    if not isinstance(manifests, list):
        raise CorruptArchive(f"{what} manifests is not a list")
    for i, d in enumerate(manifests):
        check_descriptor(d, f"{what} entry {i}")
    return idx


def parse_config(data: bytes, what: str = "image config") -> dict:
    return _load_object(data, what)


def check_invariants(manifest: dict, config: dict, check_history: bool = True) -> None:
    """Cross-document invariants: rootfs.type == "layers" and
    len(layers) == len(rootfs.diff_ids) == history entries without empty_layer
    (the last only when history is present and check_history is set)."""
    rootfs = config.get("rootfs")
    if not isinstance(rootfs, dict):
        raise CorruptArchive("image config has no rootfs")
    if rootfs.get("type") != "layers":
        raise CorruptArchive(f"image config rootfs.type is {rootfs.get('type')!r}, expected 'layers'")
    diff_ids = rootfs.get("diff_ids")
    if not isinstance(diff_ids, list):
        raise CorruptArchive("image config rootfs.diff_ids is not a list")
    for d in diff_ids:
        if not is_digest(d):
            raise CorruptArchive(f"image config has a bad diff id {d!r}")
    layers = manifest.get("layers")
    if not isinstance(layers, list):
        raise CorruptArchive("manifest layers is not a list")
    if len(layers) != len(diff_ids):
        raise CorruptArchive(f"manifest has {len(layers)} layers but the config has "
                             f"{len(diff_ids)} diff ids")
    history = config.get("history")
    if check_history and history is not None:
        if not isinstance(history, list):
            raise CorruptArchive("image config history is not a list")
        non_empty = sum(1 for h in history if not (isinstance(h, dict) and h.get("empty_layer")))
        if non_empty != len(diff_ids):
            raise CorruptArchive(f"image config history has {non_empty} non-empty entries but "
                                 f"{len(diff_ids)} diff ids")
