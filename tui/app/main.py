"""DockyardApp: the App composed of its parts (panes, palette, consoles,
container, image and build actions), its layout and run_app."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, TabbedContent, TabPane

from ..config import Config, load_config, load_themes
from ..widgets.inspect import InspectTree
from ..widgets.layers import LayersPane
from ..widgets.logs import LogLines, LogPane
from ..widgets.stats import StatsHistory, StatsPane
from ..widgets.tables import ContainersTable, ImagesTable, ResourceTable
from .build import BuildActions
from .chrome import ListPane, TopBar, host_info
from .consoles import ConsoleTabs
from .containers import ContainerActions
from .images import ImageActions
from .palette import Palette
from .panes import TABS, Panes
from .pull import TransferActions

NARROW_WIDTH = 120   # below this many columns the panes stack: lists on top, detail below


class DockyardApp(Panes, Palette, ConsoleTabs, ContainerActions, ImageActions, BuildActions, TransferActions, App):
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
        from ..config import save_theme
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


    @on(TabbedContent.TabActivated)
    def _on_tab_activated(self, event) -> None:
        self._tab_activated(event)

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


    # -- quitting ------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quits; containers go on running (their monitors are not ours)."""
        self._skip_in_console()
        try:
            self.main.query_one(LogPane)._stop(drain=False)
        except Exception:
            pass
        self.exit(0)


def share_zygote_with_cli() -> None:
    """The zygote this TUI starts its monitors from also serves the command
    line's workers: dockyard commands run beside the TUI find it, not a second one."""
    from engine import zygote_serve

    from .. import CLI_WORKER
    zygote_serve(CLI_WORKER)


def run_app(root: str | None) -> int:
    from engine import Engine
    cfg, problems = load_config()
    if root is None and cfg.root:
        root = cfg.root
    engine = Engine(root)
    share_zygote_with_cli()
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
