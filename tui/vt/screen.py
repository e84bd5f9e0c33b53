"""The screen model of dockyard's terminal emulator: a grid of cells (a
character and a style id), the style table, the cursor with xterm's pending
wrap, the scroll region, the primary and alternate screens, the scrollback ring
(primary screen only), the dirty-lines set and the mode flags that the input
side (keys.py) needs.

Cells are kept per line as two parallel lists, `chars` and `styles`, so that a
run of printable text is written with two slice assignments, not cell by
cell. A wide character (East Asian Wide/Fullwidth: CJK, most emoji) is stored
in its first cell and followed by a continuation cell whose char is ''.

Nothing here knows about Textual or about the engine."""
from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from typing import NamedTuple, Optional, Union

from .line import Line
from .scrollback import Scrollback

Color = Union[None, int, str]   # None: default; 0-255: palette; "#rrggbb": truecolor

WIDE_CONT = ""   # the char of the cell that continues a wide character


class Style(NamedTuple):
    fg: Color = None
    bg: Color = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    blink: bool = False
    reverse: bool = False
    hidden: bool = False
    strike: bool = False


DEFAULT_STYLE = Style()

# -- character widths --------------------------------------------------------

_width_cache: dict[str, int] = {}


def char_width(ch: str) -> int:
    """0 for combining and format characters, 2 for East Asian Wide/Fullwidth,
    1 otherwise (cached per character)."""
    w = _width_cache.get(ch)
    if w is None:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            w = 0
        elif unicodedata.east_asian_width(ch) in "WF":
            w = 2
        else:
            w = 1
        _width_cache[ch] = w
    return w


_special_re: Optional[re.Pattern] = None


def special_chars_re() -> re.Pattern:
    """A regex matching every character whose width is not 1 (built on first
    use from unicodedata, about 10 ms)."""
    global _special_re
    if _special_re is None:
        ranges: list[list[int]] = []
        for cp in range(0x300, 0x20000):
            if 0xD800 <= cp < 0xE000:
                continue
            if char_width(chr(cp)) != 1:
                if ranges and ranges[-1][1] == cp - 1:
                    ranges[-1][1] = cp
                else:
                    ranges.append([cp, cp])
        ranges += [[0x20000, 0x3FFFD], [0xE0000, 0xE0FFF]]
        cls = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                      for a, b in ranges)
        _special_re = re.compile(f"[{cls}]")
    return _special_re


# DEC special graphics (ESC ( 0): line drawing used by ncurses programs
DEC_GRAPHICS = str.maketrans({
    "`": "◆", "a": "▒", "b": "␉", "c": "␌", "d": "␍", "e": "␊", "f": "°", "g": "±",
    "h": "␤", "i": "␋", "j": "┘", "k": "┐", "l": "┌", "m": "└", "n": "┼", "o": "⎺",
    "p": "⎻", "q": "─", "r": "⎼", "s": "⎽", "t": "├", "u": "┤", "v": "┴", "w": "┬",
    "x": "│", "y": "≤", "z": "≥", "{": "π", "|": "≠", "}": "£", "~": "·", "_": " ",
})


