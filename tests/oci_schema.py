"""Validate what the engine writes against the OCI image-spec JSON schemas, plus the
checks upstream does in code that the schemas do not (see ../shared/reference/README.md).

The schemas live in ``shared/reference/oci-schemas`` next to the repository's root
(CI clones the repo to X/project and copies shared/ to X/shared), so the folder is
found relative to this file, never by an absolute path.

    validate("manifest" | "index" | "config" | "layout", data: bytes) -> dict
raises InvalidDocument (an AssertionError, so pytest shows it as a failure).
"""
import base64
import hashlib
import json
import re
from functools import cache
from pathlib import Path

from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

SCHEMA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "oci-schemas"

_FILES = {
    "manifest": "image-manifest-schema.json",
    "index": "image-index-schema.json",
    "config": "config-schema.json",
    "layout": "image-layout-schema.json",
}
_PREFIXES = ("https://opencontainers.org/schema/",
             "https://opencontainers.org/schema/image/",
             "https://opencontainers.org/schema/image/descriptor/")

_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_ENV = re.compile(r"[^=]+=.*\Z", re.S)
_B64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")


class InvalidDocument(AssertionError):
    pass


@cache
def _validators() -> dict:
    if not SCHEMA_DIR.is_dir():
        raise InvalidDocument(f"OCI schemas not found at {SCHEMA_DIR} (shared/ must sit beside the repo)")
    schemas = {p.name: json.loads(p.read_text()) for p in SCHEMA_DIR.glob("*.json")}
    resources = []
    for name, schema in schemas.items():
        res = Resource.from_contents(schema, default_specification=DRAFT4)
        resources += [(prefix + name, res) for prefix in _PREFIXES]
    registry = Registry().with_resources(resources)
    return {kind: Draft4Validator(schemas[f], registry=registry, format_checker=FormatChecker())
            for kind, f in _FILES.items()}


def _check_digest(value, where: str) -> None:
    if not isinstance(value, str) or ":" not in value:
        raise InvalidDocument(f"{where}: bad digest {value!r}")
    alg, _, enc = value.partition(":")
    if alg == "sha256" and not _SHA256.match(enc):
        raise InvalidDocument(f"{where}: sha256 digest must be 64 lowercase hex characters: {value!r}")


def _check_descriptor(desc: dict, where: str) -> None:
    _check_digest(desc.get("digest"), where)
    if "data" in desc:
        data = desc["data"]
        if not isinstance(data, str) or not _B64.match(data):
            raise InvalidDocument(f"{where}: data is not strict padded base64")
        raw = base64.b64decode(data, validate=True)
        if base64.b64encode(raw).decode() != data:
            raise InvalidDocument(f"{where}: data is not canonical base64")
        if len(raw) != desc.get("size") or "sha256:" + hashlib.sha256(raw).hexdigest() != desc.get("digest"):
            raise InvalidDocument(f"{where}: data does not match the descriptor's size and digest")


def validate(kind: str, data: bytes) -> dict:
    if kind not in _FILES:
        raise ValueError(f"unknown kind {kind!r}")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidDocument(f"{kind}: not JSON: {e}") from None
    errors = sorted(_validators()[kind].iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        raise InvalidDocument(f"{kind}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors))
    if kind == "manifest":
        _check_descriptor(doc["config"], "manifest config")
        for i, d in enumerate(doc["layers"]):
            _check_descriptor(d, f"manifest layer {i}")
        if "subject" in doc:
            _check_descriptor(doc["subject"], "manifest subject")
    elif kind == "index":
        for i, d in enumerate(doc["manifests"]):
            _check_descriptor(d, f"index entry {i}")
        if "subject" in doc:
            _check_descriptor(doc["subject"], "index subject")
    elif kind == "config":
        for i, d in enumerate(doc.get("rootfs", {}).get("diff_ids", [])):
            _check_digest(d, f"config rootfs.diff_ids[{i}]")
        env = (doc.get("config") or {}).get("Env") or []
        for e in env:
            if not isinstance(e, str) or not _ENV.match(e):
                raise InvalidDocument(f"config: Env entry {e!r} is not NAME=value")
    return doc
