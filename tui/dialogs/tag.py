"""Give an image another name."""
from textual.widgets import Input

from .base import Dialog, label, note


class TagDialog(Dialog):
    TITLE = "Tag image"
    OK = "Tag"

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def compose_fields(self):
        yield note(f"source: {self.source}")
        yield label("new name (REPOSITORY[:TAG])")
        yield Input(placeholder="e.g. myapp:1.0", id="target")

    def result(self):
        v = self.query_one("#target", Input).value.strip()
        if not v:
            raise ValueError("give a name, e.g. myapp:1.0")
        return v
