"""The screen model of dockyard's terminal emulator: a grid of cells (a
character and a style id), the style table, the cursor with xterm's pending
wrap, the scroll region, the primary and alternate screens, the scrollback ring
(primary screen only), the dirty-lines set and the mode flags that the input
side (keys.py) needs.

Cells are kept per line as two parallel lists, `chars` and `styles`, so that a
run of printable text is written with two slice assignments, not cell by
cell. A wide character (East Asian Wide/Fullwidth: CJK, most emoji) is stored
in its first cell and followed by a continuation cell whose char is ''.

Screen holds the state, resize and reading; its operations come from mixins
named for what they do (style, draw, motion, edit, modes, reports), composed
here so that every method is a plain attribute of Screen (no per-call
indirection). Nothing here knows about Textual or about the engine."""
from __future__ import annotations

from .chars import DEC_GRAPHICS, WIDE_CONT, char_width, special_chars_re
from .draw import DrawMixin
from .edit import EditMixin
from .line import Line
from .modes import ModesMixin
from .motion import MotionMixin
from .reports import ReportsMixin
from .scrollback import Scrollback
from .style import DEFAULT_STYLE, Color, Style, StyleMixin

__all__ = ["Screen", "Style", "Color", "DEFAULT_STYLE", "Line", "WIDE_CONT", "char_width",
           "special_chars_re", "DEC_GRAPHICS"]


class Screen(DrawMixin, MotionMixin, EditMixin, ModesMixin, StyleMixin, ReportsMixin):
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
        self._saved: dict[bool, tuple | None] = {False: None, True: None}
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
