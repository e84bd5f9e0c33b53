"""Drawing a console (issue 7): the emulator's rows as Textual strips
(the line API), the cursor, a selection and copy mode's tag in reverse video,
and which rows to repaint after a frame of output. A mixin of ConsoleView."""
from __future__ import annotations

from rich.color import Color
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual.geometry import Region
from textual.strip import Strip

from tui.vt import render_line
from tui.vt.screen import Style

from .console_select import cursor_span, highlight

COPY_HINT = " v select · y copy · q leave "


def _color(c) -> Color | None:
    if c is None:
        return None
    if isinstance(c, int):
        return Color.from_ansi(c)
    return Color.parse(c)


class Painting:
    """For ConsoleView (which has `terminal`, `_back`, `copy`, `_drag`,
    `_painted`, `_cursor_row`, `_styles`, `_base`, `state`)."""

    def _repaint(self) -> None:
        screen = self.terminal.screen
        dirty = screen.take_dirty()
        width = self.size.width
        if self._back or not self.is_mounted:
            self.refresh()
            return
        # a dirty row that still shows what was last drawn there is left alone
        # (during `yes` every row scrolls, and every row reads "y")
        painted, lines, n = self._painted, screen.lines, screen.rows
        rows = {y for y in dirty if y < n and ((p := painted.get(y)) is None or p[0] != lines[y].chars
                                              or p[1] != lines[y].styles)}
        if screen.y != self._cursor_row:
            rows.add(self._cursor_row)
        rows.add(screen.y)
        self._cursor_row = screen.y
        if len(rows) >= screen.rows:
            self.refresh()
            return
        for start, n in _runs(sorted(rows)):
            self.refresh(Region(0, start, width, n))

    def _rich(self, st: Style) -> RichStyle:
        rs = self._styles.get(st)
        if rs is None:
            rs = RichStyle(color=_color(st.fg), bgcolor=_color(st.bg), bold=st.bold or None, dim=st.dim or None,
                           italic=st.italic or None, underline=st.underline or None, blink=st.blink or None,
                           reverse=st.reverse or None, conceal=st.hidden or None, strike=st.strike or None)
            self._styles[st] = rs
        return rs

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base = None

    def render_line(self, y: int) -> Strip:
        if self._base is None:
            self._base = self.rich_style
        base = self._base
        width = self.size.width
        screen = self.terminal.screen
        row = y - self._back
        if row >= screen.rows or row < -len(screen.scrollback):
            return Strip.blank(width, base)
        line = screen.line_at(row)
        spans = []
        sel = self._drag or self.copy
        if sel is not None:
            span = sel.span(row)
            if span:
                spans.append(span)
        if self.copy is not None and row == self.copy.row:
            spans.append(cursor_span(line, self.copy.x))
        elif (row == screen.y and self._back == 0 and screen.cursor_visible and self.has_focus
              and self.state == "live" and self.copy is None):
            spans.append(cursor_span(line, screen.x))
        if spans or self._back or sel is not None:
            self._painted.pop(y, None)
            segs = highlight(screen, line, spans) if spans else render_line(screen, row)
        else:
            self._painted[y] = (line.chars[:], line.styles[:])
            segs = render_line(screen, row)
        rich = self._rich
        strip = Strip([Segment(text, base + rich(st)) for text, st in segs]).adjust_cell_length(width, base)
        if y == 0 and self.copy is not None:
            # copy mode shows, as tmux's does: where the view is in the scrollback
            tag = f" [copy{': selecting' if self.copy.selecting else ''} {self._back}/{len(screen.scrollback)}] "
            if len(tag) + len(COPY_HINT) < width // 2:
                tag = COPY_HINT + tag
            if len(tag) < width:
                mark = Strip([Segment(tag, base + RichStyle(reverse=True, bold=True))])
                strip = Strip.join([strip.crop(0, width - len(tag)), mark])
        return strip


def _runs(rows: list[int]):
    """Sorted row numbers as (start, count) runs."""
    start = prev = None
    for r in rows:
        if start is None:
            start = prev = r
        elif r == prev + 1:
            prev = r
        else:
            yield start, prev - start + 1
            start = prev = r
    if start is not None:
        yield start, prev - start + 1
