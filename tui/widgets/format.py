"""Short forms for the panes: sizes as docker prints them, compact ages."""
from ..fmt import human_size

__all__ = ["human_size", "compact_duration", "size_or_dash", "percent"]


def compact_duration(seconds: float | None) -> str:
    """45s, 12m, 3h, 2d, 5w, 4mo, 2y."""
    if seconds is None:
        return "-"
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    m = s // 60
    if m < 60:
        return f"{m}m"
    h = m // 60
    if h < 48:
        return f"{h}h"
    d = h // 24
    if d < 14:
        return f"{d}d"
    if d < 60:
        return f"{d // 7}w"
    if d < 730:
        return f"{d // 30}mo"
    return f"{d // 365}y"


def size_or_dash(n: int | None) -> str:
    return "-" if n is None else human_size(n)


def percent(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}%"
