"""The jump over a flood of plain lines (tui/vt/jump.py) leaves the same
screen, cursor and scrollback as parsing every byte; the lazy scrollback
(tui/vt/scrollback.py) reads like a deque."""
import random

from tui.vt import Terminal
from tui.vt.scrollback import Scrollback, TextLine


def styled(screen, line) -> list:
    return [(c, screen.styles[sid]) for c, sid in zip(line.chars, line.styles)]


def screens_equal(a: Terminal, b: Terminal) -> None:
    sa, sb = a.screen, b.screen
    assert sa.display == sb.display
    assert [styled(sa, line) for line in sa.lines] == [styled(sb, line) for line in sb.lines]
    assert [line.text for line in sa.scrollback] == [line.text for line in sb.scrollback]
    assert [styled(sa, line) for line in sa.scrollback] == [styled(sb, line) for line in sb.scrollback]
    assert [line.wrapped for line in sa.scrollback] == [line.wrapped for line in sb.scrollback]
    assert (sa.x, sa.y, sa.wrap_pending, sa.last_char, sa.style) == (sb.x, sb.y, sb.wrap_pending, sb.last_char,
                                                                     sb.style)


def test_jump_over_a_flood_leaves_what_parsing_everything_leaves():
    rnd = random.Random(7)
    jumped = 0
    for _ in range(600):
        cols, rows, sb = rnd.randint(2, 30), rnd.randint(1, 8), rnd.choice([0, 3, 40])
        # mostly simple lines (printable, CR LF; empty, short, exactly `cols`, wrapping), now and then
        # something else (a tab, a backspace, a lone CR or LF, a colour, a wide character)
        lines = []
        styles = rnd.random() < 0.4
        for _ in range(rnd.randint(0, 300)):
            n = rnd.choice([0, 1, cols - 1, cols, cols + 1, 2 * cols, rnd.randint(0, 3 * cols)])
            text = "".join(rnd.choice("ab c") for _ in range(n))
            if rnd.random() < 0.03:
                text += rnd.choice(["\t", "\x08", "\r", "\n", "\x1b[32m", "中", "\x1b[2A"])
            if styles:   # colours: the lines can only be skipped, not made
                text = rnd.choice(["", "\x1b[0m", "\x1b[1;31m", "\x1b[m\x1b[44m", "\x1b[38;5;200m"]) + text
                text += rnd.choice(["", "\x1b[0m", "\x1b[7m", "\x1b[0;32;41m", "\x1b[44m\x1b[K", "\x1b[1K"])
            lines.append(text + "\r\n")
        data = "".join(lines).encode()[:rnd.choice([None, -1, -5])]
        before = rnd.choice([b"", b"xyz", b"\x1b[3;4H", b"\x1b[?1049h", b"\x1b[31m\r\n\r\nq", "中".encode()])
        full, jumping = Terminal(cols, rows, sb), Terminal(cols, rows, sb)
        full.feed(before)
        jumping.feed(before)
        full.feed(data)
        # as the console does: a jump, a slice parsed (cut anywhere, even inside CR LF), a jump...
        step, pos = rnd.choice([7, 64, 1000, len(data)]), 0
        while pos < len(data):
            n = jumping.jump(data, pos)
            jumped += n > 0
            pos += n
            jumping.feed(data[pos:pos + step])
            pos += step
        screens_equal(full, jumping)
    assert jumped > 400   # the property was tested on real jumps


def test_styled_flood_is_skipped_down_to_what_stays_visible():
    flood = b"".join(b"\x1b[32mline %d\x1b[0m \x1b[1mbold\x1b[22m\r\n" % i for i in range(400)) + b"\x1b[31mred"
    full, skipping = Terminal(20, 4, 10), Terminal(20, 4, 10)
    full.feed(flood)
    n = skipping.jump(flood)
    assert 0 < n < len(flood) - 14 * 30   # the last rows + scrollback + 1 lines are left to parse
    skipping.feed(flood[n:])
    screens_equal(full, skipping)
    # the data ends inside a sequence (a read cut it): the lines before it are skipped all the same
    for cut in range(1, 12):
        assert Terminal(20, 4, 10).jump(flood[:-cut]) > 0
    # an escape sequence other than SGR in the run: nothing is skipped
    assert Terminal(20, 4, 10).jump(flood.replace(b"line 300", b"\x1b[Hline 300")) == 0


def test_no_jump_over_what_changes_more_than_lines():
    t = Terminal(10, 3, 5)
    flood = b"y\r\n" * 100
    assert t.jump(flood) == len(flood)
    assert t.jump(b"x\r\ny") == 3   # up to the last CR LF
    for extra in (b"\x07", b"\x1b]0;title\x07", "é".encode(), b"\x1b[?1049h"):
        assert Terminal(10, 3, 5).jump(extra + flood) == 0, extra
        t = Terminal(10, 3, 5)
        assert t.jump(flood + extra + flood) == len(flood), extra   # as far as the lines are simple
    partial = Terminal(10, 3, 5)
    partial.feed(b"\x1b[")   # an escape sequence cut by the end of a read
    assert partial.jump(flood) == 0
    region = Terminal(10, 3, 5)
    region.feed(b"\x1b[1;2r")
    assert region.jump(flood) == 0


def test_jump_in_the_alternate_screen_and_without_scrollback():
    for setup, sb in ((b"\x1b[?1049h", 10), (b"", 0)):
        full, jumping = Terminal(8, 3, sb), Terminal(8, 3, sb)
        flood = b"".join(b"line%d\r\n" % i for i in range(50)) + b"tail"
        for t in (full, jumping):
            t.feed(setup)
        full.feed(flood)
        n = jumping.jump(flood)
        assert n == len(flood) - 4
        jumping.feed(flood[n:])
        screens_equal(full, jumping)
        assert len(jumping.screen.scrollback) == 0


def test_scrollback_reads_like_a_deque_and_makes_lines_when_read():
    sb = Scrollback(4)
    from tui.vt.line import Line
    a, b = Line(3), Line(3)
    a.chars[:] = list("aaa")
    sb.append(a)
    sb.add_text([(b"x", False), (b"yy", True)], 3, 0, 0)
    sb.append(b)
    assert len(sb) == 4 and sb._pending   # nothing made yet
    assert [line.text for line in sb] == ["aaa", "x  ", "yy ", "   "]
    assert isinstance(sb[1], TextLine) and sb[2].wrapped and sb[-1] is b
    sb.add_text([(b"%d" % i, False) for i in range(6)], 3, 0, 0)   # more than it keeps: replaces all
    assert len(sb) == 4 and [line.text.strip() for line in sb] == ["2", "3", "4", "5"]
    sb.clear()
    assert len(sb) == 0 and list(sb) == []
    assert len(Scrollback(0)) == 0
