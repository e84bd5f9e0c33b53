"""Layer blobs: compression, digests, safe unpacking into a directory, packing."""

from engine.layers.apply import ApplyResult, Entry, apply_layer
from engine.layers.compression import (
    MEDIA_TYPE_DOCKER_GZIP,
    MEDIA_TYPE_TAR,
    MEDIA_TYPE_TAR_GZIP,
    MEDIA_TYPE_TAR_ZSTD,
    compressor,
    detect,
    kind_for_media_type,
    media_type_for,
    open_decompressed,
)
from engine.layers.digest import HashingReader, HashingWriter, chain_ids, validate_digest
from engine.layers.pack import LayerWriter, tar_directory, write_layer

__all__ = [
    "ApplyResult",
    "Entry",
    "HashingReader",
    "HashingWriter",
    "LayerWriter",
    "MEDIA_TYPE_DOCKER_GZIP",
    "MEDIA_TYPE_TAR",
    "MEDIA_TYPE_TAR_GZIP",
    "MEDIA_TYPE_TAR_ZSTD",
    "apply_layer",
    "chain_ids",
    "compressor",
    "detect",
    "kind_for_media_type",
    "media_type_for",
    "open_decompressed",
    "tar_directory",
    "validate_digest",
    "write_layer",
]
