"""The containers and images panes: DataTables that are fed the engine's whole
list on every refresh and change only what changed (cells, or the rows when
the set or the order changed), keep the cursor on the same object, hold marks
(space) for bulk actions and a `/` filter."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from .format import compact_duration, human_size, percent

Cell = tuple[str, str]   # (text, style name: "" or a theme colour name such as "success", or "dim")


class Col(NamedTuple):
    key: str
    label: str
    width: int            # fixed width, or the minimum for a flexible column
    flex: int = 0         # share of the width left over (0: fixed)
    justify: str = "left"
    narrow: bool = True   # shown when the pane is narrow


class ResourceTable(DataTable):
    """Base of the two list panes."""

    COLUMNS: list[Col] = []
    KIND = ""
    BINDINGS = [
        Binding("question_mark", "app.help", "Help", id="list.help"),
        Binding("j", "cursor_down", "Down", show=False, id="nav.down"),
        Binding("k", "cursor_up", "Up", show=False, id="nav.up"),
        Binding("g", "scroll_top", "Top", show=False, id="nav.top"),
        Binding("G", "scroll_bottom", "Bottom", show=False, id="nav.bottom"),
        Binding("space", "toggle_mark", "Mark", show=False, id="list.mark"),
        Binding("slash", "filter", "Filter", show=False, id="list.filter"),
        Binding("escape", "back", "Back", show=False, id="list.back"),
    ]

    class Selected(Message):
        """The cursor is on another object (or on none)."""

        def __init__(self, table: ResourceTable, key: str | None, item: Any) -> None:
            super().__init__()
            self.table = table
            self.key = key
            self.item = item

    class FilterRequested(Message):
        def __init__(self, table: ResourceTable) -> None:
            super().__init__()
            self.table = table

    class MarksChanged(Message):
        def __init__(self, table: ResourceTable) -> None:
            super().__init__()
            self.table = table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False, cell_padding=1)
        self.items: dict[str, Any] = {}        # key -> object, in the engine's order
        self.shown: list[str] = []             # keys of the rows, in order
        self.cells: dict[str, tuple[Cell, ...]] = {}
        self.marked: set[str] = set()
        self.filter_text = ""
        self.narrow = False
        self._cols: list[Col] = []
        self._last_selected: str | None = "\0"
        self._styles: dict[str, Style] = {}
        from textual.cache import LRUCache
        self._cells_cache = LRUCache(4000)
        self._lines_cache = LRUCache(1000)
        self._columns_version = 0

    # -- rendering -------------------------------------------------------------
    def _render_cell(self, row_index: int, column_index: int, base_style, width: int, cursor: bool = False,
                     hover: bool = False):
        # DataTable drops every rendered cell whenever any cell changes (its cache
        # key holds a table-wide update count). A refresh changes a few cells of a
        # few rows (uptime, CPU, memory): keep the others' renders. Cells are
        # replaced, never mutated, so the cell object itself says "unchanged".
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        col_key = self._column_locations.get_key(column_index)
        cell = self._data[row_key][col_key]
        key = (row_key, col_key, row_index, base_style, width, cursor, hover, self._show_hover_cursor,
               self._pseudo_class_state)
        hit = self._cells_cache.get(key)
        if hit is not None and hit[0] is cell:
            return hit[1]
        out = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._cells_cache[key] = (cell, out)
        return out

    def _render_line_in_row(self, row_key, line_no, base_style, cursor_location, hover_location):
        # The same for whole lines: a row whose cells are the same objects as
        # last time (and the cursor, hover and styles unchanged) is not redrawn.
        cells = tuple(self._data.get(row_key, {}).values())
        key = (row_key, line_no, base_style, cursor_location, hover_location, self.cursor_type, self.show_cursor,
               self._show_hover_cursor, self._pseudo_class_state, self._columns_version)
        hit = self._lines_cache.get(key)
        if hit is not None and len(hit[0]) == len(cells) and all(a is b for a, b in zip(hit[0], cells)):
            return hit[1]
        out = super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        self._lines_cache[key] = (cells, out)
        return out

    # -- columns, styles -----------------------------------------------------
    def on_mount(self) -> None:
        self._make_columns()

    def theme_changed(self) -> None:
        self._styles.clear()
        self._cells_cache.clear()
        self._lines_cache.clear()
        self._rebuild()

    def _style(self, name: str) -> Style:
        st = self._styles.get(name)
        if st is None:
            st = Style()
            if name == "dim":
                st = Style(dim=True)
            elif name == "bold":
                st = Style(bold=True)
            elif name:
                from textual.color import Color
                try:
                    value = self.app.theme_variables.get(name) or name
                    st = Style(color=Color.parse(value).rich_color)
                except Exception:
                    st = Style()
            self._styles[name] = st
        return st

    def _text(self, cell: Cell, col: Col) -> Text:
        text, style = cell
        return Text(text, style=self._style(style), justify=col.justify, no_wrap=True, overflow="ellipsis")

    def _make_columns(self) -> None:
        cols = [c for c in self.COLUMNS if c.narrow or not self.narrow]
        width = self.size.width or (self.app.size.width if self.app else 80)
        avail = width - 2 * self.cell_padding * len(cols) - 2  # the vertical scrollbar
        fixed = sum(c.width for c in cols if not c.flex)
        flex_total = sum(c.flex for c in cols if c.flex) or 1
        left = max(0, avail - fixed)
        widths = []
        for c in cols:
            if c.flex:
                widths.append(max(c.width, left * c.flex // flex_total))
            else:
                widths.append(c.width)
        if (self._cols, [col.width for col in self.columns.values()]) == (cols, widths):
            return
        self._cols = cols
        self._columns_version += 1
        self.clear(columns=True)
        for c, w in zip(cols, widths):
            self.add_column(Text(c.label, justify=c.justify), width=w, key=c.key)
        self.shown = []
        self._rebuild()

    def on_resize(self) -> None:
        self._make_columns()

    def set_narrow(self, narrow: bool) -> None:
        if narrow != self.narrow:
            self.narrow = narrow
            self._make_columns()

    # -- data ----------------------------------------------------------------
    def row_cells(self, key: str, item: Any) -> tuple[Cell, ...]:
        raise NotImplementedError

    def match_text(self, item: Any) -> str:
        raise NotImplementedError

    def set_items(self, items: list[tuple[str, Any]]) -> None:
        self.items = dict(items)
        self.marked &= set(self.items)
        self._rebuild()

    def refresh_cells(self) -> None:
        """Recompute the cells (a clock tick, new stats) without new items."""
        self._rebuild()

    def _rebuild(self) -> None:
        if not self._cols:
            return
        f = self.filter_text.lower()
        keys = [k for k, it in self.items.items() if not f or f in self.match_text(it).lower()]
        new_cells = {k: self._with_mark(k, self.row_cells(k, self.items[k])) for k in keys}
        col_keys = [c.key for c in self.COLUMNS]
        index = {k: i for i, k in enumerate(col_keys)}
        if keys != self.shown:
            cur = self.cursor_key
            row = self.cursor_row
            self.clear()
            self.add_rows_keyed(keys, new_cells, index)
            self.shown = keys
            if keys:
                target = keys.index(cur) if cur in keys else min(row, len(keys) - 1)
                self.move_cursor(row=max(0, target), animate=False, scroll=True)
        else:
            for k in keys:
                old = self.cells.get(k)
                new = new_cells[k]
                if old == new:
                    continue
                for c in self._cols:
                    i = index[c.key]
                    if old is None or old[i] != new[i]:
                        self.update_cell(k, c.key, self._text(new[i], c))
        self.cells = new_cells
        self._announce()

    def add_rows_keyed(self, keys, cells, index) -> None:
        for k in keys:
            row = cells[k]
            self.add_row(*(self._text(row[index[c.key]], c) for c in self._cols), key=k)

    def _with_mark(self, key: str, cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
        return (("●", "accent") if key in self.marked else (" ", ""),) + cells

    # -- selection -----------------------------------------------------------
    @property
    def cursor_key(self) -> str | None:
        if not self.shown or not (0 <= self.cursor_row < len(self.shown)):
            return None
        return self.shown[self.cursor_row]

    @property
    def cursor_item(self) -> Any:
        k = self.cursor_key
        return None if k is None else self.items.get(k)

    def targets(self) -> list[str]:
        """The marked keys (in list order), else the one under the cursor."""
        if self.marked:
            return [k for k in self.items if k in self.marked]
        k = self.cursor_key
        return [k] if k else []

    def select_key(self, key: str) -> bool:
        if key in self.shown:
            self.move_cursor(row=self.shown.index(key), scroll=True)
            return True
        return False

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._announce()

    def _announce(self) -> None:
        k = self.cursor_key
        sig = k
        if sig != self._last_selected:
            self._last_selected = sig
            self.post_message(self.Selected(self, k, self.items.get(k) if k else None))

    def visible_keys(self) -> list[str]:
        top = int(self.scroll_y)
        h = max(1, self.size.height - 1)
        return self.shown[top:top + h]

    # -- actions -------------------------------------------------------------
    def action_toggle_mark(self) -> None:
        k = self.cursor_key
        if not k:
            return
        self.marked.symmetric_difference_update({k})
        self._rebuild()
        self.post_message(self.MarksChanged(self))
        if self.cursor_row < len(self.shown) - 1:
            self.action_cursor_down()

    def action_filter(self) -> None:
        self.post_message(self.FilterRequested(self))

    def set_filter(self, text: str) -> None:
        if text != self.filter_text:
            self.filter_text = text
            self._rebuild()

    def action_back(self) -> None:
        if self.marked:
            self.marked.clear()
            self._rebuild()
            self.post_message(self.MarksChanged(self))
        elif self.filter_text:
            self.post_message(self.FilterRequested(self))  # the pane clears it
            self.set_filter("")


# ---------------------------------------------------------------- containers

STATE_STYLE = {"running": "success", "paused": "warning", "created": "secondary", "exited": "dim",
               "removing": "error", "dead": "error"}


@dataclass
class StatsView:
    cpu: float | None
    mem: int | None


class ContainersTable(ResourceTable):
    KIND = "container"
    COLUMNS = [
        Col("mark", "", 1),
        Col("name", "NAME", 10, flex=3),
        Col("image", "IMAGE", 10, flex=3),
        Col("state", "STATE", 8),
        Col("up", "UP", 4, justify="right"),
        Col("cpu", "CPU", 6, justify="right"),
        Col("mem", "MEM", 7, justify="right"),
        Col("ports", "PORTS", 5, flex=1, narrow=False),
    ]
    BINDINGS = [
        Binding("u", "app.container('start')", "Start", id="container.start"),
        Binding("s", "app.container('stop')", "Stop", id="container.stop"),
        Binding("r", "app.container('restart')", "Restart", id="container.restart"),
        Binding("K", "app.container('kill')", "Kill", id="container.kill"),
        Binding("p", "app.container('pause')", "Pause", id="container.pause"),
        Binding("d", "app.container('remove')", "Remove", id="container.remove"),
        Binding("a", "app.attach", "Attach", id="container.attach"),
        Binding("e", "app.shell", "Shell", id="container.shell"),
        Binding("o", "app.console('attach')", "Console", id="container.console"),
        Binding("O", "app.console('exec')", "Console (exec)", id="container.console_exec"),
        Binding("c", "app.commit", "Commit", id="container.commit"),
        Binding("P", "app.container('prune')", "Prune", id="container.prune"),
        Binding("space", "toggle_mark", "Mark", id="list.mark"),
        Binding("slash", "filter", "Filter", id="list.filter"),
    ]

    def __init__(self, *, id: str | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.stats: dict[str, StatsView] = {}
        self.pending: dict[str, str] = {}      # key -> "stopping…" while an action runs

    def row_cells(self, key, c) -> tuple[Cell, ...]:
        status = self.pending.get(key) or c.status
        if c.status == "exited" and key not in self.pending:
            state = (f"exit {c.exit_code}" if c.exit_code else "exited",
                     "error" if c.exit_code not in (0, None) else "dim")
        else:
            state = (status, STATE_STYLE.get(status, "warning" if key in self.pending else ""))
        running = c.status in ("running", "paused")
        up = compact_duration(self.clock() - c.started_at) if running and c.started_at else "-"
        st = self.stats.get(key) if running else None
        cpu = percent(st.cpu) if st and st.cpu is not None else "-"
        mem = human_size(st.mem) if st and st.mem is not None else "-"
        return ((c.name, "bold" if running else ""), (c.image, ""), state, (up, ""), (cpu, ""), (mem, ""),
                (", ".join(c.ports) or "-", "dim" if not c.ports else ""))

    def match_text(self, c) -> str:
        return f"{c.name} {c.image} {c.status} {c.id} {c.command}"


# ---------------------------------------------------------------- images

class ImagesTable(ResourceTable):
    KIND = "image"
    COLUMNS = [
        Col("mark", "", 1),
        Col("ref", "REPOSITORY:TAG", 16, flex=1),
        Col("id", "IMAGE ID", 12),
        Col("size", "SIZE", 7, justify="right"),
        Col("shared", "SHARED", 7, justify="right"),
        Col("created", "CREATED", 7, justify="right"),
        Col("used", "CTRS", 4, justify="right", narrow=False),
    ]
    BINDINGS = [
        Binding("r", "app.run_image", "Run", id="image.run"),
        Binding("t", "app.tag_image", "Tag", id="image.tag"),
        Binding("d", "app.remove_image", "Remove", id="image.remove"),
        Binding("P", "app.prune_images", "Prune", id="image.prune"),
        Binding("i", "app.import_image", "Import", id="image.import"),
        Binding("S", "app.save_image", "Save", id="image.save"),
        Binding("b", "app.build_image", "Build", id="image.build"),
        Binding("p", "app.pull_image", "Pull", id="image.pull"),
        Binding("u", "app.push_image", "Push", id="image.push"),
        Binding("space", "toggle_mark", "Mark", id="list.mark"),
        Binding("slash", "filter", "Filter", id="list.filter"),
    ]

    def __init__(self, *, id: str | None = None, clock: Callable[[], float] = time.time) -> None:
        super().__init__(id=id)
        self.clock = clock

    @staticmethod
    def rows_of(images) -> list[tuple[str, Any]]:
        """One row per tag (docker images), a dangling image as <none>:<none>."""
        out = []
        for img in images:
            for name in img.tags or [None]:
                out.append((f"{img.id}|{name or '<none>'}", (img, name)))
        return out

    def row_cells(self, key, item) -> tuple[Cell, ...]:
        img, name = item
        created = compact_duration(self.clock() - img.created_ts) if img.created_ts else "-"
        return ((name or "<none>:<none>  (dangling)", "" if name else "warning"), (img.short_id, "dim"),
                (human_size(img.size), ""), (human_size(img.shared_size) if img.shared_size else "-", "dim"),
                (created, ""), (str(img.containers) if img.containers else "-", ""))

    def match_text(self, item) -> str:
        img, name = item
        return f"{name or '<none> dangling'} {img.id}"
