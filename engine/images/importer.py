"""dockyard import: a rootfs tar becomes a one-layer image."""
from typing import BinaryIO

from .. import reference
from ..store import Store
from . import manifest as mf
from .config import new_config, timestamp
from .ingest import add_image, ingest_layer


class _NoClose:
    """Lets ingest_layer's `with` end without closing the caller's stream."""

    def __init__(self, f):
        self._f = f

    def __enter__(self):
        return self._f

    def __exit__(self, *exc):
        return False


def import_tar(store: Store, src: BinaryIO, ref: str | None, *, source_name: str = "-", message: str | None = None,
               container_config: dict | None = None, created: str | None = None) -> str:
    tags = [str(reference.parse(ref))] if ref else []
    with store.lock.shared():
        layer = ingest_layer(store, lambda: _NoClose(src), parent=None, expected_diff_id=None,
                             what=f"tar {source_name}")
        created = created or timestamp()
        comment = message or f"Imported from {source_name}"
        config = new_config([layer.diff_id], [{"created": created, "created_by": f"dockyard import {source_name}",
                                               "comment": comment}], created, container_config)
        config["comment"] = comment
        return add_image(store, mf.dumps(config), [layer], tags, event="import")
