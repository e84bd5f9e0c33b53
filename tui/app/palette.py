"""The help screen's key groups and the command palette's actions."""
from __future__ import annotations

from collections.abc import Callable, Iterable

from textual.app import SystemCommand
from textual.screen import Screen

from ..widgets.console import ConsoleView
from ..widgets.inspect import InspectTree
from ..widgets.layers import FileTree, LayerList
from ..widgets.logs import LogLines
from ..widgets.tables import ContainersTable, ImagesTable, ResourceTable
from .consoles import TabConsole
from .panes import TABS


class Palette:
    """DockyardApp's help and palette (a mixin: `self` is the app)."""

    def key_groups(self) -> list[tuple[str, list[tuple[str, str, str]]]]:
        from ..screens.build_log import BuildLogScreen
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
            ("Everywhere", rows(type(self).BINDINGS) + nav),
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

