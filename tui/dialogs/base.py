"""What the dialogs share: a framed box in the middle, Esc cancels, Enter in
the last field (or ctrl+s anywhere) accepts."""
from __future__ import annotations

from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

DIALOG_CSS = """
Dialog { align: center middle; }
Dialog > #box {
    width: 76; max-width: 100%; height: auto; max-height: 100%;
    border: round $primary; background: $surface; padding: 0 1;
}
Dialog #box > Label { margin-top: 1; color: $text-muted; }
Dialog #box > .first { margin-top: 0; }
Dialog #box > Input { border: none; height: 1; padding: 0 1; background: $panel; }
Dialog #box > Input:focus { background: $boost; text-style: bold; }
Dialog #box > RadioSet { border: none; padding: 0; height: auto; background: $surface; }
Dialog #box > RadioSet:focus { background: $boost; }
Dialog Checkbox { border: none; padding: 0 1 0 0; height: 1; background: $surface; }
Dialog Checkbox:focus { background: $boost; }
Dialog #box > TextArea { border: none; background: $panel; }
Dialog #buttons > Button { height: 1; border: none; }
Dialog #box > .note { color: $text-muted; }
Dialog #box > .warn { color: $warning; }
Dialog #buttons { height: auto; margin-top: 1; align-horizontal: right; }
Dialog #buttons > Button { margin-left: 1; min-width: 10; }
Dialog .compact-row { height: auto; }
"""


class Dialog(ModalScreen):
    DEFAULT_CSS = DIALOG_CSS
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("ctrl+s", "accept", "OK", id="dialog.accept"),
    ]
    TITLE = ""
    OK = "OK"

    def compose_fields(self):
        return []

    def compose(self):
        with VerticalScroll(id="box") as box:
            box.border_title = self.TITLE
            yield from self.compose_fields()
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.OK, id="ok", variant="primary")

    def on_mount(self) -> None:
        inputs = list(self.query(Input))
        if inputs:
            inputs[0].focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "ok":
            self.action_accept()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        inputs = list(self.query(Input))
        if event.input is inputs[-1]:
            self.action_accept()
        else:
            self.focus_next()

    def result(self):
        """The value to give back, or raise ValueError with a message to show."""
        return True

    def action_accept(self) -> None:
        try:
            value = self.result()
        except ValueError as e:
            self.notify(str(e), severity="error")
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def label(text: str, first: bool = False) -> Label:
    return Label(text, classes="first" if first else "")


def note(text: str, cls: str = "note") -> Static:
    from rich.text import Text
    return Static(Text(text), classes=cls)
