"""Cell styles of the screen model: the Style tuple, the per-screen style
table (styles are interned, cells hold their ids) and the SGR parser that turns
`CSI ... m` parameters into a new Style."""
from __future__ import annotations

from typing import NamedTuple

Color = None | int | str   # None: default; 0-255: palette; "#rrggbb": truecolor


class Style(NamedTuple):
    fg: Color = None
    bg: Color = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    blink: bool = False
    reverse: bool = False
    hidden: bool = False
    strike: bool = False


DEFAULT_STYLE = Style()


class StyleMixin:
    """The style table and SGR of Screen (composed in screen.py)."""

    # -- styles ----------------------------------------------------------------

    @property
    def style(self) -> Style:
        return self.styles[self.style_id]

    def intern_style(self, style: Style) -> int:
        sid = self._style_ids.get(style)
        if sid is None:
            sid = len(self.styles)
            self.styles.append(style)
            self._style_ids[style] = sid
        return sid

    def _erase_id(self) -> int:
        """Erased cells take the current background (xterm's BCE)."""
        sid = self.style_id
        e = self._erase_ids.get(sid)
        if e is None:
            bg = self.styles[sid].bg
            e = self.intern_style(Style(bg=bg)) if bg is not None else 0
            self._erase_ids[sid] = e
        return e

    def select_graphic_rendition(self, params: str) -> None:
        key = (self.style_id, params)
        sid = self._sgr_cache.get(key)
        if sid is None:
            sid = self.intern_style(_apply_sgr(self.styles[self.style_id], params))
            if len(self._sgr_cache) > 4096:
                self._sgr_cache.clear()
            self._sgr_cache[key] = sid
        self.style_id = sid


# -- SGR --------------------------------------------------------------------------------

_FLAG = {1: "bold", 2: "dim", 3: "italic", 4: "underline", 5: "blink", 6: "blink",
         7: "reverse", 8: "hidden", 9: "strike"}
_UNFLAG = {21: ("underline",), 22: ("bold", "dim"), 23: ("italic",), 24: ("underline",),
           25: ("blink",), 27: ("reverse",), 28: ("hidden",), 29: ("strike",)}


def _int(s: str, default: int = 0) -> int:
    try:
        return int(s) if s else default
    except ValueError:
        return default


def _extended_color(args: list[str]) -> tuple[Color, int]:
    """The colour of 38/48 from the arguments after it, and how many it took."""
    if not args:
        return None, 0
    kind = _int(args[0])
    if kind == 5 and len(args) >= 2:
        n = _int(args[1])
        return (n if 0 <= n <= 255 else None), 2
    if kind == 2 and len(args) >= 4:
        r, g, b = (max(0, min(255, _int(v))) for v in args[1:4])
        return f"#{r:02x}{g:02x}{b:02x}", 4
    return None, len(args)


def _apply_sgr(style: Style, params: str) -> Style:
    if not params:
        return DEFAULT_STYLE
    d = style._asdict()
    parts = params.split(";")
    i = 0
    while i < len(parts):
        part = parts[i]
        i += 1
        if ":" in part:   # ITU sub-parameters: 38:2::r:g:b, 38:5:n, 4:3
            sub = part.split(":")
            p = _int(sub[0])
            if p in (38, 48, 58):
                args = sub[1:]
                if args and args[0] == "2" and len(args) >= 5:
                    args = ["2"] + args[-3:]   # drop the colour space id
                color, _ = _extended_color(args)
                if p != 58:
                    d["fg" if p == 38 else "bg"] = color
            elif p == 4:
                d["underline"] = _int(sub[1] if len(sub) > 1 else "1") != 0
            continue
        p = _int(part)
        if p == 0:
            d = DEFAULT_STYLE._asdict()
        elif p in _FLAG:
            d[_FLAG[p]] = True
        elif p in _UNFLAG:
            for f in _UNFLAG[p]:
                d[f] = False
        elif 30 <= p <= 37:
            d["fg"] = p - 30
        elif 40 <= p <= 47:
            d["bg"] = p - 40
        elif 90 <= p <= 97:
            d["fg"] = p - 90 + 8
        elif 100 <= p <= 107:
            d["bg"] = p - 100 + 8
        elif p == 39:
            d["fg"] = None
        elif p == 49:
            d["bg"] = None
        elif p in (38, 48, 58):
            color, used = _extended_color(parts[i:])
            i += used
            if p != 58:
                d["fg" if p == 38 else "bg"] = color
    return Style(**d)
