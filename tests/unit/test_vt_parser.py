"""tui.vt parser: sequences split across feeds, UTF-8, and screens compared
with pyte's where pyte is right."""
import random

import pytest

from tui.vt import Terminal

SAMPLE = ("\x1b[?1049h\x1b[1;1H\x1b[2Jtitle \x1b[1;38;5;208mbold\x1b[0m\r\n"
          "中文 and 🐳 and é\u0301\r\n\x1b]0;my title\x07\x1b]52;c;aGk=\x1b\\"
          "\x1b[3;5H\x1b[48;2;1;2;3mX\x1b[K\x1b[?1h\x1b[?2004h\x1bPq#0\x1b\\"
          "\x1b(0lqk\x1b(B\x1b[2;4r\x1b[4;1H\n\nscrolled\x1b[r\x1b7\x1b[5;1Hend\x1b8*"
          "\x1b[?1049l after\r\nlast line that wraps around the edge")


def snapshot(t):
    s = t.screen
    return (s.display, [l.styles[:] for l in s.lines], s.x, s.y, s.wrap_pending, s.title,
            s.clipboard, s.app_cursor, s.bracketed_paste, [l.text for l in s.scrollback],
            [s.styles[i] for l in s.lines for i in l.styles])


def run(chunks, cols=20, rows=6):
    t = Terminal(cols, rows, 50)
    for c in chunks:
        t.feed(c)
    return t


def test_sample_in_one_feed_is_sane():
    t = run([SAMPLE.encode()])
    s = t.screen
    assert s.title == "my title" and s.clipboard == [("c", "hi")]
    assert s.app_cursor and s.bracketed_paste and not s.in_alternate
    assert s.display[0].startswith(" after")


@pytest.mark.parametrize("cut", range(len(SAMPLE.encode()) + 1))
def test_split_at_every_byte_offset(cut):
    data = SAMPLE.encode()
    assert snapshot(run([data[:cut], data[cut:]])) == snapshot(run([data]))


def test_fed_byte_by_byte():
    data = SAMPLE.encode()
    assert snapshot(run([data[i:i + 1] for i in range(len(data))])) == snapshot(run([data]))


def test_random_splits():
    data = SAMPLE.encode() * 3
    whole = snapshot(run([data]))
    rnd = random.Random(7)
    for _ in range(50):
        cuts = sorted(rnd.sample(range(1, len(data)), 8))
        parts = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]
        assert snapshot(run(parts)) == whole


def test_invalid_utf8_is_replaced():
    t = run([b"a\xffb"])
    assert t.screen.display[0].startswith("a\ufffdb")


def test_broken_escape_is_dropped():
    t = run([b"a\x1b\x07b"])
    assert t.screen.display[0].startswith("ab")


def test_osc_split_across_feeds():
    t = run([b"\x1b]2;par", b"tial ti", b"tle\x1b", b"\\x"])
    assert t.screen.title == "partial title" and t.screen.display[0].startswith("x")


def test_unterminated_osc_waits():
    t = run([b"\x1b]2;never ends"])
    assert t.screen.display[0].strip() == "" and t.screen.title == ""


def test_crlf_split_between_feeds():
    t = run([b"abc\r", b"\ndef"])
    assert t.screen.display[:2] == ["abc".ljust(20), "def".ljust(20)]


# -- against pyte ----------------------------------------------------------------

pyte = pytest.importorskip("pyte")


def pyte_screen(data, cols, rows):
    screen = pyte.Screen(cols, rows)
    pyte.ByteStream(screen).feed(data)
    return screen


PYTE_CASES = [
    b"hello world\r\nsecond line\r\n" * 5,
    b"".join(b"line %d with some text that is long enough to wrap over\r\n" % i for i in range(40)),
    b"abc\x08\x08X\tY\r\nq\x1b[2;5HZ\x1b[K\x1b[1;1H\x1b[2P\x1b[3@",
    b"\x1b[1;31mred\x1b[0m \x1b[42mgreen bg\x1b[m \x1b[1;4mbu\x1b[22;24m plain",
    b"\x1b[3;3Hmid\x1b[J\x1b[1;1Htop\x1b[2;1H\x1b[L\x1b[M",
    "wide 中文 chars\r\n".encode(),
]


def pyte_colour(c):
    names = ["black", "red", "green", "brown", "blue", "magenta", "cyan", "white"]
    if c == "default":
        return None
    return names.index(c) if c in names else c


@pytest.mark.parametrize("data", PYTE_CASES)
def test_same_screen_as_pyte(data):
    cols, rows = 30, 8
    ours = run([data], cols, rows).screen
    theirs = pyte_screen(data, cols, rows)
    assert ours.display == theirs.display
    assert (ours.x, ours.y) == (theirs.cursor.x, theirs.cursor.y) or ours.wrap_pending
    for y in range(rows):
        for x in range(cols):
            a = ours.styles[ours.lines[y].styles[x]]
            b = theirs.buffer[y][x]
            if ours.lines[y].chars[x].strip():
                assert (a.fg, a.bg, a.bold, a.underline) == (
                    pyte_colour(b.fg), pyte_colour(b.bg), b.bold, b.underscore), (x, y)


def test_fuzz_never_raises_and_keeps_invariants():
    rnd = random.Random(11)
    pieces = [b"\x1b[", b"\x1b]", b"\x1bP", b"\x1b", b";", b"?", b"1049", b"999999999", b"h", b"l",
              b"m", b"H", b"J", b"K", b"L", b"M", b"@", b"P", b"X", b"r", b"I", b"Z", b"b", b"S",
              b"T", b"\x07", b"\x1b\\", b"\r", b"\n", b"\t", b"\x08", "中🐳é\u0301".encode(),
              b"abc", b"\xff", b"\xe4\xb8", b"38;5;", b"38;2;1;2;3", b"(0", b"#8", b"7", b"8"]
    for _ in range(30):
        t = Terminal(rnd.randint(1, 15), rnd.randint(1, 6), 5)
        data = b"".join(rnd.choice(pieces) for _ in range(400))
        for i in range(0, len(data), 37):
            t.feed(data[i:i + 37])
            if rnd.random() < 0.05:
                t.screen.resize(rnd.randint(1, 15), rnd.randint(1, 6))
        s = t.screen
        assert 0 <= s.x < s.cols and 0 <= s.y < s.rows
        for buf in (s.primary, s.alternate):
            assert len(buf) == s.rows
            assert all(len(l.chars) == s.cols == len(l.styles) for l in buf)
        for l in s.primary + s.alternate:   # a continuation cell always follows a wide char
            for x, c in enumerate(l.chars):
                if c == "":
                    assert x > 0 and l.chars[x - 1] not in ("", " ")
