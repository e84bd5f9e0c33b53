"""What a cell may hold: the continuation cell of a wide character,
character widths (0, 1 or 2 columns) and the DEC special graphics charset."""
from __future__ import annotations

import re
import unicodedata

WIDE_CONT = ""   # the char of the cell that continues a wide character

# -- character widths --------------------------------------------------------

_width_cache: dict[str, int] = {}


def char_width(ch: str) -> int:
    """0 for combining and format characters, 2 for East Asian Wide/Fullwidth,
    1 otherwise (cached per character)."""
    w = _width_cache.get(ch)
    if w is None:
        if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
            w = 0
        elif unicodedata.east_asian_width(ch) in "WF":
            w = 2
        else:
            w = 1
        _width_cache[ch] = w
    return w


_special_re: re.Pattern | None = None


def special_chars_re() -> re.Pattern:
    """A regex matching every character whose width is not 1 (built on first
    use from unicodedata, about 10 ms)."""
    global _special_re
    if _special_re is None:
        ranges: list[list[int]] = []
        for cp in range(0x300, 0x20000):
            if 0xD800 <= cp < 0xE000:
                continue
            if char_width(chr(cp)) != 1:
                if ranges and ranges[-1][1] == cp - 1:
                    ranges[-1][1] = cp
                else:
                    ranges.append([cp, cp])
        ranges += [[0x20000, 0x3FFFD], [0xE0000, 0xE0FFF]]
        cls = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                      for a, b in ranges)
        _special_re = re.compile(f"[{cls}]")
    return _special_re


# DEC special graphics (ESC ( 0): line drawing used by ncurses programs
DEC_GRAPHICS = str.maketrans({
    "`": "◆", "a": "▒", "b": "␉", "c": "␌", "d": "␍", "e": "␊", "f": "°", "g": "±",
    "h": "␤", "i": "␋", "j": "┘", "k": "┐", "l": "┌", "m": "└", "n": "┼", "o": "⎺",
    "p": "⎻", "q": "─", "r": "⎼", "s": "⎽", "t": "├", "u": "┤", "v": "┴", "w": "┬",
    "x": "│", "y": "≤", "z": "≥", "{": "π", "|": "≠", "}": "£", "~": "·", "_": " ",
})
