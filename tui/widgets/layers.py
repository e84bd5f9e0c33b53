"""The layer tree tab, dive-style, from the engine's layer model
(Engine.layer_tree / Engine.container_tree → engine.images.layertree.LayerTree):
the layers (created_by, size, what each adds, modifies and removes), and for
the chosen layer its files, either the layer's own changes or the image as it
stands with that layer's changes marked; a filter; wasted space and the
efficiency score. Large trees are built in a thread and shown lazily (a
folder's children are added when it is unfolded)."""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Static, Tree

from .format import human_size

MODES = ("layer", "merged", "wasted")
MODE_TITLES = {"layer": "this layer's changes", "merged": "the image up to this layer",
               "wasted": "wasted space (files written more than once)"}
MAX_FILTER_HITS = 5000


@dataclass
class Entry:
    name: str
    path: str
    type: str          # file, dir, symlink, …
    size: int
    kind: str          # "A", "M", "R" or "" (unchanged in this layer)
    link: str = ""
    note: str = ""

    @property
    def is_dir(self) -> bool:
        return self.type == "dir"


class FileModel:
    """Children by folder, built once (from a list of entries) or asked of the
    engine's merged tree as folders are unfolded."""

    def __init__(self, entries: list[Entry] | None = None, merged=None, layer: int = 0):
        self.merged = merged
        self.cur_layer = layer
        self.kids: dict[str, list[Entry]] = {}
        self.count = 0
        if entries is not None:
            self._index(entries)

    def _index(self, entries: list[Entry]) -> None:
        seen: dict[str, Entry] = {}
        for e in entries:
            seen[e.path] = e
        # folders that are not entries themselves (a change deep below them)
        for p in list(seen):
            d = p.rpartition("/")[0]
            while d and d not in seen:
                seen[d] = Entry(d.rpartition("/")[2], d, "dir", 0, "")
                d = d.rpartition("/")[0]
        for p, e in seen.items():
            self.kids.setdefault(p.rpartition("/")[0], []).append(e)
        # folder sizes: the bytes below them
        for p in sorted(seen, key=lambda s: -s.count("/")):
            e = seen[p]
            if e.is_dir:
                e.size = sum(c.size for c in self.kids.get(p, ()))
        for v in self.kids.values():
            v.sort(key=lambda e: (not e.is_dir, e.name))
        self.count = len(entries)

    def children(self, path: str) -> list[Entry]:
        if self.merged is None:
            return self.kids.get(path, [])
        got = self.kids.get(path)
        if got is None:
            got = []
            for n in self.merged.children(path or "/"):
                if n.type != "dir" and n.layer > self.cur_layer:
                    continue   # written by a later layer: not yet there at this one
                kind = self.merged.change_kind(n) if n.layer == self.cur_layer else ""
                got.append(Entry(n.path.rpartition("/")[2], n.path, n.type, n.size if n.type != "dir" else 0,
                                 kind, n.linkname))
            got.sort(key=lambda e: (not e.is_dir, e.name))
            self.kids[path] = got
        return got


def _change_entries(changes) -> list[Entry]:
    return [Entry(c.path.rpartition("/")[2], c.path, c.type, c.size, c.kind, c.linkname) for c in changes]


class LayerList(DataTable):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="nav.down"),
        Binding("k", "cursor_up", "Up", show=False, id="nav.up"),
        Binding("g", "scroll_top", "Top", show=False, id="nav.top"),
        Binding("G", "scroll_bottom", "Bottom", show=False, id="nav.bottom"),
        Binding("enter,l", "app.focus_files", "Files", id="layers.files"),
        Binding("v", "app.layers_mode", "View", id="layers.view"),
        Binding("slash", "app.layers_filter", "Filter", id="layers.filter"),
        Binding("escape", "app.back_to_list", "Back", show=False, id="layers.back"),
    ]


