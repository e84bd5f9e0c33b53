"""The byte-stream parser: UTF-8 is decoded incrementally, then one compiled
regex, matched at the current position, takes a run of printable text (a
possessive `[^controls]*+`) and the one control character or escape sequence
after it, told apart by the match's lastindex. The run goes to Screen.draw in
one call (which writes it in slices, a line at a time); the sequence is
dispatched. An escape sequence cut by the end of a feed() is kept for the
next one; UTF-8 cut in the middle of a character is kept by the decoder."""
from __future__ import annotations

import codecs
import re

from .jump import jump as _jump
from .screen import Screen

# one match: a run of printable text (group 1), then one control or sequence
_TOKEN = re.compile(
    r"([^\x00-\x1f\x7f-\x9f]*+)(?:"
    r"\x1b\[([0-9;:]*)m"                               # 2: SGR
    r"|(\r?\n|[\x0b\x0c])"                              # 3: line feeds
    r"|(\r)"                                           # 4: CR
    r"|\x1b\[([0-?]*)([ -/]*)([@-~])"                    # 5-7: CSI params, intermediates, final
    r"|\x1b\]([^\x07\x1b\x9c]*)(?:\x07|\x1b\\|\x9c)"       # 8: OSC, ended by BEL or ST
    r"|(\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c))"           # 9: DCS, SOS, PM, APC: skipped
    r"|\x1b([ -/]*)([0-OQ-WYZ\\`-~])"                  # 10-11: ESC intermediates final
                                                       # (not [ ] P X ^ _, which open strings)
    r"|([\x00-\x1f\x7f-\x9f])"                          # 12: any other control
    r")", re.S)

# an escape sequence that is not finished yet (at the end of the data)
_PARTIAL = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b\x9c]*\x1b?|[PX^_][^\x1b\x9c]*\x1b?|[ -/]*)\Z", re.S)

MAX_PENDING = 1 << 20   # an unterminated OSC/DCS longer than this is dropped


def _ints(params: str) -> list[int]:
    out = []
    for p in params.split(";"):
        if ":" in p:
            p = p.split(":", 1)[0]
        out.append(int(p) if p.isdigit() else 0)
    return out


