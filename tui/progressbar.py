"""The pieces of docker's progress lines (moby's jsonmessage.JSONProgress and
go-units' HumanSize), shared by the command line's printer (tui/cli/progress.py)
and the TUI's pull/push dialog (tui/dialogs/pull.py)."""
from __future__ import annotations

import time

# the steps that carry a byte count: a bar on a terminal, nothing in plain lines
MOVING = frozenset({"Downloading", "Extracting", "Pushing", "Uploading", "Verifying Checksum"})
BAR = 50          # docker's bar, in '=' steps
MIN_BAR = 10      # narrower than this: numbers only


def human_size(n: float) -> str:
    """go-units' HumanSize (what docker's progress shows): 4 significant digits."""
    from .fmt import human_size as size
    return size(n, 4)


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
