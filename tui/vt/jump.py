"""Jump scroll (xterm's name), taken further: a flood of plain lines (`yes`,
`cat` of a log) is turned into screen and scrollback lines without the
parser, and only the lines that can still be seen are made.

Parsing costs a few microseconds a line whatever its length, so a flood of
short lines (`yes`: 400,000 a second through a PTY) is more than the parser
keeps up with, and the queue it leaves is what a typed key's echo waits
behind. Here a run of *simple* lines (printable ASCII, each ended by CR LF)
that starts at the beginning of a blank bottom line of a full-screen scroll
region is applied at once: every such line is drawn on the bottom line and
scrolled up, so the end state is known without drawing anything: the screen
holds the last rows-1 lines above a blank one, the scrollback the lines
before them (as many as it keeps), the cursor is at the start of the bottom
line. Lines beyond what the screen and the scrollback hold are only counted.

Lines with colours (SGR sequences; also erases to the end of the line as GNU
grep writes them, tabs, backspaces, lone CRs) cannot be
made without parsing them, but most of a flood of them need not be: all but
the last rows + scrollback + 1 lines are skipped, having computed what they
leave behind: the pen (only the SGRs after the last reset matter), the
cursor at the start of the bottom line. Parsing the lines kept then writes
every line of the screen and the scrollback anew.

Either way the result is the parser's, cell for cell and style for style
(tests/unit/test_vt_jump.py checks it against the parser on random input)."""
from __future__ import annotations

import re
from itertools import repeat

from .screen import Line, Screen

_SIMPLE = bytes(range(0x20, 0x7f)) + b"\r\n"
_OTHER = re.compile(rb"[^\x20-\x7e\r\n]")          # ends a run of simple lines ...
_LONE = re.compile(rb"\r(?!\n)|(?<!\r)\n")         # ... and so does a CR or LF not in a CR LF (slow: rare)
_STYLED = bytes(range(0x20, 0x7f)) + b"\r\n\t\x08\x1b"
_NOT_STYLED = re.compile(rb"[^\x20-\x7e\r\n\t\x08\x1b]")
_SGR = re.compile(rb"\x1b\[([0-9;:]*)m")
_SGR_EL = re.compile(rb"\x1b\[[0-9;:]*[mK]")
_SGR_RESETS = (b"\x1b[m", b"\x1b[0m", b"\x1b[0;", b"\x1b[;")
_SGR_MAX = 10000   # SGRs to apply when the skipped part never resets the pen


def _simple_end(data: bytes, start: int) -> int:
    """Where the run of simple lines from `start` ends (after its last CR LF)."""
    head = data[start:start + 4096]   # most often the answer is near: look there first
    if head.translate(None, _SIMPLE):
        end = start + _OTHER.search(head).start()
    else:
        m = _OTHER.search(data, start) if data[start:].translate(None, _SIMPLE) else None
        end = m.start() if m else len(data)
    crlf = data.count(b"\r\n", start, end)
    if crlf != data.count(b"\r", start, end) or crlf != data.count(b"\n", start, end):
        m = _LONE.search(data, start, end)
        if m:
            end = m.start()
    return data.rfind(b"\r\n", start, end) + 2


def jump(parser, data: bytes, start: int = 0) -> int:
    """Consumes the longest run of simple lines of `data` from `start` (after
    parsing the few lines needed to get to the start of a blank bottom line),
    or else skips the part of a run of styled lines that would scroll out of
    the scrollback; returns how many bytes were consumed, 0 when nothing
    could be."""
    s: Screen = parser.screen
    if parser._pending or parser._decoder.getstate()[0] or s.top != 0 or s.bottom != s.rows - 1:
        return 0
    return _jump_simple(parser, data, start) or _skip_styled(s, data, start)


