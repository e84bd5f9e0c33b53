"""Selections over the emulator's screen (tui/widgets/console_select.py):
copy-mode keys, the text a selection gives (scrollback, wrapped lines, wide
characters, trailing blanks), following the output as it scrolls."""
from tui.vt import Terminal
from tui.widgets.console_select import Selection, copy_mode_key, cursor_span, highlight


def term(text: str, cols=20, rows=5, scrollback=100) -> Terminal:
    t = Terminal(cols, rows, scrollback)
    t.feed(text.encode())
    return t


def keys(sel, *names, page=4):
    out = None
    for k in names:
        out = copy_mode_key(sel, k, k if len(k) == 1 else None, page)
    return out


def test_stream_selection_over_lines_strips_trailing_blanks():
    t = term("one   \r\ntwo\r\nthree")
    sel = Selection(t.screen, 0, 1)
    keys(sel, "v", "j", "j", "l")
    assert sel.text() == "ne\ntwo\nthr"   # both ends included


def test_line_selection_and_end_of_line():
    t = term("alpha beta\r\ngamma\r\n")
    sel = Selection(t.screen, 0, 3)
    keys(sel, "V", "j")
    assert sel.text() == "alpha beta\ngamma"
    sel = Selection(t.screen, 0, 6)
    assert keys(sel, "v", "$", "y") == "copy"
    assert sel.text() == "beta"
    sel = Selection(t.screen, 0, 6)
    keys(sel, "v", "0")
    assert sel.text() == "alpha b"   # backwards: from the start of the line to the anchor


def test_selection_reaches_into_the_scrollback():
    t = term("\r\n".join(f"line{i}" for i in range(30)), rows=5)
    s = t.screen
    assert len(s.scrollback) == 25 and s.display[-1].rstrip() == "line29"
    sel = Selection(s, s.y, 0)
    keys(sel, *["k"] * 10, "v", "j", "j", "$")
    assert sel.row == s.y - 8 and sel.text() == "line19\nline20\nline21"
    keys(sel, "g")
    assert sel.row == -25 and sel.text().startswith("line0\nline1\n")
    keys(sel, "pageup")   # at the top already
    assert sel.row == -25


def test_wrapped_lines_join_without_a_newline():
    t = term("0123456789abcdefghijKLMNO\r\nnext", cols=20)
    sel = Selection(t.screen, 0, 0)
    keys(sel, "v", "j", "j", "$")
    assert sel.text() == "0123456789abcdefghijKLMNO\nnext"


def test_wide_characters_are_copied_once():
    t = term("a中文b", cols=10)
    s = t.screen
    assert s.lines[0].chars[:6] == ["a", "中", "", "文", "", "b"]
    sel = Selection(s, 0, 0)
    keys(sel, "v", "l")          # onto 中: the cursor never rests on a right half
    assert sel.x == 1 and sel.text() == "a中"
    keys(sel, "l")
    assert sel.x == 3 and sel.text() == "a中文"
    assert cursor_span(s.lines[0], 3) == (3, 5) and cursor_span(s.lines[0], 4) == (3, 5)


def test_selection_follows_scrolling_output():
    t = term("first\r\nsecond\r\n", rows=3)
    s = t.screen
    sel = Selection(s, 0, 0)
    keys(sel, "v", "$")
    assert sel.text() == "first"
    t.feed(b"x\r\ny\r\nz\r\n")   # three more lines: "first" is in the scrollback now
    assert sel.shift() == 3
    assert sel.row < 0 and sel.text() == "first"


def test_selection_clamped_when_its_lines_fall_out_of_the_scrollback():
    t = term("keep\r\n", rows=2, scrollback=3)
    sel = Selection(t.screen, 0, 0)
    keys(sel, "v", "$")
    t.feed(b"\r\n".join(b"n%d" % i for i in range(10)))
    sel.shift()
    assert sel.row == -3 and "keep" not in sel.text()


def test_copy_mode_keys_say_what_to_do():
    t = term("x")
    sel = Selection(t.screen, 0, 0)
    assert keys(sel, "escape") == "leave" and keys(sel, "q") == "leave"
    assert keys(sel, "enter") == "copy" and keys(sel, "y") == "copy"
    assert keys(sel, "j") is None and keys(sel, "v") is None and sel.selecting
    keys(sel, "v")
    assert not sel.selecting


def test_highlight_reverses_the_spans():
    t = term("abcdef")
    s = t.screen
    segs = highlight(s, s.lines[0], [(1, 4), (2, 3)])
    assert [(text, st.reverse) for text, st in segs][:4] == [("a", False), ("b", True), ("c", False), ("d", True)]
