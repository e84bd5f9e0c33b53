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

# the steps that carry a byte count: a bar on a terminal, nothing in plain lines
MOVING = frozenset({"Downloading", "Extracting", "Pushing", "Uploading", "Verifying Checksum"})
BAR = 50          # docker's bar, in '=' steps
MIN_BAR = 10      # narrower than this: numbers only


def human_size(n: float) -> str:
    """go-units' HumanSize (what docker's progress shows): decimal units, 4 significant digits."""
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.4g}{units[i]}"


def go_duration(seconds: int) -> str:
    """Go's time.Duration.String() of whole seconds: 0s, 45s, 1m30s, 2h0m5s."""
    h, rest = divmod(max(int(seconds), 0), 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{s}s"
    return f"{m}m{s}s" if m else f"{s}s"


def progress_text(current: int, total: int | None, room: int, started: float | None = None,
                  now: float | None = None) -> str:
    """docker's JSONProgress.String(), the bar sized to `room` columns (what is
    left of the line after 'id: status ')."""
    total = total or 0
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    half = min(int(current / total * 100) // 2, 50)   # docker's percentage, in steps of 2%
    numbers = f"{human_size(current):>8}/{human_size(total)}" if current <= total else f"{human_size(current):>8}"
    left = ""
    if started is not None and current > 0 and half < 50 and room > 50:
        per_byte = ((now or time.time()) - started) / current
        left = " " + go_duration(int((total - current) * per_byte))
    width = min(BAR, room - len(numbers) - len(left) - 4)   # "[", ">", "] "
    if width < MIN_BAR:
        return numbers + left
    filled = half * width // BAR
    return f"[{'=' * filled}>{' ' * (width - filled)}] {numbers}{left}"


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


__all__ = ["ProgressPrinter", "go_duration", "human_size", "progress_text"]
