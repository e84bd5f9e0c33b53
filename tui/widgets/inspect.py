"""The inspect tab: the object's JSON as a foldable tree (docker inspect)."""
from __future__ import annotations

import json

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree

MAX_CHILDREN = 500   # a longer list shows its first entries and a "… N more" leaf


def _scalar(v) -> Text:
    if isinstance(v, str):
        return Text(json.dumps(v, ensure_ascii=False), style="green")
    if isinstance(v, bool) or v is None:
        return Text(json.dumps(v), style="italic magenta")
    return Text(json.dumps(v), style="cyan")


class InspectTree(Tree):
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="nav.down"),
        Binding("k", "cursor_up", "Up", show=False, id="nav.up"),
        Binding("g", "first", "Top", show=False, id="nav.top"),
        Binding("G", "last", "Bottom", show=False, id="nav.bottom"),
        Binding("l,right", "expand", "Unfold", show=False, id="inspect.expand"),
        Binding("h,left", "collapse", "Fold", show=False, id="inspect.collapse"),
        Binding("E", "expand_all", "Unfold all", id="inspect.expand_all"),
        Binding("C", "collapse_all", "Fold all", id="inspect.collapse_all"),
    ]

    def __init__(self, **kw) -> None:
        super().__init__(Text("(nothing selected)"), **kw)
        self.show_root = False
        self.guide_depth = 2
        self.doc = None

    def show(self, title: str, doc) -> None:
        """Shows `doc`, keeping the folds the user opened where the shape is the same."""
        opened = self._opened_paths() if self.doc is not None else {("",)}
        self.doc = doc
        self.clear()
        self.root.set_label(Text(title, style="bold"))
        self._add(self.root, doc, ("",), opened)
        self.root.expand()
        if opened == {("",)}:
            # first look: unfold the top level and State / Config, fold the rest
            for child in self.root.children:
                if child.data and child.data[-1] in ("State", "Config", "RootFS", "HostConfig"):
                    child.expand()

    def show_message(self, text: str) -> None:
        self.doc = None
        self.clear()
        self.root.set_label(Text(text, style="dim"))
        self.root.add_leaf(Text(text, style="dim"))
        self.root.expand()

    def _opened_paths(self) -> set:
        out = set()
        stack = [self.root]
        while stack:
            n = stack.pop()
            if n.is_expanded and n.data is not None:
                out.add(n.data)
            stack.extend(n.children)
        out.add(("",))
        return out

    def _add(self, node, value, path, opened) -> None:
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        for key, v in items[:MAX_CHILDREN]:
            p = path + (key,)
            label = Text(str(key), style="bold") if isinstance(value, dict) else Text(f"[{key}]", style="dim")
            if isinstance(v, (dict, list)) and v:
                n = len(v)
                summary = f"{{{n}}}" if isinstance(v, dict) else f"[{n}]"
                child = node.add(label + Text(f" {summary}", style="dim"), data=p)
                self._add(child, v, p, opened)
                if p in opened:
                    child.expand()
            else:
                shown = _scalar(v) if not isinstance(v, (dict, list)) else Text("{}" if isinstance(v, dict) else "[]",
                                                                                   style="dim")
                node.add_leaf(label + Text(": ") + shown, data=p)
        if len(items) > MAX_CHILDREN:
            node.add_leaf(Text(f"… {len(items) - MAX_CHILDREN} more", style="dim"))

    def action_first(self) -> None:
        self.move_cursor_to_line(0)

    def action_last(self) -> None:
        self.move_cursor_to_line(max(0, self.last_line))

    def action_expand(self) -> None:
        n = self.cursor_node
        if n is not None and n.allow_expand:
            n.expand()

    def action_collapse(self) -> None:
        n = self.cursor_node
        if n is None:
            return
        if n.is_expanded and n.children:
            n.collapse()
        elif n.parent is not None and n.parent is not self.root:
            self.move_cursor(n.parent)

    def action_expand_all(self) -> None:
        self.root.expand_all()

    def action_collapse_all(self) -> None:
        for c in self.root.children:
            c.collapse_all()
