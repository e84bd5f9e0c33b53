"""Pull and push from the images pane (the dialog and its worker: tui/dialogs/pull.py)."""
from __future__ import annotations


class TransferActions:
    """DockyardApp's pull and push (a mixin: `self` is the app)."""

    def action_pull_image(self) -> None:
        from ..dialogs.pull import TransferDialog

        def done(r):
            if r:
                self.notify(f"pulled {r['ref']} ({r['result'][7:19]})", timeout=5)
                self._select_after = ("image", r["result"])
            self.refresh_now()
        self.push_screen(TransferDialog(), done)

    def action_push_image(self) -> None:
        item = self.images_table.cursor_item
        if item is None or item[1] is None:
            self.notify("push: select a tagged image", severity="warning", timeout=3)
            return
        from ..dialogs.pull import PushDialog

        def done(r):
            if r:
                self.notify(f"pushed {r['ref']} ({r['result']})", timeout=6)
            self.refresh_now()
        self.push_screen(PushDialog(item[1]), done)