class FileTree(Tree):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="nav.down"),
        Binding("k", "cursor_up", "Up", show=False, id="nav.up"),
        Binding("l,right", "unfold", "Unfold", show=False, id="files.unfold"),
        Binding("h,left", "fold", "Fold", show=False, id="files.fold"),
        Binding("E", "expand_all", "Unfold all", id="files.expand_all"),
        Binding("C", "collapse_all", "Fold all", id="files.collapse_all"),
        Binding("v", "app.layers_mode", "View", id="layers.view"),
        Binding("slash", "app.layers_filter", "Filter", id="layers.filter"),
        Binding("escape", "back", "Back", show=False, id="files.back"),
    ]

    def action_unfold(self) -> None:
        n = self.cursor_node
        if n is not None and n.allow_expand:
            n.expand()

    def action_fold(self) -> None:
        n = self.cursor_node
        if n is None:
            return
        if n.is_expanded:
            n.collapse()
        elif n.parent is not None and n.parent is not self.root:
            self.move_cursor(n.parent)

    def action_expand_all(self) -> None:
        self.post_message(LayersPane.ExpandAll())

    def action_collapse_all(self) -> None:
        for c in self.root.children:
            c.collapse_all()

    def action_back(self) -> None:
        self.post_message(LayersPane.BackToLayers())


