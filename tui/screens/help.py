"""`?`: every key, by pane, as the keymap has them now (user overrides included)."""
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def key_display(keys: str) -> str:
    names = {"slash": "/", "question_mark": "?", "space": "space", "escape": "esc", "enter": "enter",
             "tab": "tab", "shift+tab": "shift+tab", "pagedown": "pgdn", "pageup": "pgup"}
    return " ".join(names.get(k.strip(), k.strip()) for k in keys.split(","))


class HelpScreen(ModalScreen):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; max-width: 100%; height: 100%; max-height: 100%;
                                  border: round $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
        Binding("j,down", "scroll(1)", "Down", show=False),
        Binding("k,up", "scroll(-1)", "Up", show=False),
    ]

    def __init__(self, groups: list[tuple[str, list[tuple[str, str, str]]]]) -> None:
        """groups: [(title, [(keys, description, binding id)])]."""
        super().__init__()
        self.groups = groups

    def compose(self):
        t = Table(box=None, show_header=False, padding=(0, 1), expand=True)
        t.add_column(width=14, style="bold", no_wrap=True)
        t.add_column(ratio=1)
        t.add_column(style="dim", no_wrap=True)
        for n, (title, rows) in enumerate(self.groups):
            if n:
                t.add_row("", "", "")
            t.add_row(Text(title, style="bold underline"), "", "")
            for keys, desc, bid in rows:
                t.add_row(Text(key_display(keys)), Text(desc), Text(bid or ""))
        with VerticalScroll() as v:
            v.border_title = "dockyard keys  (esc closes; ctrl+p: every action by name)"
            yield Static(t)

    def action_scroll(self, n: int) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=n, animate=False)
