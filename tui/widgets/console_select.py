"""Selections in a console (issue 7): tmux-like copy mode driven by keys, and
mouse drags. Pure logic over the emulator's screen (tui.vt), no Textual.

Positions are (row, x) in *document* rows: 0..rows-1 the screen, negative
rows the scrollback (-1 the most recent line), as `Screen.line_at` reads
them. When output scrolls lines off the top, every row moves up; `shift()`
follows the screen's `scrolled` counter so a selection stays on its text."""
from __future__ import annotations

from tui.vt.screen import WIDE_CONT, Line, Screen, Style

Pos = tuple[int, int]   # (row, x)


class Selection:
    """The copy cursor, and the selection from `anchor` to the cursor
    (inclusive, in reading order); `lines` selects whole lines (V)."""

    def __init__(self, screen: Screen, row: int, x: int):
        self.screen = screen
        self.row, self.x = row, x
        self.anchor: Pos | None = None
        self.lines = False
        self._scrolled = screen.scrolled
        self.want_x = x            # the column kept while moving up and down through short lines

    # -- following the output --------------------------------------------------------

    def shift(self) -> int:
        """Moves the positions up by the lines scrolled off since the last
        call; returns that count (the view moves with it)."""
        d = self.screen.scrolled - self._scrolled
        self._scrolled = self.screen.scrolled
        if d:
            self.row -= d
            if self.anchor is not None:
                self.anchor = (self.anchor[0] - d, self.anchor[1])
        self.clamp()
        return d

    def top(self) -> int:
        """The first row there is (the oldest scrollback line)."""
        return -len(self.screen.scrollback)

    def clamp(self) -> None:
        s = self.screen
        lo, hi = self.top(), s.rows - 1
        self.row = max(lo, min(self.row, hi))
        self.x = max(0, min(self.x, self._width(self.row) - 1))
        if self.anchor is not None:
            r = max(lo, min(self.anchor[0], hi))
            self.anchor = (r, max(0, min(self.anchor[1], self._width(r) - 1)))

    def _width(self, row: int) -> int:
        return max(1, len(self.screen.line_at(row).chars))

    # -- moving ---------------------------------------------------------------------

    def move(self, drow: int = 0, dx: int = 0) -> None:
        if drow:
            self.row += drow
            self.clamp()
            self.x = min(self.want_x, self._width(self.row) - 1)
        if dx:
            self.x = max(0, min(self.x + dx, self._width(self.row) - 1))
            self.want_x = self.x
        self._off_continuation(dx if dx else -1)

    def goto(self, row: int, x: int) -> None:
        self.row, self.x = row, x
        self.clamp()
        self.want_x = self.x
        self._off_continuation(-1)

    def line_start(self) -> None:
        self.x = self.want_x = 0

    def line_end(self) -> None:
        """The last non-blank cell (tmux's `$`)."""
        chars = self.screen.line_at(self.row).chars
        x = len(chars) - 1
        while x > 0 and chars[x] in (" ", WIDE_CONT):
            x -= 1
        self.x = self.want_x = x

    def _off_continuation(self, direction: int) -> None:
        """Never on the right half of a wide character."""
        chars = self.screen.line_at(self.row).chars
        if self.x < len(chars) and chars[self.x] == WIDE_CONT:
            if direction > 0 and self.x + 1 < len(chars):
                self.x += 1
            elif self.x > 0:
                self.x -= 1

    # -- selecting ------------------------------------------------------------------

    def start(self, lines: bool = False) -> None:
        self.anchor = (self.row, self.x)
        self.lines = lines

    def clear(self) -> None:
        self.anchor = None
        self.lines = False

    @property
    def selecting(self) -> bool:
        return self.anchor is not None

    def bounds(self) -> tuple[Pos, Pos] | None:
        """(first, last) in reading order, both inclusive."""
        if self.anchor is None:
            return None
        a, b = self.anchor, (self.row, self.x)
        return (a, b) if a <= b else (b, a)

    def span(self, row: int) -> tuple[int, int] | None:
        """Cells [a, b) of `row` that are selected."""
        bounds = self.bounds()
        if bounds is None:
            return None
        (r1, x1), (r2, x2) = bounds
        if not r1 <= row <= r2:
            return None
        width = self._width(row)
        if self.lines:
            return 0, width
        a = x1 if row == r1 else 0
        b = x2 + 1 if row == r2 else width
        if b < width and self.screen.line_at(row).chars[b] == WIDE_CONT:
            b += 1   # the whole of a wide character
        return a, min(b, width)

    def text(self) -> str:
        """The selected text: lines joined with "\\n" (a line the program's
        output wrapped is joined to the next without one, as tmux and xterm
        do), trailing blanks stripped, the right halves of wide characters
        left out."""
        bounds = self.bounds()
        if bounds is None:
            return ""
        (r1, _), (r2, _) = bounds
        out: list[str] = []
        for row in range(r1, r2 + 1):
            line = self.screen.line_at(row)
            a, b = self.span(row)
            piece = "".join(line.chars[a:b])
            if row < r2 and line.wrapped and b == len(line.chars):
                out.append(piece)   # continues on the next row
            else:
                out.append(piece.rstrip(" ") + ("\n" if row < r2 else ""))
        return "".join(out)


