"""dockyard's engine. `Engine(root=...)` is the one door: blocking, thread-safe
methods that return plain dataclasses. Never imports textual."""
from dataclasses import dataclass, field
from typing import BinaryIO, Callable

from .errors import DockyardError

Progress = Callable[[str], None] | None


@dataclass
class ImageSummary:
    id: str
    tags: list[str]            # docker's familiar forms: "busybox:latest", "localhost/x:latest"
    names: list[str]           # full normalised names
    digest: str                # manifest digest
    created: str | None
    created_ts: float | None
    size: int                  # bytes of the unpacked layers
    shared_size: int           # bytes of layers other images use too
    containers: int
    layers: int

    @property
    def short_id(self) -> str:
        return self.id[7:19]

    @property
    def dangling(self) -> bool:
        return not self.tags


@dataclass
class DiskUsage:
    images: int
    images_active: int
    images_size: int
    images_reclaimable: int
    containers: int
    containers_size: int = 0
    volumes: int = 0
    build_cache: int = 0
    details: list[ImageSummary] = field(default_factory=list)


class Engine:
    def __init__(self, root: str | None = None):
        from .store import Store
        self.store = Store(root)
        self.root = self.store.root
        self._startup_collect()

    def _startup_collect(self) -> None:
        # With nobody else at work in this root, drop what interrupted work left.
        fd = self.store.lock.try_exclusive()
        if fd is None:
            return
        try:
            from .images.catalog import collect_garbage
            collect_garbage(self.store)
        finally:
            import os
            os.close(fd)

    def close(self) -> None:
        self.store.db.close()

    # -- images --------------------------------------------------------------
    def images(self) -> list[ImageSummary]:
        from .images.catalog import familiar, list_images
        records = list_images(self.store)
        layer_rows = {r["chain_id"]: (r["parent"], r["size"]) for r in self.store.db.query(
            "SELECT chain_id, parent, size FROM layers")}
        users: dict[str, int] = {}
        for r in self.store.db.query("SELECT image_id, COUNT(*) AS n FROM containers GROUP BY image_id"):
            users[r["image_id"]] = r["n"]
        chains = {}
        use_count: dict[str, int] = {}
        for img in records:
            chain, layer = [], img.top_layer
            while layer:
                chain.append(layer)
                layer = layer_rows[layer][0] if layer in layer_rows else None
            chains[img.id] = chain
            for l in chain:
                use_count[l] = use_count.get(l, 0) + 1
        from .images.config import parse_time
        out = []
        for img in records:
            chain = chains[img.id]
            shared = sum(layer_rows[l][1] for l in chain if use_count[l] > 1)
            out.append(ImageSummary(img.id, [familiar(t) for t in img.tags], img.tags, img.manifest_digest,
                                    img.created, parse_time(img.created), img.size, shared,
                                    users.get(img.id, 0), len(chain)))
        return out

    def image(self, ref: str) -> ImageSummary:
        from .images.catalog import resolve
        iid = resolve(self.store, ref).id
        return next(i for i in self.images() if i.id == iid)

    def import_image(self, src: BinaryIO, ref: str | None = None, *, source_name: str = "-",
                     message: str | None = None) -> str:
        from .images.importer import import_tar
        return import_tar(self.store, src, ref, source_name=source_name, message=message)

    def ensure_starter_image(self) -> str | None:
        """Makes localhost/busybox:latest when the store has no image at all."""
        if self.store.db.query("SELECT 1 FROM images LIMIT 1"):
            return None
        from .images.starter import make_starter
        return make_starter(self.store)

    def make_starter_image(self) -> str:
        from .images.starter import make_starter
        return make_starter(self.store)

    def load(self, src: str | BinaryIO, progress: Progress = None) -> list[tuple[str, list[str]]]:
        from .images.transfer import load
        return load(self.store, src, progress)

    def save(self, refs: list[str], out: BinaryIO, fmt: str = "docker-archive") -> None:
        from .images.transfer import save
        save(self.store, refs, out, fmt)

    def tag(self, source: str, target: str) -> None:
        from .images.catalog import tag
        tag(self.store, source, target)

    def remove_image(self, ref: str, force: bool = False) -> list[tuple[str, str]]:
        from .images.catalog import remove
        return remove(self.store, ref, force)

    def prune_images(self, all_unused: bool = False) -> tuple[list[tuple[str, str]], int]:
        from .images.catalog import prune
        return prune(self.store, all_unused)

    def inspect_image(self, ref: str) -> dict:
        from .images.catalog import resolve
        from .images.inspect import inspect_image
        return inspect_image(self.store, resolve(self.store, ref))

    def history(self, ref: str):
        from .images.catalog import resolve
        from .images.inspect import history
        return history(self.store, resolve(self.store, ref))

    def disk_usage(self) -> DiskUsage:
        imgs = self.images()
        active = [i for i in imgs if i.containers]
        # Unique bytes: shared layers counted once.
        layers = {r["chain_id"]: r["size"] for r in self.store.db.query("SELECT chain_id, size FROM layers")}
        total = sum(layers.values())
        from .images.catalog import list_images
        used_layers = set()
        parents = {r["chain_id"]: r["parent"] for r in self.store.db.query("SELECT chain_id, parent FROM layers")}
        active_ids = {i.id for i in active}
        for rec in list_images(self.store):
            if rec.id in active_ids:
                l = rec.top_layer
                while l:
                    used_layers.add(l)
                    l = parents.get(l)
        reclaim = total - sum(layers[l] for l in used_layers if l in layers)
        n_containers = self.store.db.query("SELECT COUNT(*) AS n FROM containers")[0]["n"]
        return DiskUsage(len(imgs), len(active), total, reclaim, n_containers, details=imgs)

    def check(self, repair: bool = False):
        from .images.check import check
        return check(self.store, repair)


__all__ = ["Engine", "DockyardError", "ImageSummary", "DiskUsage"]