class LayersPane(Vertical):
    DEFAULT_CSS = """
    LayersPane { height: 1fr; }
    LayersPane > #layers-info { height: auto; max-height: 2; padding: 0 1; color: $text-muted; }
    LayersPane > LayerList { height: 2fr; min-height: 3; }
    LayersPane > #files-title { height: 1; padding: 0 1; background: $panel; }
    LayersPane > Input { display: none; height: 1; border: none; padding: 0 1; }
    LayersPane > Input.shown { display: block; }
    LayersPane > FileTree { height: 3fr; min-height: 3; }
    """

    class ExpandAll(Message):
        pass

    class BackToLayers(Message):
        pass

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.ltree = None          # the LayerTree shown
        self.subject = None
        self.view_mode = "layer"
        self.cur_layer = 0
        self.file_filter = ""
        self.model: FileModel | None = None
        self._styles = {}

    def compose(self):
        yield Static("", id="layers-info")
        t = LayerList(id="layers-list", cursor_type="row", zebra_stripes=False)
        yield t
        yield Static("", id="files-title")
        yield Input(placeholder="filter the files by path (enter: keep, esc: clear)", id="files-filter")
        ft = FileTree(Text("/"), id="files-tree")
        ft.show_root = False
        ft.guide_depth = 2
        ft.auto_expand = True
        yield ft

    def on_mount(self) -> None:
        t = self.query_one(LayerList)
        t.add_column("#", width=3, key="n")
        t.add_column("SIZE", width=7, key="size")
        t.add_column("A/M/R", width=11, key="amr")
        t.add_column("CREATED BY", key="by", width=self._by_width())
        self.query_one("#layers-info", Static).update("select an image or a container")

    def _by_width(self) -> int:
        # the rest of the width, so that long commands are cut, not scrolled
        return max(10, (self.size.width or 80) - (3 + 7 + 11) - 2 * 4 - 2)

    def on_resize(self) -> None:
        t = self.query_one(LayerList)
        col = t.columns.get("by") if hasattr(t.columns, "get") else None
        w = self._by_width()
        if col is not None and col.width != w:
            col.width = w
            t._require_update_dimensions = True
            t.refresh()

    # -- data in ---------------------------------------------------------------
    def show_message(self, text: str) -> None:
        self.ltree = None
        self.subject = None
        self.query_one(LayerList).clear()
        self.query_one(FileTree).clear()
        self.query_one("#files-title", Static).update("")
        self.query_one("#layers-info", Static).update(Text(text, style="dim"))

    def show_tree(self, subject, tree, select_layer: int | None = None) -> None:
        """`tree`: a LayerTree. `select_layer`: the layer to put the cursor on (-1: the top)."""
        same = subject == self.subject and self.ltree is not None and len(self.ltree.layers) == len(tree.layers)
        self.subject, self.ltree = subject, tree
        t = self.query_one(LayerList)
        keep = t.cursor_row if same else None
        t.clear()
        for l in tree.layers:
            by = " ".join((l.created_by or "").split())
            if l.diff_id is None and "writable" not in by:
                by = "(the container's writable layer) " + by
            amr = f"{l.added}/{l.modified}/{l.removed}"
            t.add_row(Text(str(l.index), justify="right"), Text(human_size(l.size), justify="right"),
                      Text(amr, style="dim"), Text(by or "-", no_wrap=True, overflow="ellipsis"), key=str(l.index))
        n = len(tree.layers)
        if select_layer is not None:
            row = select_layer if select_layer >= 0 else n + select_layer
        elif keep is not None:
            row = keep
        else:
            row = n - 1
        if n:
            t.move_cursor(row=max(0, min(row, n - 1)), animate=False)
        self._info()
        self._load_files(max(0, min(row, n - 1)) if n else 0)

    def _info(self) -> None:
        tr = self.ltree
        if tr is None:
            return
        eff = f"{tr.efficiency * 100:.1f}%"
        wasted = f"{human_size(tr.wasted_bytes)} ({tr.wasted_user_percent * 100:.1f}%)"
        plain = f"efficiency {eff}  ·  wasted {wasted}  ·  size {human_size(tr.size)}  ·  {tr.file_count} files"
        t = Text(plain)
        for word in ("efficiency", "wasted", "size"):
            i = plain.index(word)
            t.stylize("bold", i, i + len(word))
        self.query_one("#layers-info", Static).update(t)

    # -- files -------------------------------------------------------------------
    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "layers-list" or self.ltree is None:
            return
        event.stop()
        i = event.cursor_row
        if i != self.cur_layer or self.model is None:
            self._load_files(i)

    def set_mode(self, mode: str | None = None) -> None:
        self.view_mode = mode or MODES[(MODES.index(self.view_mode) + 1) % len(MODES)]
        self._load_files(self.cur_layer)

    def set_filter(self, text: str) -> None:
        if text != self.file_filter:
            self.file_filter = text
            self._load_files(self.cur_layer)

    def _load_files(self, layer: int) -> None:
        self.cur_layer = layer
        if self.ltree is None:
            return
        self.query_one("#files-title", Static).update(Text(f" layer {layer}: {MODE_TITLES[self.view_mode]} …", style="dim"))
        self._build(self.ltree, layer, self.view_mode, self.file_filter)

    @work(thread=True, exclusive=True, group="layer-files")
    def _build(self, tree, layer: int, mode: str, flt: str) -> None:
        # The changes of a base layer can be 100,000 entries: indexed here, in a thread.
        f = flt.lower()
        note = ""
        if mode == "wasted":
            entries = [Entry(x.path.rpartition("/")[2], x.path, "file", x.cumulative_size, "",
                             note=f"×{x.count}, smallest {human_size(x.min_size)}")
                       for x in tree.inefficiencies if not f or f in x.path.lower()]
            model = FileModel([])
            model.kids[""] = entries
            model.count = len(entries)
        elif mode == "layer":
            ch = tree.layers[layer].changes if layer < len(tree.layers) else []
            if f:
                ch = [c for c in ch if f in c.path.lower()]
            model = FileModel(_change_entries(ch))
        elif f:
            hits = []
            for n in tree.walk():
                if n.type != "dir" and n.layer > layer:
                    continue
                if f in n.path.lower():
                    kind = tree.change_kind(n) if n.layer == layer else ""
                    hits.append(Entry(n.path.rpartition("/")[2], n.path, n.type, n.size, kind, n.linkname))
                    if len(hits) >= MAX_FILTER_HITS:
                        note = f" (first {MAX_FILTER_HITS} matches)"
                        break
            model = FileModel(hits)
        else:
            model = FileModel(merged=tree, layer=layer)
            model.children("")
            model.count = tree.file_count
        self.app.call_from_thread(self._show_files, tree, layer, mode, flt, model, note)

    def _show_files(self, tree, layer, mode, flt, model: FileModel, note: str) -> None:
        if tree is not self.ltree or layer != self.cur_layer or mode != self.view_mode or flt != self.file_filter:
            return  # a newer choice is on its way
        self.model = model
        ft = self.query_one(FileTree)
        ft.clear()
        ft.root.data = ""
        self._add_children(ft.root, "")
        ft.root.expand()
        if flt and model.merged is None and model.count <= 500:
            ft.root.expand_all()
        where = f" filter {flt!r}" if flt else ""
        what = "entries" if mode != "wasted" else "files"
        keys = "v: view · /: filter · E/C: unfold/fold all"
        self.query_one("#files-title", Static).update(Text.assemble(
            (f" layer {layer}: {MODE_TITLES[mode]}", "bold"), f"  {model.count} {what}{where}{note}", ("   " + keys, "dim")))

    def _add_children(self, node, path: str) -> None:
        if self.model is None:
            return
        for e in self.model.children(path):
            label = self._label(e)
            if e.is_dir:
                node.add(label, data=e.path)
            else:
                node.add_leaf(label, data=e.path)

    def _label(self, e: Entry) -> Text:
        mark_style = {"A": "success", "M": "warning", "R": "error"}.get(e.kind, "")
        t = Text()
        t.append(f"{e.kind or ' '} ", style=self._color(mark_style) + " bold" if mark_style else "dim")
        t.append(f"{human_size(e.size) if (e.size or not e.is_dir) else '':>7}  ", style="dim")
        name = e.name if self.view_mode != "wasted" else e.path
        style = self._color(mark_style) if mark_style else ""
        if e.kind == "R":
            style += " strike"
        t.append(name + ("/" if e.is_dir else ""), style=("bold " if e.is_dir else "") + style)
        if e.link:
            t.append(f" → {e.link}", style="dim")
        if e.note:
            t.append(f"  {e.note}", style="dim")
        return t

    def _color(self, name: str) -> str:
        if not name:
            return ""
        c = self._styles.get(name)
        if c is None:
            from textual.color import Color
            try:
                rc = Color.parse(self.app.theme_variables.get(name, name)).rich_color
                c = rc.name if rc.name else ""
            except Exception:
                c = ""
            self._styles[name] = c
        return c

    def theme_changed(self) -> None:
        self._styles.clear()
        if self.ltree is not None:
            self._load_files(self.cur_layer)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        node = event.node
        if node.tree.id != "files-tree":
            return
        event.stop()
        if node is node.tree.root or node.children or not isinstance(node.data, str):
            return
        self._add_children(node, node.data)

    def on_layers_pane_expand_all(self, event) -> None:
        event.stop()
        ft = self.query_one(FileTree)
        # unfold what is loaded, loading up to a few thousand nodes
        budget = [3000]

        def unfold(node):
            for c in list(node.children):
                if budget[0] <= 0:
                    return
                if c.allow_expand:
                    if not c.children:
                        self._add_children(c, c.data)
                    budget[0] -= len(c.children)
                    c.expand()
                    unfold(c)
        unfold(ft.root)

    def on_layers_pane_back_to_layers(self, event) -> None:
        event.stop()
        self.query_one(LayerList).focus()

    # filter box
    def open_filter(self) -> None:
        box = self.query_one("#files-filter", Input)
        box.add_class("shown")
        box.value = self.file_filter
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "files-filter":
            event.stop()
            self.set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "files-filter":
            event.stop()
            if not event.value:
                event.input.remove_class("shown")
            self.query_one(FileTree).focus()

    def on_key(self, event) -> None:
        box = self.query_one("#files-filter", Input)
        if event.key == "escape" and box.has_focus:
            event.stop()
            event.prevent_default()
            box.value = ""
            box.remove_class("shown")
            self.set_filter("")
            self.query_one(FileTree).focus()