def highlight(screen: Screen, line: Line, spans: list[tuple[int, int]]) -> list[tuple[str, Style]]:
    """Segments of a line with the cells of `spans` in reverse video (each
    span flips it, so the copy cursor inside a selection shows as a hole)."""
    n = len(line.chars)
    flip = [False] * n
    for a, b in spans:
        for i in range(max(0, a), min(b, n)):
            flip[i] = not flip[i]
    chars, sids, table = line.chars, line.styles, screen.styles
    segs: list[tuple[str, Style]] = []
    i = 0
    while i < n:
        key = (sids[i], flip[i])
        j = i + 1
        while j < n and (sids[j], flip[j]) == key:
            j += 1
        text = "".join(chars[i:j])
        if text:
            st = table[key[0]]
            segs.append((text, st._replace(reverse=not st.reverse) if key[1] else st))
        i = j
    return segs


def cursor_span(line: Line, x: int) -> tuple[int, int]:
    """The cells a cursor at x covers (two for a wide character)."""
    chars = line.chars
    x = min(x, len(chars) - 1)
    if chars[x] == WIDE_CONT and x > 0:
        x -= 1
    w = 2 if x + 1 < len(chars) and chars[x + 1] == WIDE_CONT else 1
    return x, x + w


def copy_mode_key(sel: Selection, key: str, char: str | None, page: int) -> str | None:
    """One key of copy mode (tmux's vi keys): moves or selects, and says what
    the console is to do next: "copy" (and leave), "leave", or None (stay)."""
    if key in ("escape", "q"):
        return "leave"
    if key in ("y", "enter"):
        return "copy"
    if key in ("left", "h"):
        sel.move(dx=-1)
    elif key in ("right", "l"):
        sel.move(dx=1)
    elif key in ("up", "k"):
        sel.move(-1)
    elif key in ("down", "j"):
        sel.move(1)
    elif key in ("pageup", "ctrl+b"):
        sel.move(-page)
    elif key in ("pagedown", "ctrl+f"):
        sel.move(page)
    elif key == "ctrl+u":
        sel.move(-max(1, page // 2))
    elif key == "ctrl+d":
        sel.move(max(1, page // 2))
    elif key == "home" or char in ("0", "^"):
        sel.line_start()
    elif key == "end" or char == "$":
        sel.line_end()
    elif char == "g":
        sel.goto(sel.top(), 0)
    elif char == "G":
        sel.goto(sel.screen.rows - 1, 0)
    elif char == "v":
        if sel.selecting and not sel.lines:
            sel.clear()
        else:
            sel.start()
    elif char == "V":
        if sel.selecting and sel.lines:
            sel.clear()
        else:
            sel.start(lines=True)
    elif key == "space":
        sel.start(lines=sel.lines)
    return None
