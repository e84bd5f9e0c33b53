"""docker commit, as a form prefilled with a name, a message and changes."""
from textual.widgets import Checkbox, Input, TextArea

from .base import Dialog, label, note

INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


class CommitDialog(Dialog):
    """Dismisses with {"ref", "message", "author", "changes", "pause"} or None."""

    TITLE = "Commit the container as an image"
    OK = "Commit"

    def __init__(self, container: str, ref: str, message: str, changes: list[str], running: bool) -> None:
        super().__init__()
        self.container, self.ref, self.message = container, ref, message
        self.changes, self.running = changes, running

    def compose_fields(self):
        yield note(f"container: {self.container}")
        yield label("image name (REPOSITORY[:TAG], empty: untagged)")
        yield Input(value=self.ref, id="ref")
        yield label("message")
        yield Input(value=self.message, id="message")
        yield label("author (optional)")
        yield Input(id="author")
        yield label("changes: Dockerfile instructions, one a line (" + ", ".join(INSTRUCTIONS) + ")")
        ta = TextArea("\n".join(self.changes), id="changes", soft_wrap=True, show_line_numbers=False)
        ta.styles.height = 4
        yield ta
        if self.running:
            yield Checkbox("pause the container while committing", value=True, id="pause")
        yield note("ctrl+s: commit   esc: cancel")

    def on_mount(self) -> None:
        self.query_one("#ref", Input).focus()

    def on_input_submitted(self, event) -> None:
        event.stop()
        self.action_accept()

    def result(self):
        changes = [l.strip() for l in self.query_one("#changes", TextArea).text.splitlines() if l.strip()]
        for c in changes:
            if c.split()[0].upper() not in INSTRUCTIONS:
                raise ValueError(f"changes: {c.split()[0]!r} is not one of {', '.join(INSTRUCTIONS)}")
        pause = self.query_one("#pause", Checkbox).value if self.running else True
        return {"ref": self.query_one("#ref", Input).value.strip() or None,
                "message": self.query_one("#message", Input).value.strip() or None,
                "author": self.query_one("#author", Input).value.strip() or None,
                "changes": changes, "pause": pause}
