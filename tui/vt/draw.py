"""Writing printable text into the screen's lines: the fast ASCII path,
wrapping, insert mode, wide and combining characters, and the cell helpers that
blank and shift cells without splitting a wide character."""
from __future__ import annotations

from .chars import DEC_GRAPHICS, WIDE_CONT, char_width, special_chars_re
from .line import Line


class DrawMixin:
    """Text writing of Screen (composed in screen.py)."""

    # -- printing --------------------------------------------------------------

    def draw(self, text: str) -> None:
        """Write printable text at the cursor (no control characters)."""
        x = self.x
        end = x + len(text)
        if end < self.cols and text.isascii() and not (
                self.wrap_pending or self.insert or self.g0_graphics):
            # the common case: ASCII that fits on the cursor's line
            y = self.y
            line = self.lines[y]
            chars = line.chars
            if x and chars[x] == WIDE_CONT:
                chars[x - 1] = " "
            if chars[end] == WIDE_CONT:
                chars[end] = " "
            chars[x:end] = text
            line.styles[x:end] = [self.style_id] * (end - x)
            self.x = end
            self.last_char = text[-1]
            self.dirty.add(y)
            return
        if self.g0_graphics:
            text = text.translate(DEC_GRAPHICS)
        if not text.isascii():
            special = special_chars_re()
            pos = 0
            for m in special.finditer(text):
                i = m.start()
                if i > pos:
                    self._draw_narrow(text[pos:i])
                self._draw_special(text[i])
                pos = i + 1
            if pos < len(text):
                self._draw_narrow(text[pos:])
            return
        self._draw_narrow(text)

    def _draw_narrow(self, text: str) -> None:
        """Text of width-1 characters only: written in slices, one per line."""
        cols = self.cols
        style = self.style_id
        n = len(text)
        pos = 0
        self.last_char = text[-1]
        while pos < n:
            if self.wrap_pending:
                if self.autowrap:
                    self.lines[self.y].wrapped = True
                    self.x = 0
                    self.linefeed()
                self.wrap_pending = False
            x = self.x
            line = self.lines[self.y]
            chars = line.chars
            space = cols - x
            if self.insert:
                k = min(space, n - pos)
                self._insert_blanks(line, x, k)
            if n - pos > space and not self.autowrap:
                # without autowrap the rest overwrites the last column
                chunk = text[pos:pos + space - 1] + text[-1]
                pos = n
            else:
                chunk = text[pos:pos + space]
                pos += len(chunk)
            k = len(chunk)
            end = x + k
            if x and chars[x] == WIDE_CONT:
                chars[x - 1] = " "
            if end < cols and chars[end] == WIDE_CONT:
                chars[end] = " "
            chars[x:end] = chunk
            line.styles[x:end] = [style] * k
            self.dirty.add(self.y)
            if end >= cols:
                self.x = cols - 1
                self.wrap_pending = True
            else:
                self.x = end

    def _draw_special(self, ch: str) -> None:
        w = char_width(ch)
        if w == 0:
            # combining: joins the previous cell
            x = self.x if self.wrap_pending else self.x - 1
            line = self.lines[self.y]
            if x >= 0:
                if line.chars[x] == WIDE_CONT and x > 0:
                    x -= 1
                line.chars[x] += ch
                self.dirty.add(self.y)
            return
        if w == 1:
            self._draw_narrow(ch)
            return
        cols = self.cols
        if cols < 2:
            return
        if self.wrap_pending or (self.x == cols - 1):
            if self.autowrap:
                if not self.wrap_pending:   # the wide char does not fit: blank the last cell
                    line = self.lines[self.y]
                    self._clear_cells(line, self.x, self.x + 1, self._erase_id())
                self.lines[self.y].wrapped = True
                self.x = 0
                self.linefeed()
            else:
                self.x = cols - 2
            self.wrap_pending = False
        x = self.x
        line = self.lines[self.y]
        if self.insert:
            self._insert_blanks(line, x, 2)
        chars = line.chars
        if x and chars[x] == WIDE_CONT:
            chars[x - 1] = " "
        if x + 2 < cols and chars[x + 2] == WIDE_CONT:
            chars[x + 2] = " "
        chars[x] = ch
        chars[x + 1] = WIDE_CONT
        line.styles[x] = line.styles[x + 1] = self.style_id
        self.last_char = ch
        self.dirty.add(self.y)
        if x + 2 >= cols:
            self.x = cols - 1
            self.wrap_pending = True
        else:
            self.x = x + 2

    def repeat_last(self, n: int) -> None:   # REP
        self.draw(self.last_char * min(n, self.cols * self.rows))

    # -- cell helpers ------------------------------------------------------------

    def _clear_cells(self, line: Line, a: int, b: int, style: int) -> None:
        """Blank cells [a, b), also the halves of wide chars cut at the edges."""
        chars = line.chars
        n = len(chars)
        a = max(0, a)
        b = min(n, b)
        if a >= b:
            return
        if a and chars[a] == WIDE_CONT:
            chars[a - 1] = " "
        if b < n and chars[b] == WIDE_CONT:
            chars[b] = " "
        chars[a:b] = [" "] * (b - a)
        line.styles[a:b] = [style] * (b - a)

    def _insert_blanks(self, line: Line, x: int, k: int) -> None:
        chars, styles = line.chars, line.styles
        cols = len(chars)
        k = min(k, cols - x)
        if x and chars[x] == WIDE_CONT:
            chars[x - 1] = " "
            chars[x] = " "
        e = self._erase_id()
        chars[x:x] = [" "] * k
        styles[x:x] = [e] * k
        del chars[cols:], styles[cols:]
        if chars[-1] != WIDE_CONT and cols > 1 and chars[-1] and char_width(chars[-1][0]) == 2:
            chars[-1] = " "   # a wide char pushed half off the edge

    def _blank(self) -> Line:
        return Line(self.cols, self._erase_id())
