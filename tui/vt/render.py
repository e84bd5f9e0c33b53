"""What a UI draws: a line as segments of (text, Style), cells of the same
style merged, wide-char continuation cells left out."""
from __future__ import annotations

from .screen import Screen, Style


def render_line(screen: Screen, y: int) -> list[tuple[str, Style]]:
    """Segments of row y (negative y: the scrollback, -1 the newest line)."""
    line = screen.line_at(y)
    chars, styles, table = line.chars, line.styles, screen.styles
    segs: list[tuple[str, Style]] = []
    n = len(chars)
    start = 0
    while start < n:
        sid = styles[start]
        end = start + 1
        while end < n and styles[end] == sid:
            end += 1
        text = "".join(chars[start:end])   # continuation cells are '' and vanish
        if text:
            segs.append((text, table[sid]))
        start = end
    return segs
