"""What a container changed: `dockyard diff` (docker's A/C/D lines) and the
writable layer in the layer model (A/M/R with sizes), both read live from the
overlay upper dir, for running and stopped containers alike.

The upper dir is a pure diff (redirect_dir, metacopy and index are off): a 0:0
character device is a whiteout, trusted.overlay.opaque=y an opaque directory.
/etc/hosts, /etc/hostname and /etc/resolv.conf are bind mounts over the init
layer; writes to them go to the container directory's files, so they never
show here (and are filtered out should they ever appear)."""
import os
import stat

from ..images.catalog import get as get_image
from ..images.fileindex import FileIndex, walk
from ..images.layertree import LayerInfo, LayerTree, image_layers
from ..layers.overlaydir import is_opaque, is_whiteout, sorted_names
from ..store import Store
from .records import ContainerRecord

ETC_BINDS = frozenset({"etc/hosts", "etc/hostname", "etc/resolv.conf"})


def upper_dir(rec: ContainerRecord) -> str:
    return os.path.join(rec.dir, "upper")


def writable_entries(rec: ContainerRecord) -> list:
    """The writable layer's entries, as a layer tar of it would list them."""
    return walk(upper_dir(rec), skip=ETC_BINDS)


def container_tree(store: Store, rec: ContainerRecord) -> LayerTree:
    """The image's layer model with the container's writable layer on top."""
    img = get_image(store, rec.image_id)
    layers, indexes = image_layers(store, img)
    index = FileIndex.from_entries(writable_entries(rec))
    size = sum(s for s, t in zip(index.sizes, index.types) if t == "f")
    layers.append(LayerInfo(len(layers), f"(writable layer of container {rec.name})", size,
                            created=None, comment="live: not committed"))
    return LayerTree(layers, indexes + [index], img.id)


# ---------------------------------------------------------------- docker diff

def docker_changes(store: Store, rec: ContainerRecord) -> list[tuple[str, str]]:
    """[(kind, path)] as `docker diff` prints them: kind A (added), C (changed)
    or D (deleted); moby's rules (pkg/archive changes() with OverlayChanges):

    - the upper dir is walked in lexical order, parents before children;
    - a whiteout is D; an opaque directory that exists in a lower layer is D
      (what it holds now is then listed as usual);
    - any other path is C when it exists in a lower layer, else A; a directory
      that exists below with the same mode, size and mtime is not listed;
    - for an A or D, each parent directory not yet listed is listed as C first."""
    img = get_image(store, rec.image_id)
    layers, indexes = image_layers(store, img)
    lower = LayerTree(layers, indexes, img.id)
    init = os.path.join(rec.dir, "init")
    layer_dirs = [store.layers.path(l.chain_id) for l in layers]

    def lower_stat(rel: str):
        """lstat of the path in the topmost lower layer holding it (init first), or None."""
        try:
            return os.lstat(os.path.join(init, rel))
        except OSError:
            pass
        node = lower.node(rel)
        if node is None:
            return None
        try:
            return os.lstat(os.path.join(layer_dirs[node.layer], rel))
        except OSError:
            return None

    out: list[tuple[str, str]] = []
    changed_dirs: set[str] = set()

    def record(kind: str, rel: str) -> None:
        if kind in ("A", "D"):
            tail = []
            parent = rel.rpartition("/")[0]
            while parent:
                if parent not in changed_dirs:
                    tail.append(("C", "/" + parent))
                    changed_dirs.add(parent)
                parent = parent.rpartition("/")[0]
            out.extend(reversed(tail))
        out.append((kind, "/" + rel))

    upper = upper_dir(rec)
    stack = [(os.path.join(upper, n), n) for n in reversed(sorted_names(upper))]
    while stack:
        host, rel = stack.pop()
        if rel in ETC_BINDS:
            continue
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            continue
        is_dir = stat.S_ISDIR(st.st_mode)
        if is_dir:
            try:
                names = sorted_names(host)
            except OSError:
                names = []
            stack.extend((os.path.join(host, n), f"{rel}/{n}") for n in reversed(names))
        if is_whiteout(st):
            record("D", rel)
            continue
        below = lower_stat(rel)
        if is_dir and is_opaque(host) and below is not None and not is_whiteout(below):
            changed_dirs.add(rel)
            record("D", rel)
            continue
        if below is None or is_whiteout(below):
            kind = "A"
        else:
            if is_dir and stat.S_ISDIR(below.st_mode) and st.st_size == below.st_size \
                    and st.st_mode == below.st_mode and _same_time(st, below):
                continue
            kind = "C"
        if is_dir:
            changed_dirs.add(rel)
        record(kind, rel)
    return out


def _same_time(a: os.stat_result, b: os.stat_result) -> bool:
    # moby's sameFsTime: equal, or equal seconds when either side has no nanoseconds
    if a.st_mtime_ns == b.st_mtime_ns:
        return True
    return a.st_mtime_ns // 10**9 == b.st_mtime_ns // 10**9 and (a.st_mtime_ns % 10**9 == 0
                                                                   or b.st_mtime_ns % 10**9 == 0)