class Screen:
    def __init__(self, cols: int = 80, rows: int = 24, scrollback: int = 1000):
        self.cols = max(1, cols)
        self.rows = max(1, rows)
        self.scrollback_max = scrollback
        self.scrollback = Scrollback(scrollback)   # read like a deque of Lines
        self.styles: list[Style] = [DEFAULT_STYLE]
        self._style_ids: dict[Style, int] = {DEFAULT_STYLE: 0}
        self._sgr_cache: dict[tuple[int, str], int] = {}
        self._erase_ids: dict[int, int] = {0: 0}
        self.responses: list[bytes] = []       # replies (DSR, DA) to write back to the program
        self.clipboard: list[tuple[str, str]] = []   # OSC 52 sets: (selection, text)
        self.title = ""
        self.icon_title = ""
        self.bells = 0
        self.scrolled = 0   # lines that ever left the top of the screen (kept or not): moves selections along
        self.reset()

    # -- state ---------------------------------------------------------------

    def reset(self) -> None:
        """RIS: everything back to power-on state (the scrollback is kept)."""
        self.primary = [Line(self.cols) for _ in range(self.rows)]
        self.alternate = [Line(self.cols) for _ in range(self.rows)]
        self.lines = self.primary
        self.in_alternate = False
        self.x = 0
        self.y = 0
        self.wrap_pending = False
        self.style_id = 0
        self.top = 0
        self.bottom = self.rows - 1
        self.tabstops = set(range(8, self.cols, 8))
        self.g0_graphics = False
        self.last_char = " "
        self._saved: dict[bool, Optional[tuple]] = {False: None, True: None}
        # modes
        self.autowrap = True          # DECAWM (?7)
        self.origin = False           # DECOM (?6)
        self.insert = False           # IRM (4)
        self.newline_mode = False     # LNM (20)
        self.cursor_visible = True    # DECTCEM (?25)
        self.app_cursor = False       # DECCKM (?1)
        self.app_keypad = False       # DECKPAM / DECKPNM
        self.bracketed_paste = False  # ?2004
        self.mouse_mode = 0           # 0, 9 (X10), 1000, 1002 or 1003
        self.mouse_sgr = False        # ?1006
        self.focus_events = False     # ?1004
        self.cursor_shape = 0         # DECSCUSR
        self.dirty: set[int] = set(range(self.rows))

    # -- styles ----------------------------------------------------------------

    @property
    def style(self) -> Style:
        return self.styles[self.style_id]

    def intern_style(self, style: Style) -> int:
        sid = self._style_ids.get(style)
        if sid is None:
            sid = len(self.styles)
            self.styles.append(style)
            self._style_ids[style] = sid
        return sid

    def _erase_id(self) -> int:
        """Erased cells take the current background (xterm's BCE)."""
        sid = self.style_id
        e = self._erase_ids.get(sid)
        if e is None:
            bg = self.styles[sid].bg
            e = self.intern_style(Style(bg=bg)) if bg is not None else 0
            self._erase_ids[sid] = e
        return e

    def select_graphic_rendition(self, params: str) -> None:
        key = (self.style_id, params)
        sid = self._sgr_cache.get(key)
        if sid is None:
            sid = self.intern_style(_apply_sgr(self.styles[self.style_id], params))
            if len(self._sgr_cache) > 4096:
                self._sgr_cache.clear()
            self._sgr_cache[key] = sid
        self.style_id = sid

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

    # -- OSC ------------------------------------------------------------------------------

    def osc(self, payload: str) -> None:
        code, _, rest = payload.partition(";")
        if code in ("0", "2"):
            self.title = rest
            if code == "0":
                self.icon_title = rest
        elif code == "1":
            self.icon_title = rest
        elif code == "52":
            sel, _, data = rest.partition(";")
            if data == "?":
                return   # clipboard reads are never answered (a program could steal it)
            try:
                text = base64.b64decode(data, validate=False).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                return
            self.clipboard.append((sel or "s0", text))

    # -- reports -----------------------------------------------------------------------

    def report(self, what: str) -> None:
        if what == "status":
            self.responses.append(b"\x1b[0n")
        elif what == "cursor":
            y = self.y - self.top if self.origin else self.y
            self.responses.append(f"\x1b[{y + 1};{self.x + 1}R".encode())
        elif what == "da1":
            self.responses.append(b"\x1b[?62;22c")
        elif what == "da2":
            self.responses.append(b"\x1b[>1;10;0c")

    # -- resize ----------------------------------------------------------------------------

    def resize(self, cols: int, rows: int) -> None:
        """Content stays top-left; if the cursor would fall off the bottom, the
        lines above it move up (into the scrollback for the primary screen), as
        xterm does, so that a shell's prompt stays visible."""
        cols, rows = max(1, cols), max(1, rows)
        for alt in (False, True):
            lines = self.alternate if alt else self.primary
            if rows < len(lines):
                cy = self.y if alt == self.in_alternate else 0
                excess = max(0, cy - (rows - 1))
                for _ in range(excess):
                    old = lines.pop(0)
                    if not alt and self.scrollback_max > 0:
                        self.scrollback.append(old)
                    if alt == self.in_alternate:
                        self.scrolled += 1
                if alt == self.in_alternate:
                    self.y -= excess
                del lines[rows:]
            while len(lines) < rows:
                lines.append(Line(cols))
            if cols != self.cols:
                for line in lines:
                    self._resize_line(line, cols)
            saved = self._saved[alt]
            if saved is not None:
                self._saved[alt] = (min(saved[0], cols - 1), min(saved[1], rows - 1)) + saved[2:]
        self.top, self.bottom = 0, rows - 1
        self.x = min(self.x, cols - 1)
        self.y = min(self.y, rows - 1)
        self.wrap_pending = False
        old_cols = self.cols
        self.tabstops = {t for t in self.tabstops if t < cols}
        if cols > old_cols:
            self.tabstops |= {t for t in range(8, cols, 8) if t >= old_cols}
        self.cols, self.rows = cols, rows
        self.dirty = set(range(rows))

    @staticmethod
    def _resize_line(line: Line, cols: int) -> None:
        n = len(line.chars)
        if cols < n:
            del line.chars[cols:], line.styles[cols:]
            if line.chars[-1] and line.chars[-1] != WIDE_CONT and char_width(line.chars[-1][0]) == 2:
                line.chars[-1] = " "   # its continuation was cut off
        elif cols > n:
            line.chars.extend([" "] * (cols - n))
            line.styles.extend([0] * (cols - n))

    # -- reading -------------------------------------------------------------------------------

    def line_at(self, y: int) -> Line:
        """Line y of the screen; negative y reads the scrollback (-1 is the most
        recent line scrolled off)."""
        if y < 0:
            return self.scrollback[y]
        return self.lines[y]

    @property
    def display(self) -> list[str]:
        """The screen as text, one string per row (wide chars once)."""
        return ["".join(line.chars) for line in self.lines]

    def take_dirty(self) -> set[int]:
        """The rows changed since the last call (and forget them)."""
        d = self.dirty
        self.dirty = set()
        return d


