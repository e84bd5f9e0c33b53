"""Formatting as docker's CLI does: sizes, durations, tables."""
import time


def human_size(n: float, digits: int = 3) -> str:
    """Decimal units like docker's units.HumanSize: 3 significant digits where
    docker lists sizes (images, ps), 4 in its progress lines (HumanSize itself)."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.{digits}g}{units[i]}"


def human_duration(seconds: float) -> str:
    """docker's units.HumanDuration."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(seconds / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def ago(ts: float | None) -> str:
    if ts is None:
        return "N/A"
    return human_duration(time.time() - ts) + " ago"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """docker's tabwriter layout: columns padded by three spaces."""
    widths = [len(h) for h in headers]
    for r in rows:
        for i, cell in enumerate(r):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for r in [headers] + rows:
        cells = [c.ljust(widths[i]) for i, c in enumerate(r[:-1])] + [r[-1]]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)
