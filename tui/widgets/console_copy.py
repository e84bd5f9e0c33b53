"""The Textual side of selecting in a console (issue 7): copy mode's keys
(F5, then tmux's vi keys), mouse drags, and where the text goes: the real
terminal's clipboard through OSC 52 (`App.copy_to_clipboard`, which works
over SSH and in tmux). A mixin of ConsoleView; the selection logic itself is
console_select.py."""
from __future__ import annotations

from textual import events

from .console_select import Selection, copy_mode_key


class CopyMode:
    """Copy mode and mouse selection for ConsoleView (which has `terminal`,
    `_back`, `copy`, `_drag`, `_scrolled`, `state`, `ref`)."""

    def action_copy_mode(self) -> None:
        """F5: copy mode (again: leave it)."""
        if self.copy is not None:
            self.leave_copy_mode()
        elif self.state != "connecting":
            self.enter_copy_mode()

    def enter_copy_mode(self) -> None:
        """A copy cursor where the terminal's cursor is (or at the bottom of a
        scrolled-back view); keys move it instead of going to the program."""
        screen = self.terminal.screen
        self._scrolled = screen.scrolled
        row, x = (screen.y, screen.x) if self._back == 0 else (screen.rows - 1 - self._back, 0)
        self.copy = Selection(screen, row, x)
        self.copy.clamp()
        self.refresh()
        self.post_message(self.Changed(self, "copy"))

    def leave_copy_mode(self) -> None:
        if self.copy is None:
            return
        self.copy = None
        self._back = 0
        self.refresh()
        self.post_message(self.Changed(self, "copy"))

    def copy_selection(self, sel: Selection) -> str:
        """Puts the selection on the clipboard through the real terminal (OSC 52)."""
        text = sel.text()
        if text:
            self.app.copy_to_clipboard(text)
            self.notify(f"copied {len(text)} character{'s' if len(text) != 1 else ''}", timeout=2)
        return text

    def _copy_key(self, event: events.Key) -> None:
        sel = self.copy
        page = max(1, self.terminal.screen.rows - 1)
        what = copy_mode_key(sel, event.key, event.character, page)
        if what == "copy":
            if sel.selecting:
                self.copy_selection(sel)
            self.leave_copy_mode()
            return
        if what == "leave":
            self.leave_copy_mode()
            return
        self._show_row(sel.row)
        self.refresh()

    def _show_row(self, row: int) -> None:
        """Scrolls the view so that document row `row` shows."""
        screen = self.terminal.screen
        height = max(1, min(self.size.height or screen.rows, screen.rows))
        back = self._back
        if row + back < 0:
            back = -row
        elif row + back >= height:
            back = height - 1 - row
        self._back = max(0, min(back, len(screen.scrollback)))

    def _doc_pos(self, event: events.MouseEvent) -> tuple[int, int]:
        screen = self.terminal.screen
        y = max(0, min(event.y, screen.rows - 1))
        return y - self._back, max(0, event.x)

    def _drag_start(self, event: events.MouseDown) -> None:
        row, x = self._doc_pos(event)
        self._scrolled = self.terminal.screen.scrolled
        if self.copy is not None:
            self.copy.clear()
            self.copy.goto(row, x)
            self._drag = self.copy
        else:
            self._drag = Selection(self.terminal.screen, row, x)
            self._drag.clamp()
        self._drag_from = (self._drag.row, self._drag.x)
        self.capture_mouse()
        self.refresh()

    def _drag_move(self, event: events.MouseMove) -> None:
        sel = self._drag
        if event.y < 0 and self._can_scroll_view():
            self._scroll_back(1)      # dragging above the top: into the scrollback
        elif event.y >= self.size.height and self._back:
            self._scroll_back(-1)
        row, x = self._doc_pos(event)
        if not sel.selecting:
            if (row, x) == self._drag_from:
                return
            sel.start()
        sel.goto(row, x)
        self.refresh()

    def _drag_end(self) -> None:
        sel, self._drag = self._drag, None
        self.capture_mouse(False)
        if sel.selecting:
            self.copy_selection(sel)
            if sel is self.copy:
                self.leave_copy_mode()
        elif sel is self.copy:
            self._show_row(sel.row)   # a click in copy mode moves its cursor
        self.refresh()

    def _can_scroll_view(self) -> bool:
        return not self.terminal.screen.in_alternate

    def _selects(self, event: events.MouseEvent) -> bool:
        """A left drag selects unless the program asked for the mouse; with
        shift (as in xterm) or in copy mode it always does."""
        return (event.button == 1 and self.state != "connecting"
                and (not self.terminal.screen.mouse_mode or event.shift or self.copy is not None
                     or self.state != "live"))

    def _program_clipboard(self, text: str) -> None:
        """OSC 52 from the program: to the real terminal only when allowed
        (a program in a container silently setting the user's clipboard is a
        risk; off by default, like tmux's set-clipboard external)."""
        if self.allow_clipboard:
            self.app.copy_to_clipboard(text)
            self.notify(f"{self.ref}: the program copied {len(text)} characters", timeout=2)
        elif not self._clipboard_refused:
            self._clipboard_refused = True
            self.notify(f"{self.ref}: a program tried to set the clipboard (OSC 52); "
                        "allow it with console: {allow_clipboard: true} in config.yaml",
                        severity="warning", timeout=6)