class Parser:
    """Feeds bytes from a PTY to a Screen."""

    def __init__(self, screen: Screen):
        self.screen = screen
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._decode = self._decoder.decode
        self._pending = ""

    def feed(self, data: bytes) -> None:
        self.feed_text(self._decode(data))

    def jump(self, data: bytes, start: int = 0) -> int:
        """Consumes a flood of plain lines in `data` from `start` without
        parsing it (jump.py); returns the bytes consumed."""
        return _jump(self, data, start)

    def feed_text(self, text: str) -> None:
        if self._pending:
            text = self._pending + text
            self._pending = ""
        if not text:
            return
        s = self.screen
        draw = s.draw
        match = _TOKEN.match
        pos = 0
        n = len(text)
        while True:
            m = match(text, pos)
            if m is None:
                if pos < n:
                    draw(text[pos:])
                return
            run = m.group(1)
            if run:
                draw(run)
            pos = m.end()
            k = m.lastindex
            if k == 2:      # SGR, the commonest sequence
                s.select_graphic_rendition(m.group(2))
            elif k == 3:    # LF, CR LF, VT, FF
                if m.group(3) == "\r\n":
                    s.x = 0
                s.linefeed()
            elif k == 4:    # CR
                s.x = 0
                s.wrap_pending = False
            elif k == 7:    # CSI
                self._csi(m.group(5), m.group(6), m.group(7))
            elif k == 8:    # OSC
                s.osc(m.group(8))
            elif k == 11:   # ESC
                self._esc(m.group(10), m.group(11))
            elif k == 12:   # other controls, and an ESC that begins no complete sequence
                c = m.group(12)
                if c == "\x1b":
                    if _PARTIAL.match(text, pos - 1):
                        if n - pos < MAX_PENDING:
                            self._pending = text[pos - 1:]
                        return
                    # a broken sequence: the ESC is dropped
                elif c == "\x08":
                    s.backspace()
                elif c == "\t":
                    s.tab()
                elif c == "\x07":
                    s.bell()
                # other C0/C1 controls (SO, SI, NUL, ...) are ignored
            # k == 9: DCS, SOS, PM, APC: skipped

    # -- ESC ------------------------------------------------------------------

    def _esc(self, inter: str, final: str) -> None:
        s = self.screen
        if not inter:
            if final == "7":
                s.save_cursor()
            elif final == "8":
                s.restore_cursor()
            elif final == "D":
                s.index()
            elif final == "E":
                s.next_line()
            elif final == "M":
                s.reverse_index()
            elif final == "H":
                s.set_tab_stop()
            elif final == "c":
                s.reset()
            elif final == "=":
                s.app_keypad = True
            elif final == ">":
                s.app_keypad = False
        elif inter == "(":
            s.g0_graphics = final == "0"
        elif inter == "#" and final == "8":
            s.alignment_test()

    # -- CSI ------------------------------------------------------------------

    def _csi(self, params: str, inter: str, final: str) -> None:
        s = self.screen
        private = ""
        if params and params[0] in "<=>?":
            private, params = params[0], params[1:]
        if inter:
            if inter == " " and final == "q":
                s.cursor_shape = _ints(params)[0]
            return   # DECSTR (!p), DECRQM ($p), ...: not needed
        args = _ints(params)
        a = args[0]
        if private == "?":
            if final == "h":
                s.set_mode(args, True, True)
            elif final == "l":
                s.set_mode(args, True, False)
            return
        if private == ">":
            if final == "c":
                s.report("da2")
            return
        if private:
            return
        if final == "H" or final == "f":
            s.cursor_position(a, args[1] if len(args) > 1 else 1)
        elif final == "A":
            s.cursor_up(a)
        elif final == "B" or final == "e":
            s.cursor_down(a)
        elif final == "C" or final == "a":
            s.cursor_forward(a)
        elif final == "D":
            s.cursor_back(a)
        elif final == "E":
            s.cursor_down(a)
            s.x = 0
        elif final == "F":
            s.cursor_up(a)
            s.x = 0
        elif final == "G" or final == "`":
            s.cursor_to_column(a)
        elif final == "d":
            s.cursor_to_row(a)
        elif final == "J":
            s.erase_in_display(a)
        elif final == "K":
            s.erase_in_line(a)
        elif final == "X":
            s.erase_chars(a)
        elif final == "@":
            s.insert_chars(a)
        elif final == "P":
            s.delete_chars(a)
        elif final == "L":
            s.insert_lines(a)
        elif final == "M":
            s.delete_lines(a)
        elif final == "S":
            s.scroll_up(max(1, a))
        elif final == "T":
            s.scroll_down(max(1, a))
        elif final == "r":
            s.set_margins(a, args[1] if len(args) > 1 else 0)
        elif final == "I":
            s.tab(max(1, a))
        elif final == "Z":
            s.back_tab(max(1, a))
        elif final == "g":
            s.clear_tab_stop(a)
        elif final == "b":
            s.repeat_last(max(1, a))
        elif final == "h":
            s.set_mode(args, False, True)
        elif final == "l":
            s.set_mode(args, False, False)
        elif final == "s":
            s.save_cursor()
        elif final == "u":
            s.restore_cursor()
        elif final == "n":
            if a == 5:
                s.report("status")
            elif a == 6:
                s.report("cursor")
        elif final == "c" and a == 0:
            s.report("da1")


class Terminal:
    """A Screen and its Parser together."""

    def __init__(self, cols: int = 80, rows: int = 24, scrollback: int = 1000):
        self.screen = Screen(cols, rows, scrollback)
        self.parser = Parser(self.screen)

    def feed(self, data: bytes) -> None:
        self.parser.feed(data)

    def jump(self, data: bytes, start: int = 0) -> int:
        """Consumes a flood of plain lines in `data` from `start` at once
        (jump.py): the same screen and scrollback as feed(), far faster.
        Returns how many bytes it took; feed() the rest."""
        return self.parser.jump(data, start)
