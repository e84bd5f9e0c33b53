"""Cursor motion of the screen model: C0 controls (LF, CR, BS, TAB, BEL),
index and reverse index, scrolling within the scroll region (into the
scrollback from the top of the primary screen), margins, cursor addressing and
DECSC/DECRC."""
from __future__ import annotations

from .line import Line


class MotionMixin:
    """Cursor motion and scrolling of Screen (composed in screen.py)."""

    # -- C0 controls -------------------------------------------------------------

    def linefeed(self) -> None:
        """IND (and LF, VT, FF; with LNM also CR)."""
        self.wrap_pending = False
        if self.y == self.bottom:
            self.scroll_up(1)
        elif self.y < self.rows - 1:
            self.y += 1
        if self.newline_mode:
            self.x = 0

    def index(self) -> None:
        nl = self.newline_mode
        self.newline_mode = False
        self.linefeed()
        self.newline_mode = nl

    def next_line(self) -> None:   # NEL
        self.index()
        self.x = 0

    def reverse_index(self) -> None:   # RI
        self.wrap_pending = False
        if self.y == self.top:
            self.scroll_down(1)
        elif self.y > 0:
            self.y -= 1

    def carriage_return(self) -> None:
        self.x = 0
        self.wrap_pending = False

    def backspace(self) -> None:
        self.wrap_pending = False
        if self.x > 0:
            self.x -= 1

    def tab(self, n: int = 1) -> None:
        x = self.x
        for _ in range(min(n, self.cols)):
            x += 1
            while x < self.cols - 1 and x not in self.tabstops:
                x += 1
        self.x = min(x, self.cols - 1)
        self.wrap_pending = False

    def back_tab(self, n: int = 1) -> None:
        x = self.x
        for _ in range(min(n, self.cols)):
            x -= 1
            while x > 0 and x not in self.tabstops:
                x -= 1
        self.x = max(0, x)
        self.wrap_pending = False

    def set_tab_stop(self) -> None:
        self.tabstops.add(self.x)

    def clear_tab_stop(self, how: int = 0) -> None:
        if how == 0:
            self.tabstops.discard(self.x)
        elif how == 3:
            self.tabstops.clear()

    def bell(self) -> None:
        self.bells += 1

    # -- scrolling -----------------------------------------------------------------

    def scroll_up(self, n: int = 1) -> None:
        top, bottom = self.top, self.bottom
        if n == 1 and top == 0 and bottom == self.rows - 1:   # the common case: a full screen
            lines = self.lines
            old = lines.pop(0)
            if not self.in_alternate and self.scrollback_max > 0:
                self.scrollback.append(old)
            self.scrolled += 1
            sid = self.style_id
            lines.append(Line(self.cols, self._erase_ids.get(sid) if sid in self._erase_ids
                              else self._erase_id()))
            dirty = self.dirty
            if len(dirty) < self.rows:
                dirty.update(range(self.rows))
            return
        n = min(n, bottom - top + 1)
        lines = self.lines
        keep = top == 0 and not self.in_alternate and self.scrollback_max > 0
        if top == 0:
            self.scrolled += n
        for _ in range(n):
            old = lines.pop(top)
            if keep:
                self.scrollback.append(old)
            lines.insert(bottom, self._blank())
        self.dirty.update(range(top, bottom + 1))

    def scroll_down(self, n: int = 1) -> None:
        top, bottom = self.top, self.bottom
        n = min(n, bottom - top + 1)
        lines = self.lines
        for _ in range(n):
            del lines[bottom]
            lines.insert(top, self._blank())
        self.dirty.update(range(top, bottom + 1))

    def set_margins(self, top: int = 0, bottom: int = 0) -> None:   # DECSTBM, 1-based, 0 = default
        t = max(1, top or 1) - 1
        b = min(self.rows, bottom or self.rows) - 1
        if b - t < 1:
            return
        self.top, self.bottom = t, b
        self.cursor_position(1, 1)

    # -- cursor movement -------------------------------------------------------------

    def cursor_position(self, row: int = 1, col: int = 1) -> None:   # CUP, 1-based
        row = max(1, row) - 1
        col = max(1, col) - 1
        if self.origin:
            self.y = min(self.top + row, self.bottom)
        else:
            self.y = min(row, self.rows - 1)
        self.x = min(col, self.cols - 1)
        self.wrap_pending = False

    def cursor_to_column(self, col: int = 1) -> None:   # CHA, HPA
        self.x = min(max(1, col) - 1, self.cols - 1)
        self.wrap_pending = False

    def cursor_to_row(self, row: int = 1) -> None:   # VPA
        self.cursor_position(row, self.x + 1)

    def cursor_up(self, n: int = 1) -> None:
        n = max(1, n)
        lim = self.top if self.y >= self.top else 0
        self.y = max(lim, self.y - n)
        self.wrap_pending = False

    def cursor_down(self, n: int = 1) -> None:
        n = max(1, n)
        lim = self.bottom if self.y <= self.bottom else self.rows - 1
        self.y = min(lim, self.y + n)
        self.wrap_pending = False

    def cursor_forward(self, n: int = 1) -> None:
        self.x = min(self.cols - 1, self.x + max(1, n))
        self.wrap_pending = False

    def cursor_back(self, n: int = 1) -> None:
        self.x = max(0, self.x - max(1, n))
        self.wrap_pending = False

    def save_cursor(self) -> None:   # DECSC
        self._saved[self.in_alternate] = (self.x, self.y, self.style_id, self.wrap_pending,
                                          self.origin, self.g0_graphics, self.autowrap)

    def restore_cursor(self) -> None:   # DECRC
        saved = self._saved[self.in_alternate]
        if saved is None:
            self.origin = False
            self.cursor_position(1, 1)
            self.style_id = 0
            self.g0_graphics = False
            return
        x, y, self.style_id, wrap, self.origin, self.g0_graphics, self.autowrap = saved
        self.x = min(x, self.cols - 1)
        self.y = min(y, self.rows - 1)
        self.wrap_pending = wrap and self.x == self.cols - 1