def _skip_styled(s: Screen, data: bytes, start: int) -> int:
    """Skips all but the last rows + scrollback + 1 lines of a run of lines
    whose only escape sequences are SGRs and ELs (which change nothing a line
    that scrolls away leaves behind but the pen); returns the bytes skipped."""
    keep = s.rows + (0 if s.in_alternate else s.scrollback_max) + 1
    m = _NOT_STYLED.search(data, start)
    end = m.start() if m else len(data)
    esc = data.rfind(b"\x1b", start, end)
    if esc >= 0 and not _SGR_EL.match(data, esc, end):
        end = esc   # a sequence cut by the end of the data (or not ours): the run stops before it
    if data.count(b"\n", start, end) <= keep + s.rows:
        return 0
    q = end
    for _ in range(keep):   # the keep-th line feed from the run's end
        q = data.rfind(b"\n", start, q)
        if q < 0:
            return 0
    cut = data.rfind(b"\r\n", start, q) + 2
    if cut < start + 2:
        return 0
    squeezed = data[start:end].translate(None, b"0123456789;:")
    if squeezed.count(b"\x1b") != squeezed.count(b"\x1b[m") + squeezed.count(b"\x1b[K"):
        return 0   # an escape sequence other than SGR or EL: the kept lines might not just scroll
    skipped = data[start:cut]
    lfs = skipped.count(b"\n")
    if lfs < s.rows:
        return 0
    reset = max(skipped.rfind(r) for r in _SGR_RESETS)
    if reset < 0 and skipped.count(b"\x1b") > _SGR_MAX:
        return 0
    for sgr in _SGR.finditer(skipped, max(reset, 0)):
        s.select_graphic_rendition(sgr.group(1).decode())
    # after the last CR LF, having scrolled: column 0 of the bottom line
    s.x, s.y, s.wrap_pending = 0, s.bottom, False
    last = _SGR_EL.sub(b"", skipped[-512:]).translate(None, b"\r\n\t\x08")[-1:]
    if last:
        s.last_char = chr(last[0])
    s.scrolled += lfs
    s.dirty.update(range(s.rows))
    return cut - start


def _jump_simple(parser, data: bytes, start: int) -> int:
    s: Screen = parser.screen
    if s.insert or s.g0_graphics or not s.autowrap or data.startswith(b"\n", start):
        return 0   # (an LF whose CR was parsed already: the parser takes it)
    end = _simple_end(data, start)
    if end < start + 2:
        return 0
    pos = start
    for _ in range(s.rows + 1):   # parse lines until the cursor starts a blank bottom line
        if _at_fresh_bottom(s):
            break
        nl = data.find(b"\r\n", pos, end)
        if nl < 0:
            return pos - start
        parser.feed(data[pos:nl + 2])
        pos = nl + 2
    else:
        return pos - start
    if pos < end:
        _apply_lines(s, data[pos:end - 2])
    return end - start


def _at_fresh_bottom(s: Screen) -> bool:
    if s.x or s.wrap_pending or s.y != s.bottom:
        return False
    line = s.lines[s.y]
    n = len(line.chars)
    return not line.wrapped and line.chars.count(" ") == n and line.styles.count(s._erase_id()) == n


def _apply_lines(s: Screen, region: bytes) -> None:
    """`region`: simple lines joined by CR LF (the last CR LF left out), to be
    drawn at the start of the blank bottom line, each followed by CR LF."""
    cols, rows = s.cols, s.rows
    keep = (0 if s.in_alternate else s.scrollback_max) + rows   # rows that can still be seen
    total = region.count(b"\r\n") + 1
    parts = region.rsplit(b"\r\n", keep)
    if len(parts) > keep:
        parts = parts[1:]
    extra = 0                             # rows made by wrapping
    if max(map(len, parts)) <= cols:      # the common case: one row a line
        made = list(zip(parts, repeat(False)))
    else:
        made = []                         # (text, wrapped) of the rows, last first
        for p in reversed(parts):
            if len(p) <= cols:
                made.append((p, False))
            else:
                chunks = [p[i:i + cols] for i in range(0, len(p), cols)]
                extra += len(chunks) - 1
                made.append((chunks.pop(), False))
                made += [(c, True) for c in reversed(chunks)]
            if len(made) >= keep:
                break
        del made[keep:]
        made.reverse()
    sid, erase = s.style_id, s._erase_id()

    def make(text: bytes, wrapped: bool) -> Line:
        line = Line.__new__(Line)
        n = len(text)
        line.chars = list(text.decode("ascii")) + [" "] * (cols - n)
        line.styles = [sid] * n + [erase] * (cols - n)
        line.wrapped = wrapped
        return line

    # In order: the lines above the cursor, then the new rows. The last rows-1
    # of them stay on the screen above a new blank line; the others scroll off.
    old = s.lines[:s.bottom]
    gone = len(old) + len(made) - (rows - 1)
    gone_old, gone_new = old[:min(gone, len(old))], made[:max(0, gone - len(old))]
    stay_old, stay_new = old[len(gone_old):], made[len(gone_new):]
    if not s.in_alternate and s.scrollback_max > 0:
        if len(gone_new) < s.scrollback_max:
            s.scrollback.extend(gone_old[-s.scrollback_max:])
        s.scrollback.add_text(gone_new, cols, sid, erase)   # made into lines only if read
    s.lines[:] = stay_old + [make(*z) for z in stay_new] + [Line(cols, erase)]
    s.scrolled += total + extra
    last = region.rstrip(b"\r\n")[-1:]
    if last:
        s.last_char = last.decode()
    s.dirty.update(range(rows))
