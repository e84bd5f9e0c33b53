"""The app's chrome: the header line and the titled list panes (with their filter box)."""
from __future__ import annotations

import os

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Input

from ..widgets.tables import ResourceTable


def host_info() -> str:
    """Load average and memory use of the host (for the header line)."""
    try:
        l1, l5, l15 = os.getloadavg()
        load = f"load {l1:.2f} {l5:.2f} {l15:.2f}"
    except OSError:
        load = "load -"
    try:
        import psutil
        mem = f"mem {psutil.virtual_memory().percent:.0f}%"
    except Exception:
        mem = ""
    return f"{load}  {mem}".strip()


class TopBar(Widget):
    """The header line. Repaints itself only (no layout pass) and only when its text changes."""

    DEFAULT_CSS = "TopBar { height: 1; width: 1fr; }"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.text = Text("dockyard")

    def set_text(self, text: Text) -> None:
        if text.plain != self.text.plain or text.spans != self.text.spans:
            self.text = text
            self.refresh()

    def render(self) -> Text:
        return self.text


class ListPane(Vertical):
    """A titled pane holding a filter box (shown by `/`) and a resource table."""

    def __init__(self, table: ResourceTable, title: str, **kw) -> None:
        super().__init__(**kw)
        self.table = table
        self.title = title
        self.border_title = title

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter (enter: keep, esc: clear)", classes="filter")
        yield self.table

    @property
    def box(self) -> Input:
        return self.query_one(Input)

    def update_title(self) -> None:
        t = self.table
        total = len(t.items)
        shown = len(t.shown)
        bits = [self.title, f"{shown}/{total}" if t.filter_text else str(total)]
        if t.filter_text:
            bits.append(f"/{t.filter_text}")
        if t.marked:
            bits.append(f"{len(t.marked)} marked")
        title = " · ".join(bits)
        if title != self.border_title:
            self.border_title = title

    def on_resource_table_filter_requested(self, event: ResourceTable.FilterRequested) -> None:
        event.stop()
        box = self.box
        if event.table.filter_text and box.has_class("shown") and not box.has_focus:
            # esc on the table with a filter set: the table cleared it; hide the box
            box.value = ""
            box.remove_class("shown")
            self.update_title()
            return
        box.add_class("shown")
        box.value = event.table.filter_text
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.table.set_filter(event.value.strip())
        self.update_title()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            self.box.remove_class("shown")
        self.table.focus()

    def on_key(self, event) -> None:
        if event.key == "escape" and self.box.has_focus:
            event.stop()
            event.prevent_default()
            self.box.value = ""
            self.box.remove_class("shown")
            self.table.set_filter("")
            self.update_title()
            self.table.focus()

    def on_resource_table_marks_changed(self, event) -> None:
        event.stop()
        self.update_title()

