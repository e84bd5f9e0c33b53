"""The layer model: what each layer of an image adds (A), modifies (M: the path
existed in a lower layer) and removes (R: whiteouts, and the lower content an
opaque directory hides), the merged tree with every file attributed to the layer
that last wrote it, and dive's wasted bytes and efficiency score.

Built from the per-layer file indexes (fileindex.py), never from tars: for an
image of 100,000 files the model comes back in well under 200 ms. The TUI's
layer pane and `dockyard image tree` draw from it.

Efficiency as dive computes it (dive/filetree/efficiency.go, dive/image/analysis.go;
our own code): every layer's leaf paths are visited (paths with no child in
that layer; `.wh..wh..opq` markers are not visited); a visit adds the entry's
tar size, a whiteout adds 0 when it removed a file and the bytes of the whole
removed subtree when it removed a directory. Per path: cumulative = sum of its
visits, minimum = smallest visit. efficiency = sum(minimum) / sum(cumulative)
(1.0 for an empty image); wasted bytes = sum(cumulative) over the paths
visited more than once (so every copy of a rewritten file counts, the last one
too, as in dive); user size = all layers but the first; wasted user percent =
wasted / user size. A file overwritten by a later layer or removed by a
whiteout costs; an opaque directory does not (dive does not read opaque
markers). As in dive, a directory that a layer's tar only implies (it lists
files under it but not the directory itself) is not a directory for the
whiteout rule. Where dive stops visiting a layer (a whiteout of a path no lower
layer has), we count that whiteout as 0 and go on.

shadowed_bytes is ours, not dive's: the bytes of lower-layer files the merged
image no longer shows (overwritten by a later layer, removed by a whiteout or
hidden by an opaque directory), each version counted once."""
import gc
from bisect import bisect_left
from collections import namedtuple
from dataclasses import dataclass, field

from .fileindex import TYPE_NAMES, FileIndex

Change = namedtuple("Change", "kind path type size mode uid gid linkname")
FileNode = namedtuple("FileNode", "path type size mode uid gid linkname layer")
Inefficiency = namedtuple("Inefficiency", "path count cumulative_size min_size")

_IMPLICIT = 0xFFFFFFFF       # a parent directory the layer's tar did not list
_SHIFT = 32
_MASK = 0xFFFFFFFF


@dataclass
class LayerInfo:
    index: int
    created_by: str
    size: int                      # bytes of file content, as `history` shows
    diff_id: str | None = None     # None for a container's writable layer
    chain_id: str | None = None
    digest: str | None = None      # the stored blob
    media_type: str | None = None
    blob_size: int | None = None
    created: str | None = None
    comment: str = ""
    author: str = ""
    entries: int = 0               # entries in the layer's tar (whiteouts included)
    added: int = 0
    modified: int = 0
    removed: int = 0
    added_bytes: int = 0
    modified_bytes: int = 0
    removed_bytes: int = 0
    replaced_bytes: int = 0        # bytes of the lower versions its modifications replace
    _tree: "LayerTree | None" = field(default=None, repr=False, compare=False)

    @property
    def changes(self) -> list[Change]:
        """A/M/R entries of this layer, sorted by path."""
        return self._tree.changes(self.index) if self._tree else []

    def as_dict(self) -> dict:
        return {"index": self.index, "created_by": self.created_by, "created": self.created,
                "comment": self.comment, "author": self.author, "size": self.size, "diff_id": self.diff_id,
                "chain_id": self.chain_id, "digest": self.digest, "media_type": self.media_type,
                "blob_size": self.blob_size, "entries": self.entries, "added": self.added,
                "modified": self.modified, "removed": self.removed, "added_bytes": self.added_bytes,
                "modified_bytes": self.modified_bytes, "removed_bytes": self.removed_bytes,
                "replaced_bytes": self.replaced_bytes}


