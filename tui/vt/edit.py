"""Erase, insert and delete of characters and lines (EL, ED, ECH, ICH, DCH,
IL, DL) and DECALN. Erased cells take the current background (BCE)."""
from __future__ import annotations

from .chars import WIDE_CONT
from .line import Line


class EditMixin:
    """Erase/insert/delete of Screen (composed in screen.py)."""

    # -- editing ------------------------------------------------------------------------

    def erase_in_line(self, how: int = 0) -> None:   # EL
        line = self.lines[self.y]
        e = self._erase_id()
        if how == 0:
            self._clear_cells(line, self.x, self.cols, e)
        elif how == 1:
            self._clear_cells(line, 0, self.x + 1, e)
        elif how == 2:
            self._clear_cells(line, 0, self.cols, e)
        line.wrapped = False if how != 1 else line.wrapped
        self.wrap_pending = False
        self.dirty.add(self.y)

    def erase_in_display(self, how: int = 0) -> None:   # ED
        e = self._erase_id()
        if how == 0:
            self.erase_in_line(0)
            rows = range(self.y + 1, self.rows)
        elif how == 1:
            self.erase_in_line(1)
            rows = range(0, self.y)
        elif how == 2:
            rows = range(self.rows)
        elif how == 3:
            self.scrollback.clear()
            return
        else:
            return
        for y in rows:
            self.lines[y] = Line(self.cols, e)
        self.dirty.update(rows)
        self.wrap_pending = False

    def erase_chars(self, n: int = 1) -> None:   # ECH
        self._clear_cells(self.lines[self.y], self.x, self.x + max(1, n), self._erase_id())
        self.wrap_pending = False
        self.dirty.add(self.y)

    def insert_chars(self, n: int = 1) -> None:   # ICH
        self._insert_blanks(self.lines[self.y], self.x, max(1, n))
        self.wrap_pending = False
        self.dirty.add(self.y)

    def delete_chars(self, n: int = 1) -> None:   # DCH
        line = self.lines[self.y]
        chars, styles = line.chars, line.styles
        x = self.x
        n = min(max(1, n), self.cols - x)
        if x and chars[x] == WIDE_CONT:
            chars[x - 1] = " "
        if x + n < self.cols and chars[x + n] == WIDE_CONT:
            chars[x + n] = " "
        del chars[x:x + n], styles[x:x + n]
        e = self._erase_id()
        chars.extend([" "] * n)
        styles.extend([e] * n)
        self.wrap_pending = False
        self.dirty.add(self.y)

    def insert_lines(self, n: int = 1) -> None:   # IL
        if not self.top <= self.y <= self.bottom:
            return
        n = min(max(1, n), self.bottom - self.y + 1)
        for _ in range(n):
            del self.lines[self.bottom]
            self.lines.insert(self.y, self._blank())
        self.dirty.update(range(self.y, self.bottom + 1))
        self.x = 0
        self.wrap_pending = False

    def delete_lines(self, n: int = 1) -> None:   # DL
        if not self.top <= self.y <= self.bottom:
            return
        n = min(max(1, n), self.bottom - self.y + 1)
        for _ in range(n):
            del self.lines[self.y]
            self.lines.insert(self.bottom, self._blank())
        self.dirty.update(range(self.y, self.bottom + 1))
        self.x = 0
        self.wrap_pending = False

    def alignment_test(self) -> None:   # DECALN
        for line in self.lines:
            line.chars[:] = ["E"] * self.cols
            line.styles[:] = [0] * self.cols
        self.top, self.bottom = 0, self.rows - 1
        self.x = self.y = 0
        self.dirty.update(range(self.rows))
