"""The input side: key presses, pastes and mouse events encoded as xterm
sends them to the program, following the modes the program set (DECCKM,
bracketed paste, mouse tracking). Key names follow Textual's ("up",
"ctrl+a", "shift+tab", "f5", "pageup"), without importing it."""
from __future__ import annotations

CSI = "\x1b["
SS3 = "\x1bO"

# cursor keys: final byte; SS3 in application mode, CSI otherwise
_CURSOR = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
# keys sent as CSI n ~
_TILDE = {"insert": 2, "delete": 3, "pageup": 5, "pagedown": 6, "page_up": 5, "page_down": 6,
          "f5": 15, "f6": 17, "f7": 18, "f8": 19, "f9": 20, "f10": 21, "f11": 23, "f12": 24}
_SS3_F = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
_SIMPLE = {"enter": "\r", "return": "\r", "tab": "\t", "escape": "\x1b", "esc": "\x1b",
           "backspace": "\x7f", "space": " ", "shift+tab": CSI + "Z", "backtab": CSI + "Z",
           "ctrl+backspace": "\x08", "ctrl+h": "\x08", "ctrl+space": "\x00", "ctrl+@": "\x00",
           "ctrl+[": "\x1b", "ctrl+\\": "\x1c", "ctrl+]": "\x1d", "ctrl+^": "\x1e",
           "ctrl+_": "\x1f", "ctrl+?": "\x7f", "shift+enter": "\r"}


def _mods(parts: list[str]) -> int:
    """xterm's modifier parameter: 1 + shift + 2*alt + 4*ctrl."""
    return 1 + ("shift" in parts) + 2 * ("alt" in parts or "meta" in parts) + 4 * ("ctrl" in parts)


def encode_key(key: str, char: str | None = None, *, app_cursor: bool = False) -> bytes:
    """The bytes for a key press: `key` is the key's name, `char` the text it
    types if any (used when the name is not a special key)."""
    simple = _SIMPLE.get(key)
    if simple is not None:
        return simple.encode()
    *mods, base = key.split("+") if key != "+" else ["+"]
    if base == "" and key.endswith("+"):   # "ctrl++"
        base = "+"
    m = _mods(mods)
    if base in _CURSOR:
        f = _CURSOR[base]
        if m > 1:
            return f"{CSI}1;{m}{f}".encode()
        return ((SS3 if app_cursor else CSI) + f).encode()
    if base in _TILDE:
        n = _TILDE[base]
        return (f"{CSI}{n};{m}~" if m > 1 else f"{CSI}{n}~").encode()
    if base in _SS3_F:
        f = _SS3_F[base]
        return (f"{CSI}1;{m}{f}" if m > 1 else SS3 + f).encode()
    alt = "alt" in mods or "meta" in mods
    ctrl = "ctrl" in mods
    if mods and set(mods) <= {"alt", "meta", "shift", "ctrl"}:
        rest = "+".join([p for p in mods if p not in ("alt", "meta")] + [base])
        if alt:
            return b"\x1b" + encode_key(rest, char if char and len(char) == 1 else None,
                                        app_cursor=app_cursor)
        if ctrl and len(base) == 1:
            c = base.lower()
            if "a" <= c <= "z":
                return bytes([ord(c) & 0x1F])
            if c in "@[\\]^_ ":
                return _SIMPLE.get("ctrl+" + c, "\x00").encode()
            if "2" <= c <= "8":   # xterm's ctrl+2..8
                return "\x00\x1b\x1c\x1d\x1e\x1f\x7f"[ord(c) - ord("2")].encode()
    if char:
        return char.encode()
    if len(base) == 1:
        return (base.upper() if "shift" in mods else base).encode()
    return b""


PASTE_START = b"\x1b[200~"
PASTE_END = b"\x1b[201~"


def encode_paste(text: str, bracketed: bool) -> bytes:
    """Pasted text as a terminal sends it: line breaks as CR; inside
    ESC[200~ ... ESC[201~ when the program turned on bracketed paste (and any
    end marker inside the text removed, so a paste cannot break out)."""
    data = text.replace("\r\n", "\r").replace("\n", "\r").encode()
    if not bracketed:
        return data
    while PASTE_END in data or PASTE_START in data:
        data = data.replace(PASTE_END, b"").replace(PASTE_START, b"")
    return PASTE_START + data + PASTE_END


BUTTONS = {"left": 0, "middle": 1, "right": 2}


def encode_mouse(kind: str, x: int, y: int, button: str | None = "left", *,
                 mode: int, sgr: bool, shift: bool = False, alt: bool = False,
                 ctrl: bool = False) -> bytes:
    """A mouse report at cell (x, y), 0-based, or b"" when the program's mouse
    mode does not ask for it. kind: press, release, motion, wheel_up,
    wheel_down. mode: 0, 9, 1000, 1002 or 1003 (Screen.mouse_mode); sgr:
    Screen.mouse_sgr (1006)."""
    if not mode:
        return b""
    if kind in ("wheel_up", "wheel_down"):
        if mode == 9:
            return b""
        b = 64 if kind == "wheel_up" else 65
    elif kind == "motion":
        if mode == 1003 or (mode == 1002 and button is not None):
            b = 32 + (BUTTONS.get(button, 3) if button is not None else 3)
        else:
            return b""
    elif kind in ("press", "release"):
        if kind == "release" and mode == 9:
            return b""
        b = BUTTONS.get(button or "left", 0)
    else:
        raise ValueError(f"unknown mouse event {kind!r}")
    if mode != 9:
        b += 4 * shift + 8 * alt + 16 * ctrl
    if sgr:
        return f"\x1b[<{b};{x + 1};{y + 1}{'m' if kind == 'release' else 'M'}".encode()
    if kind == "release":
        b = 3 + (b & ~3)
    if x + 1 > 223 or y + 1 > 223:
        return b""   # not representable in the legacy encoding
    return b"\x1b[M" + bytes([32 + b, 33 + x, 33 + y])
