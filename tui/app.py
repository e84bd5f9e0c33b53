"""The Textual app: a header line, the containers and images panes, and a
detail area with tabs for the selection (inspect, logs, stats, layer tree).

Live and never blocked: every engine call runs in a worker thread; a timer
(refresh_interval, 1 s by default) makes one images() and one containers()
call per tick plus stats for the running containers that are on screen, and
the tables change only the cells that changed. An engine error is a
notification. Keys: docs/keys.md (and `?` in the app)."""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.actions import SkipAction
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane

from .config import Config, load_config, load_themes
from .widgets.format import human_size
from .widgets.inspect import InspectTree
from .widgets.layers import FileTree, LayerList, LayersPane
from .widgets.logs import LogLines, LogPane
from .widgets.stats import StatsHistory, StatsPane
from .widgets.console import ConsoleView
from .widgets.tables import ContainersTable, ImagesTable, ResourceTable, StatsView

NARROW_WIDTH = 120   # below this many columns the panes stack: lists on top, detail below
TABS = ("inspect", "logs", "stats", "layers")
BULK_WORKERS = 8


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


TITLE_MAX = 24   # characters of a program's window title shown in its tab


class TabConsole(ConsoleView):
    """A console in a tab of the detail area. While it is live every key goes
    to the program (the app gives up tab, ctrl+p and ctrl+q too) except
    these function keys (and F5, copy mode, from ConsoleView)."""

    BINDINGS = [
        Binding("f6", "app.leave_console", "Back to the lists", priority=True, id="console.leave"),
        Binding("f11", "app.console_zoom", "Maximise", priority=True, id="console.zoom"),
        Binding("f2", "app.console_commit", "Commit", priority=True, id="console.commit"),
        Binding("f8", "app.console_close", "Close the tab", priority=True, id="console.close"),
    ]

    def __init__(self, engine, cid: str, name: str, mode: str, **kw):
        super().__init__(engine, cid, mode, **kw)
        self.cid, self.cname = cid, name
        self.bell_marked = False   # the bell rang while the tab was not the active one

    def on_key(self, event) -> None:
        # (Textual then calls ConsoleView.on_key unless prevented)
        if self.state == "connecting":   # not yet: the keys are not the app's either
            event.stop()
            event.prevent_default()

    @property
    def tab_title(self) -> str:
        """NAME (attach|exec), the program's title (shortened), [copy],
        [exited N], and a leading ! after a bell in a tab not shown."""
        t = f"{self.cname} ({self.mode})"
        if self.title:
            title = self.title if len(self.title) <= TITLE_MAX else self.title[:TITLE_MAX - 1] + "…"
            t += f" {title}"
        if self.copy is not None:
            t += " [copy]"
        if self.state == "exited" and self.error:
            t += " [disconnected]" if self.error.startswith("disconnected") else " [error]"
        elif self.state == "exited":
            t += f" [exited {self.exit_code if self.exit_code is not None else '?'}]"
        if self.bell_marked:
            t = "! " + t
        return t


def detach_chord(keys: str) -> tuple[str, ...]:
    """docker's --detach-keys syntax ("ctrl-p,ctrl-q") as Textual key names."""
    out = []
    for k in keys.split(","):
        k = k.strip()
        if k.startswith("ctrl-"):
            k = "ctrl+" + k[5:]
        if k:
            out.append(k)
    return tuple(out)