class LayerTree:
    """An image's layers (bottom-up), their changes, the merged tree and dive's numbers."""

    def __init__(self, layers: list[LayerInfo], indexes: list[FileIndex], image_id: str | None = None):
        self.image_id = image_id
        self.layers = layers
        self._indexes = indexes
        self._merged: dict[str, int] = {}
        self._adds: list[list[int]] = []
        self._mods: list[list[int]] = []
        self._mod_sets: dict[int, set] = {}
        self._removed: list[list[tuple[str, str, int, int]]] = []   # (path, type, size, code)
        self._kids: dict[str, list[str]] | None = None
        self.inefficiencies: list[Inefficiency] = []
        self.wasted_bytes = 0
        self.efficiency = 1.0
        gc_was = gc.isenabled()
        gc.disable()  # hundreds of thousands of young objects, no cycles: collections only cost
        try:
            self._build()
        finally:
            if gc_was:
                gc.enable()
        for l in layers:
            l._tree = self
        self.size = sum(l.size for l in layers)
        self.user_size = sum(l.size for l in layers[1:])
        self.wasted_user_percent = self.wasted_bytes / self.user_size if self.user_size else 0.0
        self.shadowed_bytes = sum(l.removed_bytes + l.replaced_bytes for l in layers)

    # -- building ------------------------------------------------------------
    def _build(self) -> None:
        merged = self._merged
        first: dict[str, int] = {}          # dive: paths visited once -> size
        multi: dict[str, list[int]] = {}    # paths visited more -> [cumulative, minimum, count]
        total = 0
        blank: set[str] = set()             # dive: directories only implied by the last tar touching them
        for li, idx in enumerate(self._indexes):
            paths, types, sizes = idx.paths, idx.types, idx.sizes
            base = li << _SHIFT
            has_rm = "w" in types or "o" in types
            if has_rm:
                rm = [i for i, t in enumerate(types) if t == "w" or t == "o"]
                last = {paths[i]: i for i, t in enumerate(types) if t != "w" and t != "o"}
            else:
                rm = []
                last = {p: i for i, p in enumerate(paths)}
            last.pop(".", None)
            last.pop("", None)

            # Parent directories of this layer's entries: not leaves for dive,
            # and made to exist in the merged tree if the tar did not list them.
            dirs = {p.rpartition("/")[0] for p in last}
            for i in rm:
                if types[i] == "w":
                    dirs.add(paths[i].rpartition("/")[0])
            for d in list(dirs):
                d = d.rpartition("/")[0]
                while d and d not in dirs:
                    dirs.add(d)
                    d = d.rpartition("/")[0]
            dirs.discard("")

            # 1. removals, against the lower layers' merged state
            removed: list[tuple[str, str, int, int]] = []
            gone: set[str] = set()
            uncounted: dict[str, int] = {}  # hidden lower versions a path of this layer replaces
            wh_sizes: list[tuple[str, int]] = []
            if rm:
                keys = sorted(merged)
                for i in rm:
                    p = paths[i]
                    if types[i] == "w":
                        code = merged.get(p)
                        if code is None or p in gone:
                            wh_sizes.append((p, 0))
                            continue
                        sub = self._subtree(keys, p)
                        sub_bytes = sum(self._size(merged[q]) for q in sub)
                        own = self._size(code)
                        is_dir = self._type(code) == "d" and p not in blank
                        wh_sizes.append((p, own + sub_bytes if is_dir else 0))
                        removed.append((p, self._type(code), own + sub_bytes, code))
                        gone.add(p)
                        gone.update(sub)
                    else:
                        self._hide(keys, p, last, gone, removed, uncounted)
                for q in gone:
                    merged.pop(q, None)

            # 2. additions and modifications
            adds: list[int] = []
            mods: list[int] = []
            replaced_bytes = 0
            replaced: list[str] = []
            if not merged and not gone:
                adds = list(last.values())
                merged.update(last if not base else zip(last, map(base.__or__, last.values())))
            else:
                get = merged.get
                size_of = self._size
                for p, i in last.items():
                    old = get(p)
                    if old is None:
                        if p in gone:
                            mods.append(i)
                            replaced_bytes += uncounted.get(p, 0)
                        else:
                            adds.append(i)
                    else:
                        mods.append(i)
                        replaced_bytes += size_of(old)
                        if types[i] != "d" and self._type(old) == "d":
                            replaced.append(p)  # a directory replaced by a non-directory
                    merged[p] = base | i
            if replaced:
                # what was under it goes too (this layer cannot have put anything there)
                keys = sorted(merged)
                before = set(gone)
                for p in replaced:
                    if p not in gone:
                        self._hide(keys, p, last, gone, removed, uncounted)
                for q in gone - before:
                    merged.pop(q, None)
            if blank:
                blank.difference_update(last)
            for d in dirs:
                if d not in merged:
                    merged[d] = base | _IMPLICIT
                if d not in last:
                    blank.add(d)
            self._adds.append(adds)
            self._mods.append(mods)
            self._removed.append(removed)
            info = self.layers[li]
            info.entries = len(paths)
            info.added, info.modified, info.removed = len(adds), len(mods), len(removed)
            info.added_bytes = sum(map(sizes.__getitem__, adds))
            info.modified_bytes = sum(map(sizes.__getitem__, mods))
            info.removed_bytes = sum(r[2] for r in removed)
            info.replaced_bytes = replaced_bytes

            # 3. dive's visits of this layer's leaves
            if not first and not multi:
                first = {p: sizes[i] for p, i in last.items() if p not in dirs}
                total += sum(first.values())
                visits = wh_sizes
            else:
                visits = [(p, sizes[i]) for p, i in last.items() if p not in dirs]
                visits += wh_sizes
            for p, s in visits:
                total += s
                m = multi.get(p)
                if m is not None:
                    m[0] += s
                    m[2] += 1
                    if s < m[1]:
                        m[1] = s
                elif p in first:
                    s0 = first.pop(p)
                    multi[p] = [s0 + s, s0 if s0 < s else s, 2]
                else:
                    first[p] = s
        minimum = sum(first.values()) + sum(m[1] for m in multi.values())
        self.wasted_bytes = sum(m[0] for m in multi.values())
        self.efficiency = minimum / total if total else 1.0
        self.inefficiencies = sorted((Inefficiency("/" + p, m[2], m[0], m[1]) for p, m in multi.items()),
                                     key=lambda x: (-x.cumulative_size, x.path))

    def _hide(self, keys, p, last, gone, removed, uncounted) -> None:
        """Lower content under directory p goes (opaque, or p replaced by a
        non-directory). R entries for the topmost hidden nodes this layer does
        not put back; their size is the bytes under them."""
        merged = self._merged
        roots: dict[str, list] = {}
        root_of: dict[str, str] = {}
        for q in self._subtree(keys, p):
            if q in gone:
                continue
            parent = q.rpartition("/")[0]
            code = merged[q]
            gone.add(q)
            if parent in root_of:
                r = root_of[q] = root_of[parent]
                roots[r][2] += self._size(code)
            elif q not in last and (parent == p or parent in last):
                root_of[q] = q
                roots[q] = [q, self._type(code), self._size(code), code]
            else:
                uncounted[q] = self._size(code)
        removed.extend(tuple(v) for v in roots.values())

    @staticmethod
    def _subtree(keys: list[str], p: str) -> list[str]:
        return keys[bisect_left(keys, p + "/"):bisect_left(keys, p + "0")]

    def _type(self, code: int) -> str:
        i = code & _MASK
        return "d" if i == _IMPLICIT else self._indexes[code >> _SHIFT].types[i]

    def _size(self, code: int) -> int:
        i = code & _MASK
        return 0 if i == _IMPLICIT else self._indexes[code >> _SHIFT].sizes[i]

    def _node(self, path: str, code: int) -> FileNode:
        li, i = code >> _SHIFT, code & _MASK
        if i == _IMPLICIT:
            return FileNode("/" + path, "dir", 0, 0o755, 0, 0, "", li)
        x = self._indexes[li]
        return FileNode("/" + path, TYPE_NAMES[x.types[i]], x.sizes[i], x.modes[i], x.uids[i], x.gids[i],
                        x.links.get(i, ""), li)

    # -- queries -------------------------------------------------------------
    @property
    def file_count(self) -> int:
        return len(self._merged)

    def node(self, path: str) -> FileNode | None:
        p = path.strip("/")
        code = self._merged.get(p)
        return None if code is None else self._node(p, code)

    def change_kind(self, node: FileNode) -> str:
        """"A" or "M": how the layer that last wrote the node changed it."""
        li = node.layer
        mods = self._mod_sets.get(li)
        if mods is None:
            mods = self._mod_sets[li] = set(self._mods[li])
        code = self._merged.get(node.path.strip("/"))
        return "M" if code is not None and (code & _MASK) in mods else "A"

    def children(self, path: str = "/") -> list[FileNode]:
        if self._kids is None:
            kids: dict[str, list[str]] = {}
            for p in self._merged:
                parent, _, name = p.rpartition("/")
                kids.setdefault(parent, []).append(p)
            for v in kids.values():
                v.sort(key=lambda s: s.encode("utf-8", "surrogateescape"))
            self._kids = kids
        p = path.strip("/")
        return [self._node(q, self._merged[q]) for q in self._kids.get(p, [])]

    def walk(self, path: str = "/"):
        """Every node under path, depth first, names sorted as bytes."""
        stack = list(reversed(self.children(path)))
        while stack:
            n = stack.pop()
            yield n
            if n.type == "dir":
                stack.extend(reversed(self.children(n.path)))

    def changes(self, li: int) -> list[Change]:
        x = self._indexes[li]
        out = []
        for kind, ids in (("A", self._adds[li]), ("M", self._mods[li])):
            for i in ids:
                out.append(Change(kind, "/" + x.paths[i], TYPE_NAMES[x.types[i]], x.sizes[i], x.modes[i], x.uids[i],
                                  x.gids[i], x.links.get(i, "")))
        for p, t, size, code in self._removed[li]:
            n = self._node(p, code)
            out.append(Change("R", "/" + p, TYPE_NAMES.get(t, "dir"), size, n.mode, n.uid, n.gid, n.linkname))
        out.sort(key=lambda c: c.path.encode("utf-8", "surrogateescape"))
        return out

    def as_dict(self, layer: int | None = None, files: bool = True) -> dict:
        def change(c: Change) -> dict:
            return {"kind": c.kind, "path": c.path, "type": c.type, "size": c.size, "mode": c.mode, "uid": c.uid,
                    "gid": c.gid, "linkname": c.linkname}
        if layer is not None:
            return dict(self.layers[layer].as_dict(), changes=[change(c) for c in self.changes(layer)])
        doc = {"image": self.image_id, "size": self.size, "user_size": self.user_size,
               "wasted_bytes": self.wasted_bytes, "shadowed_bytes": self.shadowed_bytes, "wasted_user_percent": self.wasted_user_percent,
               "efficiency": self.efficiency, "files": self.file_count,
               "layers": [dict(l.as_dict(), changes=[change(c) for c in self.changes(l.index)]) for l in self.layers],
               "inefficiencies": [{"path": x.path, "count": x.count, "cumulative_size": x.cumulative_size,
                                   "min_size": x.min_size} for x in self.inefficiencies]}
        if files:
            doc["tree"] = [{"path": n.path, "type": n.type, "size": n.size, "mode": n.mode, "uid": n.uid,
                            "gid": n.gid, "linkname": n.linkname, "layer": n.layer, "kind": self.change_kind(n)}
                           for n in self.walk()]
        return doc


