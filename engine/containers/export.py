"""docker export: the container's whole filesystem (the merged view) as one
flat tar, without mounting anything: the upper dir, the init layer and the
image's layers are read top-down as overlayfs would merge them. The first
(topmost) source holding a name wins; a 0:0 character device hides the name
below; a directory merges with the directories of the same name below it until
one is opaque (trusted.overlay.opaque=y) or something that is not a directory
is met. Entries are written in tar_directory's order and form (sorted names,
owners, modes, mtimes, xattrs but the overlay ones, hardlinks kept); the root
itself is not an entry. The tar round-trips through `dockyard import`."""
import os
import stat
import tarfile

from ..images.catalog import get as get_image
from ..images.inspect import layer_chain
from ..layers.digest import CHUNK
from ..layers.overlaydir import is_opaque, is_whiteout
from ..layers.pack import _Counter, _header, _xattrs, add_entry
from ..store import Store
from .records import ContainerRecord


def sources(store: Store, rec: ContainerRecord) -> list[str]:
    """The directories merged into the container's root, topmost first."""
    img = get_image(store, rec.image_id)
    layers = [l["path"] for l in layer_chain(store, img)][::-1]
    return [os.path.join(rec.dir, "upper"), os.path.join(rec.dir, "init")] + layers


def export(store: Store, rec: ContainerRecord, out) -> int:
    """Write the flattened root of the container to `out`; returns the number of entries."""
    tf = tarfile.open(fileobj=_Counter(out), mode="w", format=tarfile.PAX_FORMAT)
    tf.copybufsize = CHUNK
    seen: dict[tuple[int, int], str] = {}
    count = 0
    stack = _children([d for d in sources(store, rec) if os.path.isdir(d)], "")
    while stack:
        rel, host, st, lower = stack.pop()
        mode = st.st_mode
        info = _header(rel, st)
        info.pax_headers, _ = _xattrs(host)
        try:
            add_entry(tf, info, host, st, seen)
        except FileNotFoundError:  # a running container removed it meanwhile
            continue
        count += 1
        if stat.S_ISDIR(mode):
            stack.extend(_children([host] + lower, rel + "/"))
    tf.close()
    return count


def _children(dirs: list[str], prefix: str) -> list:
    """Merged entries of one directory whose sources are `dirs` (topmost
    first, already cut at an opaque one): (rel, host, stat, lower dirs of the
    same name it merges with), reverse-sorted for popping off a stack."""
    decided: dict[str, tuple | None] = {}
    for k, d in enumerate(dirs):
        try:
            with os.scandir(d) as it:
                names = [e.name for e in it]
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            if name in decided:
                continue
            host = os.path.join(d, name)
            try:
                st = os.lstat(host)
            except FileNotFoundError:
                continue
            if is_whiteout(st):
                decided[name] = None  # whiteout: hides the name below
                continue
            if stat.S_ISSOCK(st.st_mode):
                decided[name] = None
                continue
            lower: list[str] = []
            if stat.S_ISDIR(st.st_mode) and not is_opaque(host):
                for below in dirs[k + 1:]:
                    cand = os.path.join(below, name)
                    try:
                        bst = os.lstat(cand)
                    except (FileNotFoundError, NotADirectoryError):
                        continue
                    if not stat.S_ISDIR(bst.st_mode):
                        break  # a whiteout or a file ends the merge
                    lower.append(cand)
                    if is_opaque(cand):
                        break
            decided[name] = (host, st, lower)
    out = [(prefix + n, *v) for n, v in decided.items() if v is not None]
    out.sort(key=lambda e: os.fsencode(e[0]), reverse=True)
    return out
