"""The scrollback: a ring of the lines scrolled off the top of the screen,
read like a deque (len, [i], iteration, append, extend, clear, maxlen).

Lines a jump over a flood (jump.py) scrolls off are kept as their text and
made into Line objects only when somebody reads the scrollback. In a flood
every frame replaces the whole scrollback, so most of them never are: making
5,000 lines a frame (and freeing them, and the garbage collector walking
them) was most of a frame's time."""
from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from .line import Line


class TextLine(Line):
    """A line of printable ASCII text and blanks; its cells are made when
    first read."""

    __slots__ = ("_src",)

    def __init__(self, text: bytes, cols: int, sid: int, erase: int, wrapped: bool):
        self._src = (text, cols, sid, erase)
        self.wrapped = wrapped

    def _make(self) -> None:
        text, cols, sid, erase = self._src
        self._src = None
        n = len(text)
        Line.chars.__set__(self, list(text.decode("ascii")) + [" "] * (cols - n))
        Line.styles.__set__(self, [sid] * n + [erase] * (cols - n))

    @property
    def chars(self) -> list[str]:
        if self._src is not None:
            self._make()
        return Line.chars.__get__(self)

    @chars.setter
    def chars(self, value: list[str]) -> None:
        if self._src is not None:
            self._make()
        Line.chars.__set__(self, value)

    @property
    def styles(self) -> list[int]:
        if self._src is not None:
            self._make()
        return Line.styles.__get__(self)

    @styles.setter
    def styles(self, value: list[int]) -> None:
        if self._src is not None:
            self._make()
        Line.styles.__set__(self, value)


class Scrollback:
    """At most `maxlen` lines, oldest first. Besides Lines it holds pending
    runs of text rows (`add_text`), made into TextLines when read."""

    def __init__(self, maxlen: int):
        self.maxlen = max(0, maxlen)
        self._lines: deque[Line] = deque(maxlen=self.maxlen)
        # after _lines, in order: ("lines", [Line]) or ("text", [(bytes, wrapped)], cols, sid, erase)
        self._pending: list[tuple] = []
        self._pending_n = 0

    def __len__(self) -> int:
        return min(self.maxlen, len(self._lines) + self._pending_n)

    def __bool__(self) -> bool:
        return len(self) > 0

    def _settle(self) -> deque[Line]:
        if self._pending:
            pending, self._pending, self._pending_n = self._pending, [], 0
            skip = max(0, sum(_size(seg) for seg in pending) - self.maxlen)
            for seg in pending:
                n = _size(seg)
                if skip >= n:
                    skip -= n
                    continue
                if seg[0] == "lines":
                    self._lines.extend(seg[1][skip:])
                else:
                    _, rows, cols, sid, erase = seg
                    self._lines.extend([TextLine(t, cols, sid, erase, w) for t, w in rows[skip:]])
                skip = 0
        return self._lines

    def __getitem__(self, i: int) -> Line:
        return self._settle()[i]

    def __iter__(self) -> Iterator[Line]:
        return iter(self._settle())

    def append(self, line: Line) -> None:
        if not self.maxlen:
            return
        if not self._pending:
            self._lines.append(line)
            return
        last = self._pending[-1]
        if last[0] == "lines":
            last[1].append(line)
        else:
            self._pending.append(("lines", [line]))
        self._pending_n += 1
        self._trim()

    def extend(self, lines: list[Line]) -> None:
        for line in lines:
            self.append(line)

    def add_text(self, rows: list[tuple[bytes, bool]], cols: int, sid: int, erase: int) -> None:
        """Rows of text (each `cols` wide at most) scrolled off after what is
        here; kept as text until read."""
        if not self.maxlen or not rows:
            return
        if len(rows) >= self.maxlen:   # they replace everything
            self._lines.clear()
            self._pending, self._pending_n = [], 0
            rows = rows[-self.maxlen:]
        self._pending.append(("text", rows, cols, sid, erase))
        self._pending_n += len(rows)
        self._trim()

    def _trim(self) -> None:
        """Forgets pending segments that newer ones pushed out."""
        while self._pending and self._pending_n - _size(self._pending[0]) >= self.maxlen:
            self._pending_n -= _size(self._pending.pop(0))
        if self._pending_n >= self.maxlen:
            self._lines.clear()

    def clear(self) -> None:
        self._lines.clear()
        self._pending, self._pending_n = [], 0


def _size(seg: tuple) -> int:
    return len(seg[1])