class DockyardApp(App):
    TITLE = "dockyard"
    CSS = """
    Screen { layers: base; }
    #topbar { height: 1; padding: 0 1; background: $panel; color: $foreground; }
    #main { height: 1fr; }
    #lists { width: 55%; height: 1fr; }
    #detail { width: 45%; height: 1fr; border: round $border-blurred; }
    #detail:focus-within { border: round $border; }
    ListPane { height: 1fr; border: round $border-blurred; }
    ListPane:focus-within { border: round $border; }
    ListPane > Input.filter { display: none; height: 1; border: none; padding: 0 1; }
    ListPane > Input.filter.shown { display: block; }
    ListPane > DataTable { height: 1fr; }
    ListPane > DataTable > .datatable--header { color: $text-muted; text-style: bold; background: $surface; }
    TabbedContent { height: 1fr; }
    TabbedContent > ContentSwitcher { height: 1fr; }
    TabPane { height: 1fr; padding: 0; }
    InspectTree { height: 1fr; }
    TabConsole { height: 1fr; }

    /* narrow terminals (80x24 over SSH): lists on top, detail below, no side borders */
    #main.narrow { layout: vertical; }
    #main.narrow #lists { width: 100%; height: 11fr; }
    #main.narrow #detail { width: 100%; height: 10fr; border: none; border-top: solid $border-blurred; }
    #main.narrow #detail:focus-within { border-top: solid $border; height: 18fr; }
    #main.narrow ListPane { border: none; border-top: solid $border-blurred; }
    #main.narrow ListPane:focus-within { border-top: solid $border; height: 3fr; }
    #main.narrow ListPane { height: 2fr; }
    #main.narrow Tabs { height: 1; }
    #main.narrow Tab { padding: 0 1; }
    #main.narrow Underline { display: none; }
    """

    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("tab", "next_pane", "Next pane", show=False, priority=True, id="app.next_pane"),
        Binding("shift+tab", "prev_pane", "Previous pane", show=False, priority=True, id="app.prev_pane"),
        Binding("1", "tab('inspect')", "Inspect", show=False, id="tab.inspect"),
        Binding("2", "tab('logs')", "Logs", show=False, id="tab.logs"),
        Binding("3", "tab('stats')", "Stats", show=False, id="tab.stats"),
        Binding("4", "tab('layers')", "Layers", show=False, id="tab.layers"),
        Binding("z", "zoom", "Zoom", show=False, id="app.zoom"),
        Binding("ctrl+r", "refresh", "Refresh", show=False, id="app.refresh"),
        Binding("escape", "back_to_list", "Back (in a list: clear the marks, then the filter)", show=False,
                id="app.back"),
    ]

    def __init__(self, engine, refresh_interval: float | None = None, *, config: Config | None = None,
                 config_problems: Iterable[str] = (), clock: Callable[[], float] = time.time,
                 host: Callable[[], str] = host_info, themes_dirs: list[str] | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.config = config or Config()
        self.refresh_interval = refresh_interval or self.config.refresh_interval
        self.clock = clock
        self.host = host
        self.messages = list(config_problems)
        themes, problems = load_themes(themes_dirs)
        self.messages += problems
        for th in themes:
            self.register_theme(th)
        self.theme_names = [th.name for th in themes]
        if self.config.theme in self.available_themes:
            self.theme = self.config.theme
        else:
            self.messages.append(f"no theme {self.config.theme!r} (themes: {', '.join(self.theme_names)}); "
                                 "using dockyard-dark")
            self.theme = "dockyard-dark" if "dockyard-dark" in self.available_themes else "textual-dark"
        self.containers_table = ContainersTable(id="containers", clock=clock)
        self.images_table = ImagesTable(id="images", clock=clock)
        self.subject: tuple | None = None     # ("container", id) or ("image", id, name)
        self.active_list: ResourceTable = self.containers_table
        self.hist: dict[str, StatsHistory] = {}
        self._polling = False
        self._suspended = False
        self._poll_error: str | None = None
        self._select_after: tuple | None = None
        self._subject_state: str | None = None
        self._detail_loaded: dict[str, tuple | None] = {t: None for t in TABS}
        self._first_frame = False
        self._poll_count = 0
        self.build_run = None                 # the last build (tui/screens/build_log.BuildRun)
        self._build_last: dict | None = None  # the last build dialog's answers
        self._console_seq = 0

    @property
    def main(self):
        """The main screen (queries on the app go to the active screen, maybe a dialog)."""
        return self.screen_stack[0] if self.screen_stack else self.screen

    # -- layout --------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield TopBar(id="topbar")
        with Horizontal(id="main"):
            with Vertical(id="lists"):
                yield ListPane(self.containers_table, "Containers", id="containers-pane")
                yield ListPane(self.images_table, "Images", id="images-pane")
            with Vertical(id="detail"):
                with TabbedContent(id="tabs", initial="inspect"):
                    with TabPane("Inspect", id="inspect"):
                        yield InspectTree(id="inspect-tree")
                    with TabPane("Logs", id="logs"):
                        yield LogPane(self.engine, id="log-pane")
                    with TabPane("Stats", id="stats"):
                        yield StatsPane(id="stats-pane")
                    with TabPane("Layers", id="layers"):
                        yield LayersPane(id="layers-pane")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._composed_ui = True
        if self.config.keys:
            self.set_keymap(self.config.keys)
        self._reflow(self.size.width)
        self.containers_table.focus()
        for m in self.messages:
            if isinstance(m, tuple):
                self.notify(m[0], severity=m[1], timeout=6)
            else:
                self.notify(m, title="settings", severity="error", timeout=12)
        self.main.query_one("#detail").border_title = "Detail"
        self.main.query_one(InspectTree).show_message("nothing selected")
        self.main.query_one(LayersPane).show_message("nothing selected")
        self.refresh_now()
        self.set_interval(self.refresh_interval, self.refresh_now)

    def on_resize(self, event) -> None:
        self._reflow(event.size.width)

    def _reflow(self, width: int) -> None:
        narrow = width < NARROW_WIDTH
        self.main.query_one("#main").set_class(narrow, "narrow")
        self.containers_table.set_narrow(narrow)
        self.images_table.set_narrow(narrow)

    def choose_theme(self, name: str) -> None:
        """A theme picked by the user: applied, and kept in config.yaml."""
        from .config import save_theme
        self.theme = name
        try:
            path = save_theme(name, self.config.path)
        except OSError as e:
            self.notify(f"theme {name}: not saved ({e.strerror or e})", severity="warning")
            return
        self.config.theme = name
        self.config.path = path
        self.notify(f"theme {name}, saved to {path}")

    def watch_theme(self, theme: str) -> None:
        if not getattr(self, "_composed_ui", False):
            return
        for w in (self.containers_table, self.images_table):
            w.theme_changed()
        self.main.query_one(LogLines).theme_changed()
        self.main.query_one(LayersPane).theme_changed()

    # -- refreshing ----------------------------------------------------------
    def action_refresh(self) -> None:
        self.refresh_now()
        self._detail_loaded = {t: None for t in TABS}
        self._load_detail()

    def refresh_now(self) -> None:
        if self._polling or self._suspended:
            return
        self._polling = True
        want = set(self.containers_table.visible_keys())
        if self.subject and self.subject[0] == "container":
            want.add(self.subject[1])
        running = {k for k in want if (c := self.containers_table.items.get(k)) is not None
                   and c.status == "running"}
        prev = {k: self.hist[k].last for k in running if k in self.hist}
        self._poll(running, prev)

    @work(thread=True, group="poll")
    def _poll(self, running: set, prev: dict) -> None:
        # One images() and one containers() per tick; stats only for the
        # running containers on screen (and the selected one).
        try:
            try:
                images = self.engine.images()
                containers = self.engine.containers(all=True)
            except Exception as e:
                self.call_from_thread(self._poll_failed, e)
                return
            stats = {}
            for cid in running:
                try:
                    stats[cid] = self.engine.stats(cid, previous=prev.get(cid))
                except Exception:
                    pass   # it stopped meanwhile: the next tick shows it
            host = self.host()
            self.call_from_thread(self._apply, images, containers, stats, host)
        finally:
            self._polling = False

    def _poll_failed(self, e: Exception) -> None:
        msg = str(e) or type(e).__name__
        if msg != self._poll_error:
            self._poll_error = msg
            self.notify(f"cannot read the engine: {msg}", severity="error", timeout=8)

    def _apply(self, images, containers, stats, host: str) -> None:
        if not self.is_running or not self.screen_stack:
            return
        self._poll_error = None
        self._poll_count += 1
        ct = self.containers_table
        for cid, st in stats.items():
            h = self.hist.setdefault(cid, StatsHistory())
            h.add(st)
            ct.stats[cid] = StatsView(st.cpu_percent if len(h.cpu) else None, st.memory_usage)
        ids = {c.id for c in containers}
        for gone in [k for k in self.hist if k not in ids]:
            self.hist.pop(gone, None)
            ct.stats.pop(gone, None)
        for c in containers:
            if c.status != "running":
                ct.stats.pop(c.id, None)
        containers = sorted(containers, key=lambda c: -c.created)
        images = sorted(images, key=lambda i: (-(i.created_ts or 0), i.id))
        ct.set_items([(c.id, c) for c in containers])
        self.images_table.set_items(ImagesTable.rows_of(images))
        for pane in self.main.query(ListPane):
            pane.update_title()
        running = sum(1 for c in containers if c.status == "running")
        n_img = len(images)
        plain = (f"dockyard  {running}/{len(containers)} containers running  ·  "
                 f"{n_img} image{'s' if n_img != 1 else ''}  ·  {host}  ·  root {self.engine.root}")
        top = Text(plain)
        top.stylize("bold", 0, 8)
        top.stylize("dim", plain.rindex("root "))
        top.truncate(max(10, self.size.width - 2), overflow="ellipsis")
        self.main.query_one(TopBar).set_text(top)
        if self._select_after:
            kind, key = self._select_after
            table = ct if kind == "container" else self.images_table
            keys = [k for k in table.shown if k == key or k.startswith(key + "|")]
            if keys:
                self._select_after = None
                table.select_key(keys[0])
                table.focus()
                self._set_subject_from(table)
        if not self._first_frame and not containers and images and self.focused is self.containers_table:
            self.images_table.focus()   # nothing to show in the containers pane yet
        self._refresh_subject()
        self._first_frame = True

    # -- the detail area -----------------------------------------------------
    def on_resource_table_selected(self, event: ResourceTable.Selected) -> None:
        if event.table is self.active_list:
            self._set_subject_from(event.table)

    def on_descendant_focus(self, event) -> None:
        w = event.widget
        if isinstance(w, ResourceTable) and w is not self.active_list:
            self.active_list = w
            self._set_subject_from(w)

    def _set_subject_from(self, table: ResourceTable) -> None:
        self.active_list = table
        key = table.cursor_key
        item = table.cursor_item
        if key is None:
            subject = None
        elif table is self.containers_table:
            subject = ("container", key)
        else:
            img, name = item
            subject = ("image", img.id, name)
        if subject != self.subject:
            self.subject = subject
            self._subject_state = None
            self._detail_loaded = {t: None for t in TABS}
            self._update_tabs()
            self._load_detail()

    def _update_tabs(self) -> None:
        tabs = self.main.query_one(TabbedContent)
        is_container = self.subject is not None and self.subject[0] == "container"
        if not is_container and tabs.active in ("logs", "stats"):
            tabs.active = "inspect"
        for t in ("logs", "stats"):
            if is_container:
                tabs.show_tab(t)
            else:
                tabs.hide_tab(t)
        if not is_container and tabs.active in ("logs", "stats"):
            tabs.active = "inspect"
        detail = self.main.query_one("#detail")
        if self.subject is None:
            detail.border_title = "Detail"
        elif is_container:
            c = self.containers_table.items.get(self.subject[1])
            detail.border_title = f"Container {c.name if c else self.subject[1][:12]}"
        else:
            detail.border_title = f"Image {self.subject[2] or self.subject[1][7:19]}"

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event) -> None:
        logs = self.main.query_one(LogPane)
        console = self._console_of_tab(self.main.query_one(TabbedContent).active)
        if console is not None and console.bell_marked:
            console.bell_marked = False
            self._retitle(console)
        if self.main.query_one(TabbedContent).active == "logs":
            logs.resume()
        else:
            logs.pause()
        self._load_detail()

    def _refresh_subject(self) -> None:
        """Each tick: the selected container's state may have changed (reload
        inspect, follow its log again), its stats have a new sample."""
        s = self.subject
        if s is None:
            return
        if s[0] == "container":
            c = self.containers_table.items.get(s[1])
            if c is None:
                # removed: show the row now under the cursor
                self._set_subject_from(self.active_list)
                return
            state = f"{c.status}:{c.started_at}"
            if state != self._subject_state:
                if self._subject_state is not None:
                    self._detail_loaded["inspect"] = None
                    self._detail_loaded["layers"] = None
                self._subject_state = state
                self._update_tabs()
                self._load_detail()
            elif self.main.query_one(TabbedContent).active == "stats":
                self._load_detail()
        else:
            if not any(k.startswith(s[1] + "|") for k in self.images_table.items):
                self._set_subject_from(self.active_list)

    def _load_detail(self) -> None:
        s = self.subject
        tab = self.main.query_one(TabbedContent).active or "inspect"
        if tab == "stats":
            self._show_stats()
            return
        if tab == "logs":
            c = self.containers_table.items.get(s[1]) if s and s[0] == "container" else None
            self.main.query_one(LogPane).show(c.id if c else None, c.name if c else "",
                                         running=bool(c and c.status in ("running", "paused")))
            return
        if self._detail_loaded.get(tab) == s:
            return
        self._detail_loaded[tab] = s
        if s is None:
            self.main.query_one(InspectTree).show_message("nothing selected")
            self.main.query_one(LayersPane).show_message("nothing selected")
            return
        if tab == "inspect":
            self._load_inspect(s)
        elif tab == "layers":
            self._load_layers(s, None)

    def _show_stats(self) -> None:
        s = self.subject
        c = self.containers_table.items.get(s[1]) if s and s[0] == "container" else None
        hist = self.hist.get(c.id) if c and c.status == "running" else None
        self.main.query_one(StatsPane).show(c.name if c else None, hist, self.refresh_interval, c.status if c else "")

    @work(thread=True, exclusive=True, group="inspect")
    def _load_inspect(self, s: tuple) -> None:
        try:
            if s[0] == "container":
                doc, title = self.engine.inspect_container(s[1]), f"container {s[1][:12]}"
            else:
                doc, title = self.engine.inspect_image(s[1]), f"image {s[2] or s[1][7:19]}"
        except Exception as e:
            self.call_from_thread(self._detail_error, "inspect", s, e)
            return
        self.call_from_thread(self._show_inspect, s, title, doc)

    def _show_inspect(self, s, title, doc) -> None:
        if s == self.subject:
            self.main.query_one(InspectTree).show(title, doc)

    @work(thread=True, exclusive=True, group="layers")
    def _load_layers(self, s: tuple, select_layer: int | None) -> None:
        try:
            if s[0] == "container":
                tree = self.engine.container_tree(s[1])
            else:
                tree = self.engine.layer_tree(s[1])
        except Exception as e:
            self.call_from_thread(self._detail_error, "layers", s, e)
            return
        self.call_from_thread(self._show_layers, s, tree, select_layer)

    def _show_layers(self, s, tree, select_layer) -> None:
        if s == self.subject:
            self.main.query_one(LayersPane).show_tree(s, tree, select_layer)

    def _detail_error(self, tab: str, s, e: Exception) -> None:
        if s != self.subject:
            return
        msg = str(e) or type(e).__name__
        self._detail_loaded[tab] = None
        if tab == "inspect":
            self.main.query_one(InspectTree).show_message(msg)
        else:
            self.main.query_one(LayersPane).show_message(msg)
        self.notify(msg, title=tab, severity="error")

    # -- moving around -------------------------------------------------------
    def _panes(self) -> list:
        tab = self.main.query_one(TabbedContent).active
        detail = {"inspect": InspectTree, "logs": LogLines, "stats": None, "layers": LayerList}.get(tab)
        out = [self.containers_table, self.images_table]
        console = self._console_of_tab(tab)
        if console is not None:
            out.append(console)
        elif detail is not None:
            out.append(self.main.query_one(detail))
        else:
            out.append(self.main.query_one(TabbedContent).query_one("Tabs"))
        return out

    def _cycle(self, step: int) -> None:
        if self.screen is not self.screen_stack[0]:
            (self.screen.focus_next if step > 0 else self.screen.focus_previous)()
            return
        panes = self._panes()
        f = self.focused
        idx = 0
        for i, p in enumerate(panes):
            if f is p or (f is not None and p in f.ancestors):
                idx = i
                break
        else:
            if f is not None and self.main.query_one("#detail") in f.ancestors:
                idx = 2
        panes[(idx + step) % len(panes)].focus()

    def action_next_pane(self) -> None:
        self._skip_in_console()
        self._cycle(1)

    def action_prev_pane(self) -> None:
        self._skip_in_console()
        self._cycle(-1)

    def action_command_palette(self) -> None:
        self._skip_in_console()
        super().action_command_palette()

    def action_back_to_list(self) -> None:
        self.active_list.focus()

    def action_tab(self, name: str) -> None:
        tabs = self.main.query_one(TabbedContent)
        if name in ("logs", "stats") and not (self.subject and self.subject[0] == "container"):
            self.notify(f"{name} are for containers: select one first", severity="warning", timeout=3)
            return
        tabs.active = name

    def action_zoom(self) -> None:
        if self.screen.maximized is not None:
            self.screen.minimize()
            return
        f = self.focused
        for pane in ("#containers-pane", "#images-pane", "#detail"):
            w = self.main.query_one(pane)
            if f is not None and (f is w or w in f.ancestors):
                self.screen.maximize(w, container=False)
                return

    def action_focus_files(self) -> None:
        self.main.query_one(FileTree).focus()

    def action_layers_mode(self) -> None:
        self.main.query_one(LayersPane).set_mode()

    def action_layers_filter(self) -> None:
        self.main.query_one(LayersPane).open_filter()

    def action_help(self) -> None:
        from .screens.help import HelpScreen
        self.push_screen(HelpScreen(self.key_groups()))

    # -- help and the command palette -----------------------------------------
    def key_groups(self) -> list[tuple[str, list[tuple[str, str, str]]]]:
        from .screens.build_log import BuildLogScreen
        keymap = getattr(self, "_keymap", {}) or {}

        def rows(bindings, extra=()):
            out = []
            for b in bindings:
                if isinstance(b, tuple):
                    continue
                keys = keymap.get(b.id, b.key) if b.id else b.key
                out.append((keys, b.description, b.id or ""))
            return out + list(extra)

        nav = [("j k ↑ ↓", "move", "nav.down / nav.up"), ("g G", "first / last row", "nav.top / nav.bottom"),
               ("pgup pgdn", "page", ""),
               ("ctrl+p", "command palette: every action and theme by name", "")]
        return [
            ("Everywhere", rows(DockyardApp.BINDINGS) + nav),
            ("Lists (containers and images)", rows([b for b in ResourceTable.BINDINGS if b.id not in
                                                    ("nav.down", "nav.up", "nav.top", "nav.bottom", "list.help")])),
            ("Containers pane (marked rows, else the one under the cursor)", rows(ContainersTable.BINDINGS[:-2])),
            ("Images pane", rows(ImagesTable.BINDINGS[:-2])),
            ("Console tab (every other key goes to the program)", rows(ConsoleView.BINDINGS + TabConsole.BINDINGS)
             + [(self.config.detach_keys.replace("-", "+").replace(",", " "), "detach and close the tab", "")]),
            ("Inspect tab", rows(InspectTree.BINDINGS[4:])),
            ("Logs tab", rows(LogLines.BINDINGS[4:])),
            ("Layers tab: the layer list", rows(LayerList.BINDINGS[4:])),
            ("Layers tab: the files", rows(FileTree.BINDINGS[2:])),
            ("Build log", rows(BuildLogScreen.BINDINGS)),
            ("Dialogs", [("enter", "next field / accept", ""), ("ctrl+s", "accept", "dialog.accept"),
                         ("esc", "cancel", "dialog.cancel"), ("y / n", "yes / no (confirmations)", "")]),
        ]

    def palette_actions(self) -> list[tuple[str, str, Callable]]:
        keymap = getattr(self, "_keymap", {}) or {}

        def key(b):
            return keymap.get(b.id, b.key)

        out = []
        for b in ContainersTable.BINDINGS:
            if not b.action.startswith("app."):
                continue
            action = b.action.removeprefix("app.")
            out.append((f"Container: {b.description.lower()}", f"key {key(b)} in the containers pane",
                        lambda a=action: self._palette_run(self.containers_table, a)))
        for b in ImagesTable.BINDINGS:
            if not b.action.startswith("app."):
                continue
            action = b.action.removeprefix("app.")
            out.append((f"Image: {b.description.lower()}", f"key {key(b)} in the images pane",
                        lambda a=action: self._palette_run(self.images_table, a)))
        for t in TABS:
            out.append((f"Show: {t}", f"the {t} tab of the selection",
                        lambda t=t: self.action_tab(t)))
        out.append(("Build: show the log", "the running or last build", self.action_build_log))
        out.append(("Help: keys", "key ?", self.action_help))
        out.append(("Refresh now", "ctrl+r", self.action_refresh))
        out.append(("Zoom the focused pane", "z", self.action_zoom))
        return out

    def _palette_run(self, table: ResourceTable, action: str) -> None:
        table.focus()
        self.active_list = table
        self.call_after_refresh(self.run_action, action)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for title, help, cb in self.palette_actions():
            yield SystemCommand(title, help, cb)
        for name in sorted(self.available_themes):
            mine = name in self.theme_names
            if mine or name in ("textual-dark", "textual-light", "ansi-dark", "ansi-light"):
                yield SystemCommand(f"Theme: {name}", "switch the colours" + (" (themes/)" if mine else ""),
                                    lambda n=name: self.choose_theme(n))
        yield from super().get_system_commands(screen)

    # -- running engine calls ----------------------------------------------------
    @work(thread=True, group="actions")
    def run_engine(self, label: str, fn: Callable, done: Callable | None = None) -> None:
        """One engine call in a thread; an error becomes a notification."""
        try:
            result = fn()
        except Exception as e:
            self.call_from_thread(self.notify, f"{label}: {e or type(e).__name__}", severity="error", timeout=8)
            return
        finally:
            self.call_from_thread(self.refresh_now)
        if done is not None:
            self.call_from_thread(done, result)

    @work(thread=True, group="actions")
    def _bulk(self, verb: str, past: str, calls: list[tuple[str, str, Callable]]) -> None:
        """Several engine calls at once (marked rows): a few threads, one
        notification for what worked and one per failure."""
        ct = self.containers_table

        def mark(keys, state):
            for k in keys:
                if state:
                    ct.pending[k] = state
                else:
                    ct.pending.pop(k, None)
            ct.refresh_cells()

        keys = [k for k, _, _ in calls]
        self.call_from_thread(mark, keys, verb + "…")
        ok, failed = [], []
        try:
            with ThreadPoolExecutor(max_workers=min(BULK_WORKERS, max(1, len(calls)))) as ex:
                futs = [(name, ex.submit(fn)) for _, name, fn in calls]
                for name, fut in futs:
                    try:
                        fut.result()
                        ok.append(name)
                    except Exception as e:
                        failed.append((name, str(e) or type(e).__name__))
        finally:
            self.call_from_thread(mark, keys, None)
        for name, msg in failed:
            self.call_from_thread(self.notify, f"{verb} {name}: {msg}", severity="error", timeout=8)
        if ok:
            what = ok[0] if len(ok) == 1 else f"{len(ok)} containers"
            self.call_from_thread(self.notify, f"{past} {what}", timeout=3)
        self.call_from_thread(self.refresh_now)

    # -- container actions ---------------------------------------------------------
    def _containers(self) -> list:
        t = self.containers_table
        return [t.items[k] for k in t.targets() if k in t.items]

    def action_container(self, what: str) -> None:
        eng = self.engine
        if what == "prune":
            stopped = [c for c in self.containers_table.items.values() if c.status in ("exited", "created")]
            if not stopped:
                self.notify("no stopped containers to prune", timeout=3)
                return
            names = ", ".join(c.name for c in stopped[:10]) + (" …" if len(stopped) > 10 else "")

            def go(ok):
                if ok:
                    self.run_engine("prune", eng.prune_containers,
                                    lambda r: self.notify(f"removed {len(r)} stopped container"
                                                          f"{'s' if len(r) != 1 else ''}", timeout=4))
            from .dialogs.confirm import ConfirmDialog
            self.push_screen(ConfirmDialog("Prune containers", [f"Remove the {len(stopped)} stopped containers?",
                                                                names], ok="Prune"), go)
            return
        targets = self._containers()
        if not targets:
            self.notify("no container selected", severity="warning", timeout=3)
            return
        if what == "remove":
            running = [c for c in targets if c.status in ("running", "paused")]
            from .dialogs.confirm import ConfirmDialog
            lines = [f"Remove {len(targets)} container{'s' if len(targets) != 1 else ''}?",
                     ", ".join(c.name for c in targets[:12]) + (" …" if len(targets) > 12 else "")]
            warn = [f"{len(running)} running: they are killed first"] if running else []

            def go(ok):
                if ok:
                    self._bulk("removing", "removed",
                               [(c.id, c.name, lambda c=c: eng.remove_container(c.id, force=True)) for c in targets])
            self.push_screen(ConfirmDialog("Remove containers", lines, ok="Remove", warn=warn), go)
            return
        if what == "pause":
            calls = []
            for c in targets:
                if c.status == "paused":
                    calls.append((c.id, c.name, lambda c=c: eng.unpause_container(c.id)))
                else:
                    calls.append((c.id, c.name, lambda c=c: eng.pause_container(c.id)))
            verb = "unpausing" if all(c.status == "paused" for c in targets) else "pausing"
            self._bulk(verb, "unpaused" if verb == "unpausing" else "paused", calls)
            return
        fn, verb, past = {
            "start": (eng.start_container, "starting", "started"),
            "stop": (eng.stop_container, "stopping", "stopped"),
            "restart": (eng.restart_container, "restarting", "restarted"),
            "kill": (eng.kill_container, "killing", "killed"),
        }[what]
        self._bulk(verb, past, [(c.id, c.name, lambda c=c: fn(c.id)) for c in targets])

    def action_attach(self) -> None:
        c = self.containers_table.cursor_item
        if c is None or c.status != "running":
            self.notify("attach: select a running container", severity="warning", timeout=3)
            return
        self._prepare_attach(c.id, c.name)

    @work(thread=True, group="attach")
    def _prepare_attach(self, cid: str, name: str) -> None:
        from .terminal import parse_detach_keys, run_attached
        try:
            cfg = self.engine.inspect_container(cid)["Config"]
            if not cfg.get("OpenStdin"):
                raise RuntimeError("it was not started with -i (nothing to type into): use e for a shell, "
                                   "or the logs tab")
            keys = parse_detach_keys(self.config.detach_keys)
            client = self.engine.attach(cid)
        except Exception as e:
            self.call_from_thread(self.notify, f"attach {name}: {e}", severity="error", timeout=8)
            return
        tty = bool(cfg.get("Tty"))
        banner = f"dockyard: attached to {name}; {self.config.detach_keys} detaches (the container goes on)"
        self.call_from_thread(self._suspended_session, name, banner,
                              lambda: run_attached(client, tty=tty, stdin=True, detach_keys=keys), client.close)

    def action_shell(self) -> None:
        c = self.containers_table.cursor_item
        if c is None or c.status != "running":
            self.notify("shell: select a running container", severity="warning", timeout=3)
            return
        self._prepare_shell(c.id, c.name)

    @work(thread=True, group="attach")
    def _prepare_shell(self, cid: str, name: str) -> None:
        from .terminal import run_exec
        try:
            process = self.engine.exec_spec(cid, list(self.config.shell), tty=True)
            client = self.engine.attach(cid)
        except Exception as e:
            self.call_from_thread(self.notify, f"shell in {name}: {e}", severity="error", timeout=8)
            return
        banner = f"dockyard: a shell in {name}; exit it to come back"
        self.call_from_thread(self._suspended_session, name, banner,
                              lambda: run_exec(client, process, tty=True, stdin=True), client.close)

    def _suspended_session(self, name: str, banner: str, fn: Callable, cleanup: Callable) -> None:
        """Hands the real terminal to `fn` (attach or exec) with the app suspended."""
        from textual.app import SuspendNotSupported
        code = None
        self._suspended = True
        try:
            with self.suspend():
                import sys
                sys.stdout.write(f"\r\n{banner}\r\n")
                sys.stdout.flush()
                code = fn()
        except SuspendNotSupported:
            self.notify("this terminal cannot hand over (suspend is not supported here)", severity="error")
            return
        except Exception as e:
            self.notify(f"{name}: {e or type(e).__name__}", severity="error", timeout=8)
            return
        finally:
            self._suspended = False
            try:
                cleanup()
            except Exception:
                pass
        self.notify(f"back from {name}" + (f" (exit code {code})" if code is not None else " (detached)"), timeout=4)
        self._detail_loaded = {t: None for t in TABS}
        self.refresh_now()
        self._load_detail()

    def action_commit(self) -> None:
        eng = self.engine
        if not hasattr(eng, "commit"):
            self.notify("this engine cannot commit", severity="error")
            return
        c = self.containers_table.cursor_item
        if c is None:
            self.notify("commit: select a container", severity="warning", timeout=3)
            return
        self._commit_dialog(c)

    def _commit_dialog(self, c) -> None:
        """The commit dialog for container c, prefilled; after the commit the
        images pane selects the new image and the layer tree shows its top layer."""
        eng = self.engine
        from .dialogs.commit import CommitDialog
        ref = f"localhost/{c.name}:latest"
        message = f"committed from {c.name} ({c.short_id}), image {c.image}"

        def go(r):
            if not r:
                return

            def done(iid):
                self.notify(f"committed {r['ref'] or 'an untagged image'} ({iid[7:19]})", timeout=5)
                self._select_after = ("image", iid)
                self.main.query_one(TabbedContent).active = "layers"
            self.run_engine(f"commit {c.name}", lambda: eng.commit(c.id, r["ref"], message=r["message"],
                                                                    author=r["author"], changes=r["changes"],
                                                                    pause=r["pause"]), done)
        self.push_screen(CommitDialog(c.name, ref, message, [], c.status == "running"), go)

    # -- consoles (tabs of the detail area) -------------------------------------------
    def _skip_in_console(self) -> None:
        """The key goes to the program in the focused console, not to this action."""
        f = self.focused
        if isinstance(f, ConsoleView) and f.state in ("connecting", "live") and self.screen is self.main:
            raise SkipAction()

    def consoles(self) -> list[TabConsole]:
        return list(self.main.query(TabConsole))

    def _console_of_tab(self, tab: str | None) -> TabConsole | None:
        if not tab or not tab.startswith("console-"):
            return None
        try:
            return self.main.query_one(f"#{tab}", TabPane).query_one(TabConsole)
        except Exception:
            return None

    def _pane_of(self, console: ConsoleView) -> TabPane | None:
        for a in console.ancestors:
            if isinstance(a, TabPane):
                return a
        return None

    def action_console(self, mode: str = "attach") -> None:
        """o / O: a console tab on the selected running container (attach to
        its terminal with the recent output replayed, or exec sh in it)."""
        c = self.containers_table.cursor_item
        if c is None or c.status != "running":
            self.notify("console: select a running container", severity="warning", timeout=3)
            return
        self._console_seq += 1
        pid = f"console-{self._console_seq}"
        view = TabConsole(self.engine, c.id, c.name, mode, detach_keys=detach_chord(self.config.detach_keys),
                          command=self.config.shell, allow_clipboard=self.config.allow_clipboard)
        tabs = self.main.query_one(TabbedContent)
        pane = TabPane(Content(view.tab_title), view, id=pid)

        def shown() -> None:
            tabs.active = pid
            view.focus()
        tabs.add_pane(pane)
        self.call_after_refresh(shown)

    def _retitle(self, console: TabConsole) -> None:
        pane = self._pane_of(console)
        if pane is None:
            return
        try:
            # Content, not markup: the title comes from the program
            self.main.query_one(TabbedContent).get_tab(pane.id).label = Content(console.tab_title)
        except Exception:
            pass

    def on_console_view_changed(self, message: ConsoleView.Changed) -> None:
        c = message.console
        if not isinstance(c, TabConsole):
            return
        if message.what == "bell":
            pane = self._pane_of(c)
            if pane is not None and self.main.query_one(TabbedContent).active != pane.id:
                c.bell_marked = True
        self._retitle(c)

    def on_console_view_exited(self, message: ConsoleView.Exited) -> None:
        if isinstance(message.console, TabConsole):
            self._retitle(message.console)
            self.refresh_now()

    def on_console_view_detached(self, message: ConsoleView.Detached) -> None:
        if isinstance(message.console, TabConsole):
            self._close_console(message.console)

    def _close_console(self, console: TabConsole) -> None:
        pane = self._pane_of(console)
        if self.screen.maximized is not None:
            self.screen.minimize()
        if pane is not None:
            tabs = self.main.query_one(TabbedContent)
            was_active = tabs.active == pane.id
            tabs.remove_pane(pane.id)
            if was_active:
                tabs.active = "inspect"
        self.active_list.focus()

    def _focused_console(self) -> TabConsole | None:
        f = self.focused
        return f if isinstance(f, TabConsole) else None

    def action_leave_console(self) -> None:
        """F6: focus back to the list (the console goes on in its tab)."""
        if self._focused_console() is None:
            raise SkipAction()
        if self.screen.maximized is not None:
            self.screen.minimize()
        self.active_list.focus()

    def action_console_zoom(self) -> None:
        """F11: the focused console fills the screen (again: back)."""
        c = self._focused_console()
        if c is None:
            raise SkipAction()
        if self.screen.maximized is not None:
            self.screen.minimize()
        else:
            self.screen.maximize(c, container=False)

    def action_console_close(self) -> None:
        """F8: closes the focused console's tab (an attached container goes on, an exec'd shell is hung up)."""
        c = self._focused_console()
        if c is None:
            raise SkipAction()
        self._close_console(c)

    def action_console_commit(self) -> None:
        """F2: the commit dialog for the focused console's container."""
        c = self._focused_console()
        if c is None:
            raise SkipAction()
        if not hasattr(self.engine, "commit"):
            self.notify("this engine cannot commit", severity="error")
            return
        item = self.containers_table.items.get(c.cid)
        if item is None:
            self.notify(f"commit: {c.cname} is gone", severity="warning", timeout=3)
            return
        if self.screen.maximized is not None:
            self.screen.minimize()
        self._commit_dialog(item)

    # -- image actions ---------------------------------------------------------------
    def _images(self) -> list[tuple]:
        t = self.images_table
        return [t.items[k] for k in t.targets() if k in t.items]

    def action_run_image(self) -> None:
        item = self.images_table.cursor_item
        if item is None:
            self.notify("run: select an image", severity="warning", timeout=3)
            return
        img, name = item
        ref = name or img.id
        from .dialogs.run import RunDialog

        def go(r):
            if r:
                self._run_container(r["options"], r["attach"])
        self.push_screen(RunDialog(ref), go)

    @work(thread=True, group="actions")
    def _run_container(self, opts, attach: bool) -> None:
        eng = self.engine
        try:
            cid = eng.create_container(opts)
        except Exception as e:
            self.call_from_thread(self.notify, f"run {opts.image}: {e}", severity="error", timeout=8)
            return
        self._select_after = ("container", cid)
        try:
            if attach and self._can_suspend():
                import shutil
                size = shutil.get_terminal_size()
                eng.start_container(cid, wait_attach=True, tty_size=(size.lines, size.columns))
                client = eng.attach(cid, just_started=True)
            else:
                eng.start_container(cid)
                client = None
        except Exception as e:
            if opts.autoremove:
                try:
                    eng.remove_container(cid, force=True)
                except Exception:
                    pass
            self.call_from_thread(self.notify, f"run {opts.image}: {e}", severity="error", timeout=8)
            self.call_from_thread(self.refresh_now)
            return
        name = eng.container(cid).name if not opts.name else opts.name
        if client is None:
            note = " (detached: this terminal cannot hand over)" if attach else ""
            self.call_from_thread(self.notify, f"started {name}{note}", timeout=4)
            self.call_from_thread(self.refresh_now)
            return
        from .terminal import parse_detach_keys, run_attached
        keys = parse_detach_keys(self.config.detach_keys)
        banner = f"dockyard: {name} started; {self.config.detach_keys} detaches (the container goes on)"
        self.call_from_thread(self._suspended_session, name, banner,
                              lambda: run_attached(client, tty=True, stdin=True, detach_keys=keys), client.close)

    def _can_suspend(self) -> bool:
        d = self._driver
        return bool(d is not None and getattr(d, "can_suspend", False) and not self.is_headless)

    def action_tag_image(self) -> None:
        item = self.images_table.cursor_item
        if item is None:
            self.notify("tag: select an image", severity="warning", timeout=3)
            return
        img, name = item
        source = name or img.id
        from .dialogs.tag import TagDialog

        def go(target):
            if target:
                self.run_engine(f"tag {source}", lambda: self.engine.tag(source, target),
                                lambda _: self.notify(f"tagged {target}", timeout=3))
        self.push_screen(TagDialog(source), go)

    def action_remove_image(self) -> None:
        items = self._images()
        if not items:
            self.notify("remove: select an image", severity="warning", timeout=3)
            return
        refs = [name or img.id for img, name in items]
        users = [c for c in self.containers_table.items.values() if c.image_id in {img.id for img, _ in items}]
        lines = [f"Remove {len(refs)} image{'s' if len(refs) != 1 else ''}?", ", ".join(refs)]
        warn = []
        if users:
            warn.append(f"used by {len(users)} container{'s' if len(users) != 1 else ''}: "
                        + ", ".join(f"{c.name} ({c.status})" for c in users[:10]) + (" …" if len(users) > 10 else ""))
            warn.append("they keep working only if you leave force off; with force the image goes anyway")
        from .dialogs.confirm import ConfirmDialog

        def go(r):
            if not r:
                return
            force = bool(r.get("option")) if isinstance(r, dict) else False

            def remove_all():
                out = []
                for ref in refs:
                    out += self.engine.remove_image(ref, force=force)
                return out

            self.run_engine("remove image", remove_all,
                            lambda out: self.notify(f"removed {', '.join(refs)}"
                                                    f" ({sum(1 for k, _ in out if k == 'Deleted')} deleted)", timeout=4))
        self.push_screen(ConfirmDialog("Remove images", lines, ok="Remove", warn=warn,
                                       option="force (-f): also when used or tagged more than once"), go)

    def action_prune_images(self) -> None:
        from .dialogs.confirm import ConfirmDialog
        dangling = sum(1 for img, name in self.images_table.items.values() if name is None)

        def go(r):
            if not r:
                return
            every = bool(r.get("option"))
            self.run_engine("prune images", lambda: self.engine.prune_images(all_unused=every),
                            lambda out: self.notify(f"removed {sum(1 for k, _ in out[0] if k == 'Deleted')} images, "
                                                    f"reclaimed {human_size(out[1])}", timeout=5))
        self.push_screen(ConfirmDialog("Prune images", [f"Remove the dangling images ({dangling} now)?"], ok="Prune",
                                       option="all unused images (-a), not only dangling ones"), go)

    def action_import_image(self) -> None:
        from .dialogs.paths import ImportDialog

        def go(r):
            if not r:
                return
            path = r["path"]
            if r["how"] == "load":
                def fn():
                    return self.engine.load(path)
                done = lambda out: self.notify("loaded " + ", ".join(", ".join(t) or i[7:19] for i, t in out), timeout=5)
            else:
                def fn():
                    with open(path, "rb") as f:
                        return self.engine.import_image(f, r["ref"], source_name=path)
                done = lambda iid: self.notify(f"imported {r['ref'] or iid[7:19]}", timeout=5)
            self.run_engine(f"import {path}", fn, done)
        self.push_screen(ImportDialog(), go)

    def action_save_image(self) -> None:
        items = self._images()
        if not items:
            self.notify("save: select an image", severity="warning", timeout=3)
            return
        refs = [name or img.id for img, name in items]
        from .dialogs.paths import SaveDialog

        def go(r):
            if not r:
                return
            path, fmt = r["path"], r["format"]

            def fn():
                tmp = f"{path}.dockyard-tmp"
                try:
                    with open(tmp, "wb") as f:
                        self.engine.save(refs, f, fmt)
                    os.replace(tmp, path)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            self.run_engine(f"save {', '.join(refs)}", fn,
                            lambda _: self.notify(f"saved {', '.join(refs)} to {path}", timeout=5))
        self.push_screen(SaveDialog(refs), go)

    # -- build ----------------------------------------------------------------------
    def action_build_image(self) -> None:
        """b: the build dialog; while a build runs, its log again."""
        if not hasattr(self.engine, "build"):
            self.notify("this engine cannot build", severity="error")
            return
        if self.build_run is not None and self.build_run.state == "building":
            self.action_build_log()
            return
        from .dialogs.build import BuildDialog
        last = self._build_last or {}

        def go(r):
            if r:
                self._build_last = r
                self._start_build(r)
        self.push_screen(BuildDialog(last.get("context") or os.getcwd(), last.get("dockerfile") or "",
                                     ", ".join(last.get("tags") or ())), go)

    def action_build_log(self) -> None:
        from .screens.build_log import BuildLogScreen
        if self.build_run is None:
            self.notify("no build yet: b on the images pane", severity="warning", timeout=3)
            return
        if isinstance(self.screen, BuildLogScreen):
            return
        self.push_screen(BuildLogScreen(self.build_run))

    def _start_build(self, r: dict) -> None:
        from .screens.build_log import BuildRun
        self.build_run = BuildRun(r["context"], r["tags"])
        self.action_build_log()
        self._build(self.build_run, r)

    @work(thread=True, group="build")
    def _build(self, run, r: dict) -> None:
        from engine import BuildError
        try:
            iid = self.engine.build(r["context"], dockerfile=r["dockerfile"], tags=r["tags"],
                                    build_args=r["build_args"], no_cache=r["no_cache"], network=r["network"],
                                    progress=run.event)
        except BuildError as e:
            run.finish(error=str(e), exit_code=e.exit_code)
            self.call_from_thread(self._build_finished, run)
            return
        except Exception as e:
            run.finish(error=str(e) or type(e).__name__)
            self.call_from_thread(self._build_finished, run)
            return
        run.finish(image_id=iid)
        self.call_from_thread(self._build_finished, run)

    def _build_finished(self, run) -> None:
        what = ", ".join(run.tags) or "an untagged image"
        if run.state == "done":
            self.notify(f"built {what} ({run.image_id[7:19]}) in {run.elapsed:.1f}s", timeout=5)
            self._select_after = ("image", run.image_id)
        else:
            step = run.steps.get(run.step, "")
            head = "build failed" + (f" at #{run.step} {step}" if step else "")
            code = f" (exit code {run.exit_code})" if run.exit_code is not None else ""
            self.notify(f"{head}{code}: {run.error}", title="build", severity="error", timeout=15)
        self.refresh_now()

    # -- quitting ------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quits; containers go on running (their monitors are not ours)."""
        self._skip_in_console()
        try:
            self.main.query_one(LogPane)._stop(drain=False)
        except Exception:
            pass
        self.exit(0)


def run_app(root: str | None) -> int:
    from engine import Engine
    cfg, problems = load_config()
    if root is None and cfg.root:
        root = cfg.root
    engine = Engine(root)
    try:
        made = engine.ensure_starter_image()
    except Exception as e:
        made = None
        problems.append(f"could not make the starter image: {e}")
    app = DockyardApp(engine, config=cfg, config_problems=problems)
    if made:
        app.messages.append(("made the starter image localhost/busybox:latest", "information"))
    try:
        app.run()
    finally:
        engine.close()
    return 0
