"""The lists and the detail area: polling the engine, the selection (the
subject) and its tabs (inspect, logs, stats, layers), moving between panes."""
from __future__ import annotations

from rich.text import Text
from textual import work
from textual.widgets import TabbedContent

from ..widgets.inspect import InspectTree
from ..widgets.layers import FileTree, LayerList, LayersPane
from ..widgets.logs import LogLines, LogPane
from ..widgets.stats import StatsHistory, StatsPane
from ..widgets.tables import ImagesTable, ResourceTable, StatsView
from .chrome import ListPane, TopBar

TABS = ("inspect", "logs", "stats", "layers")


class Panes:
    """DockyardApp's panes (a mixin: `self` is the app)."""

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

    def _answered(self, cls):
        """The main screen's pane for a worker's answer, or None: the answer can
        land after the app began closing and its widgets are gone."""
        from textual.css.query import NoMatches
        try:
            return self.main.query_one(cls)
        except NoMatches:
            return None

    def _show_inspect(self, s, title, doc) -> None:
        pane = self._answered(InspectTree)
        if s == self.subject and pane is not None:
            pane.show(title, doc)

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
        pane = self._answered(LayersPane)
        if s == self.subject and pane is not None:
            pane.show_tree(s, tree, select_layer)

    def _detail_error(self, tab: str, s, e: Exception) -> None:
        if s != self.subject:
            return
        msg = str(e) or type(e).__name__
        self._detail_loaded[tab] = None
        pane = self._answered(InspectTree if tab == "inspect" else LayersPane)
        if pane is not None:
            pane.show_message(msg)
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
        from ..screens.help import HelpScreen
        self.push_screen(HelpScreen(self.key_groups()))

