"""Input of the console widget (issue 7): keys (with the detach chord held
back until it is complete or broken), paste, the mouse (to the program when it
asked for it, else selection and scrolling back). A mixin of ConsoleView
(which has `terminal`, `state`, `detach_keys`, `_chord`, `_back`, `send`,
`detach`, and CopyMode's `_copy_key` and drags)."""
from __future__ import annotations

from textual import events

from tui.vt import encode_key, encode_mouse, encode_paste

WHEEL_LINES = 3

_MOUSE_BUTTONS = {1: "left", 2: "middle", 3: "right"}


class ConsoleInput:
    """Keys, paste and mouse for ConsoleView."""

    def _scroll_back(self, n: int) -> None:
        screen = self.terminal.screen
        back = max(0, min(self._back + n, len(screen.scrollback)))
        if back != self._back:
            self._back = back
            self.refresh()

    def _can_scroll(self) -> bool:
        s = self.terminal.screen
        return not s.in_alternate and not s.mouse_mode

    # -- keys ----------------------------------------------------------------------------------

    async def on_key(self, event: events.Key) -> None:
        if self.copy is not None:   # copy mode: the keys are ours, never the program's
            event.stop()
            event.prevent_default()
            self._copy_key(event)
            return
        if self.state != "live":
            return   # an ended console: keys go to the app
        event.stop()
        event.prevent_default()
        key = event.key
        screen = self.terminal.screen
        if key in ("shift+pageup", "shift+pagedown") and self._can_scroll():
            page = max(1, screen.rows - 1)
            self._scroll_back(page if key == "shift+pageup" else -page)
            return
        data = encode_key(key, event.character, app_cursor=screen.app_cursor)
        keys = self.detach_keys
        if keys:
            if key == keys[len(self._chord)]:
                self._chord.append(data)
                if len(self._chord) == len(keys):
                    self._chord = []
                    self.detach()
                return
            if self._chord:   # not the chord after all: what was held back goes first
                held, self._chord = b"".join(self._chord), []
                self.send(held)
                if key == keys[0]:
                    self._chord.append(data)
                    return
        if self._back:
            self._scroll_back(-self._back)
        self.send(data)

    def on_paste(self, event: events.Paste) -> None:
        if self.state != "live":
            return
        event.stop()
        self.send(encode_paste(event.text, self.terminal.screen.bracketed_paste))

    def _mouse(self, kind: str, event: events.MouseEvent, button: str | None) -> bool:
        s = self.terminal.screen
        if self.state != "live" or not s.mouse_mode:
            return False
        data = encode_mouse(kind, event.x, event.y, button, mode=s.mouse_mode, sgr=s.mouse_sgr,
                            shift=event.shift, alt=event.meta, ctrl=event.ctrl)
        self.send(data)
        event.stop()
        return True

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if self._selects(event):
            event.stop()
            self._drag_start(event)
        elif self._mouse("press", event, _MOUSE_BUTTONS.get(event.button, "left")):
            self.capture_mouse()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._drag is not None:
            event.stop()
            self._drag_end()
        elif self._mouse("release", event, _MOUSE_BUTTONS.get(event.button, "left")):
            self.capture_mouse(False)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._drag is not None:
            event.stop()
            self._drag_move(event)
            return
        self._mouse("motion", event, _MOUSE_BUTTONS.get(event.button) if event.button else None)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if not self._mouse("wheel_up", event, None) and self._can_scroll():
            event.stop()
            self._scroll_back(WHEEL_LINES)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if not self._mouse("wheel_down", event, None) and self._can_scroll():
            event.stop()
            self._scroll_back(-WHEEL_LINES)
