"""Pull and push from the images pane: a form asking for the reference (and
the platform, for a pull), then the transfer itself in the same box, docker's
per-layer lines with a bar each (tui/progressbar.py, as the command line
draws them), fed from a worker thread calling the engine.

esc / ctrl+c while it runs sets the cancel event the engine reads between
blocks (nothing half-made is left); the box closes when the engine has
stopped. An error stays in the box with the engine's message until esc."""
from __future__ import annotations

import threading

from rich.markup import escape
from rich.text import Text
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Button, Input, Static

from ..progressbar import MOVING, progress_text
from .base import Dialog, label, note


class TransferDialog(Dialog):
    """Dismisses with {"ref", "result"} when the transfer ended well, None when
    it was cancelled (before or during) or failed and was closed."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("ctrl+c", "cancel", "Cancel", show=False, priority=True),
        Binding("ctrl+s", "accept", "OK", id="dialog.accept"),
    ]
    DEFAULT_CSS = Dialog.DEFAULT_CSS + """
    TransferDialog #layers { height: auto; max-height: 16; }
    TransferDialog #layers > Static { height: 1; }
    TransferDialog #status { color: $text-muted; }
    TransferDialog #error { color: $error; }
    """
    VERB = "Pull"
    TITLE = "Pull an image"
    OK = "Pull"

    def __init__(self, ref: str = "", platform: str = "") -> None:
        super().__init__()
        self.ref, self.platform = ref, platform
        self.cancel = threading.Event()
        self.state = "asking"            # asking | running | failed | done
        self.rows: dict[str, Static] = {}
        self.error: str | None = None
        self.result_value = None         # what the engine returned: an image id, a manifest digest

    def compose_fields(self):
        yield from self.ask_fields()
        status, error = Static("", id="status"), Static("", id="error")
        status.display = error.display = False    # the form first: no empty lines under it
        yield status
        yield Vertical(id="layers")
        yield error

    def ask_fields(self):
        yield label(escape("image (NAME[:TAG|@DIGEST])"), first=True)
        yield Input(value=self.ref, placeholder="e.g. busybox or 127.0.0.1:5000/x/app:1", id="ref")
        yield label(escape("platform (optional: os/arch[/variant])"))
        yield Input(value=self.platform, placeholder="this host's", id="platform")

    def result(self):
        ref = self.query_one("#ref", Input).value.strip()
        if not ref:
            raise ValueError("give an image name, e.g. busybox:latest")
        plat = self.query("#platform")
        return {"ref": ref, "platform": (plat.first(Input).value.strip() or None) if plat else None}

    # -- the form's answer starts the transfer in this box
    def action_accept(self) -> None:
        if self.state != "asking":
            return
        try:
            what = self.result()
        except ValueError as e:
            self.notify(str(e), severity="error")
            return
        self.begin(what)
        self.run_worker(lambda: self._work(what), thread=True, exit_on_error=False)

    def begin(self, what: dict) -> None:
        """The box turns from a form into the transfer's progress."""
        self.state = "running"
        self.ref = what["ref"]
        for w in self.query(Input):
            w.disabled = True
        self.query_one("#ok", Button).display = False
        self.query_one("#cancel", Button).label = "Stop"
        self._status(f"{self.VERB.lower()}ing {self.ref} …")

    def action_cancel(self) -> None:
        if self.state == "running":
            self.cancel.set()
            self._status("stopping …")
            return
        self.dismiss(None)

    def transfer(self, what: dict, progress) -> str:
        return self.app.engine.pull(what["ref"], platform=what["platform"], progress=progress, cancel=self.cancel)

    # -- the worker thread
    def _work(self, what: dict) -> None:
        try:
            out = self.transfer(what, lambda ev: self._later(self._event, ev))
        except BaseException as e:   # KeyboardInterrupt too: the engine's answer to the cancel event
            cancelled = self.cancel.is_set()
            self._later(self._ended, None, None if cancelled else (str(e) or type(e).__name__))
            return
        self._later(self._ended, out, None)

    def _later(self, fn, *args) -> None:
        try:
            self.app.call_from_thread(fn, *args)
        except Exception:
            pass   # the app is closing: nobody to tell

    # -- on the event loop
    def _status(self, text: str) -> None:
        w = self.query_one("#status", Static)
        w.update(Text(text))
        w.display = True

    def _event(self, ev) -> None:
        if self.state != "running":
            return
        if not ev.id:
            self._status(ev.status)
            return
        row = self.rows.get(ev.id)
        if row is None:
            row = self.rows[ev.id] = Static("", classes="layer")
            self.query_one("#layers", Vertical).mount(row)
        head = f"{ev.id}: {ev.status}"
        bar = ""
        if ev.status in MOVING:
            room = max(self.query_one("#layers", Vertical).size.width, 60) - len(head) - 2
            bar = progress_text(ev.current or 0, ev.total, room)   # no time left: it would jitter
        row.update(Text(f"{head} {bar}" if bar else head))

    def _ended(self, out, error: str | None) -> None:
        if error is None and out is not None:
            self.state = "done"
            self.result_value = out
            self.dismiss({"ref": self.ref, "result": out})
            return
        if error is None:
            self.state = "cancelled"
            self.dismiss(None)
            return
        self.state = "failed"
        self.error = error
        self._status(f"{self.VERB.lower()} of {self.ref} failed")
        w = self.query_one("#error", Static)
        w.update(Text(error))
        w.display = True
        self.query_one("#cancel", Button).label = "Close"


class PushDialog(TransferDialog):
    VERB = "Push"
    TITLE = "Push an image"
    OK = "Push"

    def ask_fields(self):
        yield note(f"image: {self.ref}")
        yield label(escape("push as (REGISTRY/REPOSITORY[:TAG]; another name is tagged first)"))
        yield Input(value=self.ref, id="ref")

    def transfer(self, what: dict, progress) -> str:
        eng = self.app.engine
        if what["ref"] != self.source:
            eng.tag(self.source, what["ref"])
        return eng.push(what["ref"], progress=progress, cancel=self.cancel)

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.source = source