# ---------------------------------------------------------------- from the store

def image_layers(store, img) -> tuple[list[LayerInfo], list[FileIndex]]:
    """The image's layers with their history and blobs, and their file indexes."""
    import json

    from . import fileindex
    from .inspect import config_of, layer_chain
    cfg = config_of(store, img)
    chain = layer_chain(store, img)
    try:
        manifest = json.loads(store.blobs.read_bytes(img.manifest_digest))
        descs = manifest.get("layers") or []
    except (ValueError, OSError):
        descs = []
    history = [h for h in (cfg.get("history") or []) if isinstance(h, dict) and not h.get("empty_layer")]
    layers, indexes = [], []
    for n, l in enumerate(chain):
        h = history[n] if n < len(history) else {}
        d = descs[n] if n < len(descs) else {}
        layers.append(LayerInfo(n, h.get("created_by", "") or "", l["size"], l["diff_id"], l["chain_id"],
                                d.get("digest"), d.get("mediaType"), d.get("size"), h.get("created"),
                                h.get("comment", "") or "", h.get("author", "") or ""))
        indexes.append(fileindex.load(store, l["diff_id"], l["chain_id"]))
    return layers, indexes


def image_tree(store, img) -> LayerTree:
    layers, indexes = image_layers(store, img)
    return LayerTree(layers, indexes, img.id)
