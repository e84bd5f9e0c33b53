"""Console tabs of the detail area: TabConsole (a ConsoleView in a tab, with the
app's F-keys) and the app's part that opens, titles, zooms and closes them."""
from __future__ import annotations

from textual.actions import SkipAction
from textual.binding import Binding
from textual.content import Content
from textual.widgets import TabbedContent, TabPane

from ..widgets.console import ConsoleView

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



class ConsoleTabs:
    """DockyardApp's consoles (a mixin: `self` is the app)."""

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

