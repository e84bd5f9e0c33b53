"""Terminal modes (SM/RM, DECSET/DECRST) and the switch between the primary
and the alternate screen."""
from __future__ import annotations

from .line import Line


class ModesMixin:
    """Mode setting of Screen (composed in screen.py)."""

    # -- modes -------------------------------------------------------------------------

    def set_mode(self, modes: list[int], private: bool, on: bool) -> None:
        for m in modes:
            if not private:
                if m == 4:
                    self.insert = on
                elif m == 20:
                    self.newline_mode = on
                continue
            if m == 1:
                self.app_cursor = on
            elif m == 3:   # DECCOLM: xterm clears the screen (only when allowed); we just clear
                self.erase_in_display(2)
                self.top, self.bottom = 0, self.rows - 1
                self.cursor_position(1, 1)
            elif m == 6:
                self.origin = on
                self.cursor_position(1, 1)
            elif m == 7:
                self.autowrap = on
                if not on:
                    self.wrap_pending = False
            elif m == 25:
                self.cursor_visible = on
            elif m in (9, 1000, 1002, 1003):
                self.mouse_mode = m if on else 0
            elif m == 1006:
                self.mouse_sgr = on
            elif m == 1004:
                self.focus_events = on
            elif m == 2004:
                self.bracketed_paste = on
            elif m == 1049:
                if on:
                    if not self.in_alternate:
                        self.save_cursor()
                        self._switch(True)
                    self._clear_alternate()
                elif self.in_alternate:
                    self._switch(False)
                    self.restore_cursor()
            elif m == 47:
                self._switch(on)
            elif m == 1047:
                if on:
                    self._switch(True)
                elif self.in_alternate:
                    self._clear_alternate()
                    self._switch(False)
            elif m == 1048:
                if on:
                    self.save_cursor()
                else:
                    self.restore_cursor()

    def _clear_alternate(self) -> None:
        e = self._erase_id()
        self.alternate[:] = [Line(self.cols, e) for _ in range(self.rows)]
        self.dirty.update(range(self.rows))

    def _switch(self, alternate: bool) -> None:
        if alternate == self.in_alternate:
            return
        self.in_alternate = alternate
        self.lines = self.alternate if alternate else self.primary
        self.wrap_pending = False
        self.dirty.update(range(self.rows))
