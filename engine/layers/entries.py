"""What a layer tar entry stands for: the index row (Entry) and the OCI
whiteout naming rules. Shared by the unpacker (apply.py), the layer model
(replay.py) and the check (verify.py), so that they read a tar alike."""

from collections import namedtuple

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"

# One row of the layer's file index. type is one of: file, dir, symlink,
# hardlink, char, block, fifo, whiteout (path is the deleted name), opaque
# (path is the directory). path is the cleaned name as resolved inside the
# layer root (where the entry landed), "." for the root.
Entry = namedtuple("Entry", "path type size mode uid gid linkname whiteout")


def whiteout_kind(name: str, parts: list[str]) -> str | None:
    """For a tar name and its cleaned parts: "skip" (aufs bookkeeping such as
    .wh..wh.plnk, not layer content), "opaque", "whiteout", or None (an
    ordinary entry)."""
    if WHITEOUT_META_PREFIX in name and any(
        p.startswith(WHITEOUT_META_PREFIX) and p != WHITEOUT_OPAQUE for p in parts
    ):
        return "skip"
    base = parts[-1] if parts else ""
    if base == WHITEOUT_OPAQUE:
        return "opaque"
    if base.startswith(WHITEOUT_PREFIX):
        return "whiteout"
    return None