# -- SGR --------------------------------------------------------------------------------

_FLAG = {1: "bold", 2: "dim", 3: "italic", 4: "underline", 5: "blink", 6: "blink",
         7: "reverse", 8: "hidden", 9: "strike"}
_UNFLAG = {21: ("underline",), 22: ("bold", "dim"), 23: ("italic",), 24: ("underline",),
           25: ("blink",), 27: ("reverse",), 28: ("hidden",), 29: ("strike",)}


def _int(s: str, default: int = 0) -> int:
    try:
        return int(s) if s else default
    except ValueError:
        return default


def _extended_color(args: list[str]) -> tuple[Color, int]:
    """The colour of 38/48 from the arguments after it, and how many it took."""
    if not args:
        return None, 0
    kind = _int(args[0])
    if kind == 5 and len(args) >= 2:
        n = _int(args[1])
        return (n if 0 <= n <= 255 else None), 2
    if kind == 2 and len(args) >= 4:
        r, g, b = (max(0, min(255, _int(v))) for v in args[1:4])
        return f"#{r:02x}{g:02x}{b:02x}", 4
    return None, len(args)


def _apply_sgr(style: Style, params: str) -> Style:
    if not params:
        return DEFAULT_STYLE
    d = style._asdict()
    parts = params.split(";")
    i = 0
    while i < len(parts):
        part = parts[i]
        i += 1
        if ":" in part:   # ITU sub-parameters: 38:2::r:g:b, 38:5:n, 4:3
            sub = part.split(":")
            p = _int(sub[0])
            if p in (38, 48, 58):
                args = sub[1:]
                if args and args[0] == "2" and len(args) >= 5:
                    args = ["2"] + args[-3:]   # drop the colour space id
                color, _ = _extended_color(args)
                if p != 58:
                    d["fg" if p == 38 else "bg"] = color
            elif p == 4:
                d["underline"] = _int(sub[1] if len(sub) > 1 else "1") != 0
            continue
        p = _int(part)
        if p == 0:
            d = DEFAULT_STYLE._asdict()
        elif p in _FLAG:
            d[_FLAG[p]] = True
        elif p in _UNFLAG:
            for f in _UNFLAG[p]:
                d[f] = False
        elif 30 <= p <= 37:
            d["fg"] = p - 30
        elif 40 <= p <= 47:
            d["bg"] = p - 40
        elif 90 <= p <= 97:
            d["fg"] = p - 90 + 8
        elif 100 <= p <= 107:
            d["bg"] = p - 100 + 8
        elif p == 39:
            d["fg"] = None
        elif p == 49:
            d["bg"] = None
        elif p in (38, 48, 58):
            color, used = _extended_color(parts[i:])
            i += used
            if p != 58:
                d["fg" if p == 38 else "bg"] = color
    return Style(**d)
