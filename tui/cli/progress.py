"""Pull and push output as docker's CLI draws it (moby's pkg/jsonmessage).

On a terminal every layer has a line of its own, redrawn in place: a new id
adds a line at the bottom; an event of a known id moves the cursor up to its
line (ESC[nA), erases it (ESC[2K), writes it and moves back down (ESC[nB).
A line without an id ("Digest: …") is printed below and forgets the ids, so
the next pull of `pull -a` starts lines of its own. Byte counts become
`[=====>      ]  12.3MB/45.6MB 3s`: docker's 50-column bar when the terminal
is wide enough, narrower to fit, left out below 10 columns; a line never
reaches the last column (a wrapped line would throw the cursor arithmetic
off). Not a terminal: docker's plain lines, one per step, byte counts left out.

Events are anything with id, status, current and total (engine.PullEvent and
the push side's PushEvent); they come from several layer threads at once."""
from __future__ import annotations

import os
import threading
import time

from ..progressbar import MOVING, go_duration, human_size, progress_text


def _columns(out) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns or 80
    except (OSError, ValueError, AttributeError):
        return 80


class ProgressPrinter:
    """Call it with each event (thread-safe). tty: None asks out.isatty()."""

    def __init__(self, out, tty: bool | None = None, columns=None, clock=time.time):
        self.out = out
        if tty is None:
            try:
                tty = out.isatty()
            except (AttributeError, ValueError):
                tty = False
        self.tty = tty
        self.columns = columns or (lambda: _columns(out))
        self.clock = clock
        self._lock = threading.Lock()
        self._lines: dict[str, int] = {}             # layer id -> its line, from the top of the block
        self._started: dict[str, float] = {}         # layer id -> when its line began

    def __call__(self, event) -> None:
        with self._lock:
            if self.tty:
                self._draw(event)
            else:
                self._plain(event)
            self.out.flush()

    def _plain(self, event) -> None:
        if event.status in MOVING and (event.current or event.total):
            return
        self.out.write(f"{event.id}: {event.status}\n" if event.id else f"{event.status}\n")

    def _draw(self, event) -> None:
        cols = self.columns()
        if not event.id:
            self._lines.clear()
            self._started.clear()
            self.out.write(event.status[:max(cols - 1, 1)] + "\n")
            return
        line = self._lines.get(event.id)
        if line is None:
            line = self._lines[event.id] = len(self._lines)
            self._started[event.id] = self.clock()   # docker's Start: time left is reckoned from here
            self.out.write("\n")
        up = len(self._lines) - line
        head = f"{event.id}: {event.status}"
        bar = ""
        if event.status in MOVING:
            bar = progress_text(event.current or 0, event.total, cols - 1 - len(head) - 1,
                                self._started[event.id], self.clock())
        text = f"{head} {bar}" if bar else head
        self.out.write(f"\x1b[{up}A\x1b[2K\r{text[:max(cols - 1, 1)]}\r\x1b[{up}B")


__all__ = ["MOVING", "ProgressPrinter", "go_duration", "human_size", "progress_text"]
