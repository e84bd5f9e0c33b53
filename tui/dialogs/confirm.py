"""Yes or no before something that cannot be undone."""
from textual.binding import Binding
from textual.widgets import Checkbox

from .base import Dialog, note


class ConfirmDialog(Dialog):
    """Dismisses with True, or {"option": bool} when it has a checkbox, or None."""

    BINDINGS = [
        Binding("y", "accept", "Yes", id="dialog.yes"),
        Binding("n", "cancel", "No", id="dialog.no"),
    ]

    def __init__(self, title: str, lines: list[str], ok: str = "Yes", option: str | None = None,
                 warn: list[str] | None = None) -> None:
        super().__init__()
        self.TITLE = title
        self.OK = ok
        self.lines = lines
        self.warn = warn or []
        self.option = option

    def compose_fields(self):
        for line in self.lines:
            yield note(line, "")
        for line in self.warn:
            yield note(line, "warn")
        if self.option:
            yield Checkbox(self.option, id="option")
        yield note("y: yes   n / esc: no")

    def on_mount(self) -> None:
        self.query_one("#ok").focus()

    def result(self):
        if self.option:
            return {"option": self.query_one("#option", Checkbox).value}
        return True
