"""The logs tab: a container's log, followed live, with `/` search (matches
highlighted, n / N to go through them), wrap and timestamps toggles and a
jump to the end.

The log is read by a daemon thread (never the event loop) from
Engine.logs(ref, tail=…, follow=True); it queues entries and the pane drains
the queue a few times a second. A follower whose container is no longer shown
is told to stop and ends at its next entry or when the container exits (the
engine's follow has no way to be woken: see docs/tui.md)."""
from __future__ import annotations

import re
import threading
from collections import deque

from rich.cells import cell_len, chop_cells
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input, Static

TAIL = 2000          # entries read back when a container is first shown
MAX_ENTRIES = 20000  # entries kept in the pane
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]|\x1b\[[0-9;?]*[A-Za-z]")


class LogFollower(threading.Thread):
    """Reads one container's log into a queue."""

    def __init__(self, engine, ref: str, *, follow: bool, since: str | None = None, tail: int | None = TAIL):
        super().__init__(daemon=True, name=f"logs-{ref[:12]}")
        self.engine, self.ref, self.follow = engine, ref, follow
        self.since, self.tail = since, tail
        self.queue: deque = deque()
        self.stopped = False
        self.finished = False
        self.error: str | None = None

    def run(self) -> None:
        try:
            kw = {"follow": self.follow, "poll": 0.25, "stop": lambda: self.stopped}
            if self.since:
                kw["since"] = self.since
            else:
                kw["tail"] = self.tail
            for stream, t, data in self.engine.logs(self.ref, **kw):
                if self.stopped:
                    return
                if self.since and t <= self.since:
                    continue
                self.queue.append((stream, t, data.decode("utf-8", "replace")))
        except Exception as e:   # the container went away, the log cannot be read: shown, not raised
            if not self.stopped:
                self.error = str(e) or type(e).__name__
        finally:
            self.finished = True


class LogLines(ScrollView, can_focus=True):
    """The lines themselves (Textual's line API: only what is on screen is rendered)."""

    DEFAULT_CSS = """
    LogLines { background: $surface; }
    """
    BINDINGS = [
        Binding("j,down", "line(1)", "Down", show=False, id="nav.down"),
        Binding("k,up", "line(-1)", "Up", show=False, id="nav.up"),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("g,home", "top", "Top", show=False, id="nav.top"),
        Binding("G,end", "bottom", "End", id="logs.end"),
        Binding("f", "toggle_follow", "Follow", id="logs.follow"),
        Binding("w", "toggle_wrap", "Wrap", id="logs.wrap"),
        Binding("t", "toggle_timestamps", "Times", id="logs.timestamps"),
        Binding("slash", "search", "Search", id="logs.search"),
        Binding("n", "next_match(1)", "Next", show=False, id="logs.next"),
        Binding("N", "next_match(-1)", "Prev", show=False, id="logs.prev"),
        Binding("escape", "back", "Back", show=False, id="logs.back"),
    ]

    class StatusChanged(Message):
        pass

    class SearchRequested(Message):
        pass

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.entries: list[tuple[str, str, str]] = []   # (stream, time, text)
        self.rows: list[tuple[int, int, int]] = []      # (entry, start, end) per screen line
        self.wrap = False
        self.timestamps = False
        self.follow = True
        self.search = ""
        self._pattern: re.Pattern | None = None
        self.match_rows: list[int] = []
        self.current_match = -1
        self._max_width = 0
        self._wrap_width = 0
        self._styles: dict[str, Style] = {}

    # -- content -------------------------------------------------------------
    def _line(self, i: int) -> str:
        stream, t, text = self.entries[i]
        text = _CTRL.sub("", text.rstrip("\n").replace("\t", "    "))
        return f"{t} {text}" if self.timestamps else text

    def _rows_of(self, i: int) -> list[tuple[int, int, int]]:
        line = self._line(i)
        if not self.wrap or self._wrap_width <= 0 or cell_len(line) <= self._wrap_width:
            self._max_width = max(self._max_width, cell_len(line))
            return [(i, 0, len(line))]
        out, pos = [], 0
        for chunk in chop_cells(line, self._wrap_width):
            out.append((i, pos, pos + len(chunk)))
            pos += len(chunk)
        return out or [(i, 0, 0)]

    def clear_entries(self) -> None:
        self.entries = []
        self.rows = []
        self.match_rows = []
        self.current_match = -1
        self._max_width = 0
        self._resize_virtual()

    def add_entries(self, entries: list[tuple[str, str, str]]) -> None:
        if not entries:
            return
        self.entries.extend(entries)
        if len(self.entries) > MAX_ENTRIES:
            self.entries = self.entries[-MAX_ENTRIES:]
            self.relayout()
        else:
            first = len(self.entries) - len(entries)
            for i in range(first, len(self.entries)):
                start = len(self.rows)
                self.rows.extend(self._rows_of(i))
                if self._pattern is not None and self._pattern.search(self._line(i)):
                    self.match_rows.append(start)
            self._resize_virtual()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.post_message(self.StatusChanged())

    def relayout(self) -> None:
        """Recompute the screen lines (wrap, timestamps, width or search changed)."""
        self._wrap_width = max(10, self.scrollable_content_region.width or self.size.width or 80)
        self._max_width = 0
        rows, matches = [], []
        for i in range(len(self.entries)):
            start = len(rows)
            rows.extend(self._rows_of(i))
            if self._pattern is not None and self._pattern.search(self._line(i)):
                matches.append(start)
        self.rows, self.match_rows = rows, matches
        self._resize_virtual()
        self.refresh()

    def _resize_virtual(self) -> None:
        width = 0 if self.wrap else self._max_width
        self.virtual_size = Size(width, len(self.rows))
        self.refresh()

    def on_resize(self) -> None:
        if self.wrap:
            self.relayout()

    # -- rendering -----------------------------------------------------------
    def _style(self, name: str) -> Style:
        st = self._styles.get(name)
        if st is None:
            from textual.color import Color
            v = self.app.theme_variables
            if name == "match":
                st = Style(bgcolor=Color.parse(v.get("warning", "yellow")).rich_color,
                           color=Color.parse(v.get("background", "black")).rich_color)
            elif name == "current":
                st = Style(bgcolor=Color.parse(v.get("accent", "magenta")).rich_color,
                           color=Color.parse(v.get("background", "black")).rich_color, bold=True)
            elif name == "stderr":
                st = Style(color=Color.parse(v.get("error", "red")).rich_color)
            elif name == "time":
                st = Style(dim=True)
            else:
                st = Style()
            self._styles[name] = st
        return st

    def theme_changed(self) -> None:
        self._styles.clear()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        n = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if n >= len(self.rows):
            return Strip.blank(width, base)
        i, start, end = self.rows[n]
        line = self._line(i)
        text = Text(line[start:end], end="", no_wrap=True)
        stream, t, _ = self.entries[i]
        if stream == "stderr":
            text.stylize(self._style("stderr"))
        if self.timestamps and start < len(t):
            text.stylize(self._style("time"), 0, min(len(t), end) - start)
        if self._pattern is not None:
            cur = self.match_rows[self.current_match] if 0 <= self.current_match < len(self.match_rows) else -1
            cur_entry = self.rows[cur][0] if cur >= 0 else -1
            for m in self._pattern.finditer(line):
                a, b = max(m.start(), start), min(m.end(), end)
                if a < b:
                    text.stylize(self._style("current" if i == cur_entry else "match"), a - start, b - start)
        segments = list(text.render(self.app.console))
        strip = Strip(segments).apply_style(base)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    # -- actions -------------------------------------------------------------
    def action_line(self, n: int) -> None:
        self.follow = False
        self.scroll_to(y=self.scroll_y + n, animate=False)
        self.post_message(self.StatusChanged())

    def action_page(self, n: int) -> None:
        self.follow = False
        self.scroll_to(y=self.scroll_y + n * max(1, self.size.height - 1), animate=False)
        self.post_message(self.StatusChanged())

    def action_top(self) -> None:
        self.follow = False
        self.scroll_home(animate=False)
        self.post_message(self.StatusChanged())

    def action_bottom(self) -> None:
        self.follow = True
        self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.post_message(self.StatusChanged())

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.post_message(self.StatusChanged())

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self.relayout()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.post_message(self.StatusChanged())

    def action_toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps
        self.relayout()
        self.post_message(self.StatusChanged())

    def action_search(self) -> None:
        self.post_message(self.SearchRequested())

    def set_search(self, text: str) -> None:
        self.search = text
        self._pattern = re.compile(re.escape(text), re.IGNORECASE) if text else None
        self.current_match = -1
        self.relayout()
        self.post_message(self.StatusChanged())

    def action_next_match(self, step: int) -> None:
        if not self.match_rows:
            self.app.bell()
            return
        self.follow = False
        if self.current_match < 0:
            # from the screen's position: the first match below (n) or above (N) the top line
            top = int(self.scroll_y)
            after = [k for k, r in enumerate(self.match_rows) if (r >= top if step > 0 else r <= top)]
            self.current_match = (after[0] if step > 0 else after[-1]) if after else (0 if step > 0 else -1)
        else:
            self.current_match = (self.current_match + step) % len(self.match_rows)
        row = self.match_rows[self.current_match]
        self.scroll_to(y=max(0, row - self.size.height // 3), animate=False)
        self.refresh()
        self.post_message(self.StatusChanged())

    def action_back(self) -> None:
        if self.search:
            self.set_search("")
        else:
            self.app.action_back_to_list()


class LogPane(Vertical):
    """Status line, search box and lines, for one container at a time."""

    DEFAULT_CSS = """
    LogPane { height: 1fr; }
    LogPane > #log-status { height: 1; color: $text-muted; padding: 0 1; }
    LogPane > Input { display: none; height: 1; border: none; padding: 0 1; }
    LogPane > Input.shown { display: block; }
    LogPane > LogLines { height: 1fr; }
    """

    def __init__(self, engine, **kw) -> None:
        super().__init__(**kw)
        self.engine = engine
        self.ref: str | None = None
        self.name_shown = ""
        self.follower: LogFollower | None = None
        self.last_time: str | None = None
        self.error: str | None = None
        self._timer = None

    def compose(self):
        yield Static("", id="log-status")
        yield Input(placeholder="search the log (enter: keep, esc: clear)", id="log-search")
        yield LogLines(id="log-lines")

    @property
    def lines(self) -> LogLines:
        return self.query_one(LogLines)

    def on_mount(self) -> None:
        self._timer = self.set_interval(0.25, self._drain, pause=True)
        self._status()

    def show(self, ref: str | None, name: str = "", running: bool = False) -> None:
        """Shows `ref`'s log (None: nothing). Called again on every refresh with
        the container's state: a container that started again is followed again."""
        if ref != self.ref:
            self._stop()
            self.ref, self.name_shown = ref, name
            self.last_time = None
            self.error = None
            self.lines.clear_entries()
            if ref is None:
                self._status()
                self._timer.pause()
                return
            self._start(follow=running)
            self._timer.resume()
        elif ref is not None and running and (self.follower is None or self.follower.finished):
            self._start(follow=True, since=self.last_time)
        self._status()

    def pause(self) -> None:
        """The tab is hidden: stop draining (the follower keeps its queue)."""
        if self._timer:
            self._timer.pause()

    def resume(self) -> None:
        if self._timer and self.ref:
            self._timer.resume()

    def _start(self, follow: bool, since: str | None = None) -> None:
        self._stop()
        self.follower = LogFollower(self.engine, self.ref, follow=follow, since=since)
        self.follower.start()

    def _stop(self, drain: bool = True) -> None:
        if self.follower is not None:
            self.follower.stopped = True
            if drain:
                self._drain()
            self.follower = None

    def _drain(self) -> None:
        f = self.follower
        if f is None:
            return
        q = f.queue
        batch = []
        while q:
            batch.append(q.popleft())
        if batch:
            self.last_time = batch[-1][1]
            self.lines.add_entries(batch)
        if f.error and f.error != self.error:
            self.error = f.error
            self._status()
        if f.finished and not q and not getattr(f, "reported", False):
            f.reported = True   # the container stopped: say so once
            self._status()

    def on_log_lines_status_changed(self, event) -> None:
        event.stop()
        self._status()

    def _status(self) -> None:
        if self.ref is None:
            self.query_one("#log-status", Static).update("select a container to see its log")
            return
        l = self.lines
        bits = [self.name_shown or self.ref[:12], f"{len(l.entries)} lines"]
        following = self.follower is not None and self.follower.follow and not self.follower.finished
        bits.append(("following" if l.follow else "paused (G: follow)") if following else "not running")
        bits.append(f"wrap {'on' if l.wrap else 'off'}")
        bits.append(f"time {'on' if l.timestamps else 'off'}")
        if l.search:
            n = len(l.match_rows)
            bits.append(f"/{l.search}: {n} match{'es' if n != 1 else ''}"
                        + (f" ({l.current_match + 1}/{n})" if l.current_match >= 0 else ""))
        if self.error:
            bits.append(f"error: {self.error}")
        self.query_one("#log-status", Static).update(Text("  ·  ".join(bits)))

    # search box
    def on_log_lines_search_requested(self, event) -> None:
        event.stop()
        box = self.query_one("#log-search", Input)
        box.add_class("shown")
        box.value = self.lines.search
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "log-search":
            event.stop()
            self.lines.set_search(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "log-search":
            event.stop()
            if not event.value:
                event.input.remove_class("shown")
            self.lines.focus()
            if event.value:
                self.lines.action_next_match(1)

    def close_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.remove_class("shown")
        box.value = ""
        self.lines.set_search("")
        self.lines.focus()

    def on_key(self, event) -> None:
        if event.key == "escape" and self.query_one("#log-search", Input).has_focus:
            event.stop()
            event.prevent_default()
            self.close_search()

    def on_unmount(self) -> None:
        self._stop(drain=False)
