"""tui.vt screen model, driven through the parser with escape sequences."""
import pytest

from tui.vt import Style, Terminal, render_line


def term(cols=10, rows=5, scrollback=100):
    return Terminal(cols, rows, scrollback)


def feed(t, s):
    t.feed(s.encode() if isinstance(s, str) else s)
    return t.screen


def rows(screen):
    return [r.rstrip() for r in screen.display]


# -- printing, cursor ------------------------------------------------------------

def test_plain_text_and_crlf():
    s = feed(term(), "hello\r\nworld")
    assert rows(s)[:2] == ["hello", "world"]
    assert (s.x, s.y) == (5, 1)


def test_lf_keeps_column():
    s = feed(term(), "ab\ncd")
    assert rows(s)[:2] == ["ab", "  cd"]


def test_cursor_position_and_moves():
    s = feed(term(), "\x1b[3;4HX")
    assert s.lines[2].chars[3] == "X"
    feed(term(), "")
    s = feed(term(), "\x1b[3;4H\x1b[2A\x1b[3C\x1b[1BY")
    assert (s.y, s.lines[1].chars[6]) == (1, "Y")
    s = feed(term(), "\x1b[5;5H\x1b[2DZ")
    assert s.lines[4].chars[2] == "Z"


def test_cursor_moves_clamp():
    s = feed(term(), "\x1b[99;99H")
    assert (s.x, s.y) == (9, 4)
    feed(t := term(), "\x1b[99A\x1b[99D")
    assert (t.screen.x, t.screen.y) == (0, 0)


def test_cha_vpa_cnl_cpl():
    s = feed(term(), "\x1b[5G\x1b[3d")
    assert (s.x, s.y) == (4, 2)
    feed_t = term()
    s = feed(feed_t, "\x1b[3;5H\x1b[E")
    assert (s.x, s.y) == (0, 3)
    s = feed(feed_t, "\x1b[3;5H\x1b[2F")
    assert (s.x, s.y) == (0, 0)


def test_backspace_and_cr():
    s = feed(term(), "abc\x08\x08X\rY")
    assert rows(s)[0] == "YXc"


def test_tabs_every_8():
    s = feed(term(20, 2), "a\tb\tc\td")
    assert s.lines[0].chars[8] == "b" and s.lines[0].chars[16] == "c"
    assert s.lines[0].chars[19] == "d"   # the last tab stops at the last column


def test_tab_stops_set_and_clear():
    s = feed(term(20, 2), "\x1b[3G\x1bH\x1b[1G\tX")
    assert s.lines[0].chars[2] == "X"
    s = feed(term(20, 2), "\x1b[3g\tX")
    assert s.lines[0].chars[19] == "X"
    s = feed(term(20, 2), "\x1b[20G\x1b[ZX")
    assert s.lines[0].chars[16] == "X"


def test_bell_and_ignored_controls():
    s = feed(term(), "a\x07\x0e\x0fb\x00c")
    assert rows(s)[0] == "abc" and s.bells == 1


# -- autowrap ------------------------------------------------------------------

def test_autowrap_pending_at_last_column():
    s = feed(term(5, 3), "abcde")
    assert (s.x, s.y, s.wrap_pending) == (4, 0, True)
    assert rows(s) == ["abcde", "", ""]
    feed_t = term(5, 3)
    s = feed(feed_t, "abcdef")
    assert rows(s) == ["abcde", "f", ""]
    assert s.lines[0].wrapped


def test_pending_wrap_cleared_by_cr_and_cursor_move():
    s = feed(term(5, 3), "abcde\rX")
    assert rows(s) == ["Xbcde", "", ""]
    s = feed(term(5, 3), "abcde\x1b[DX")
    assert rows(s) == ["abcXe", "", ""]


def test_pending_wrap_then_crlf_gives_no_blank_line():
    s = feed(term(5, 3), "abcde\r\nfg")
    assert rows(s) == ["abcde", "fg", ""]


def test_long_text_wraps_over_lines():
    s = feed(term(4, 4), "abcdefghij")
    assert rows(s) == ["abcd", "efgh", "ij", ""]


def test_no_autowrap_overwrites_last_column():
    s = feed(term(5, 3), "\x1b[?7labcdefgh")
    assert rows(s) == ["abcdh", "", ""]
    assert s.y == 0


# -- erase, insert, delete ---------------------------------------------------------

def test_erase_in_line():
    base = "abcdefghij\x1b[1;5H"
    assert rows(feed(term(), base + "\x1b[K"))[0] == "abcd"
    assert rows(feed(term(), base + "\x1b[1K"))[0] == "     fghij"
    assert rows(feed(term(), base + "\x1b[2K"))[0] == ""


def test_erase_in_display():
    fill = "".join(f"\x1b[{r};1H{str(r) * 10}" for r in range(1, 6))
    s = feed(term(), fill + "\x1b[3;5H\x1b[J")
    assert rows(s) == ["1" * 10, "2" * 10, "3333", "", ""]
    s = feed(term(), fill + "\x1b[3;5H\x1b[1J")
    assert rows(s) == ["", "", "     33333", "4" * 10, "5" * 10]
    s = feed(term(), fill + "\x1b[2J")
    assert rows(s) == [""] * 5


def test_ed3_clears_scrollback():
    s = feed(term(10, 2), "1\r\n2\r\n3\r\n4")
    assert len(s.scrollback) == 2
    feed_t = s
    from tui.vt import Parser
    Parser(feed_t).feed(b"\x1b[3J")
    assert len(s.scrollback) == 0


def test_erase_uses_current_background():
    s = feed(term(), "\x1b[41m\x1b[2K")
    assert all(s.styles[i].bg == 1 for i in s.lines[0].styles)
    assert s.styles[s.lines[0].styles[0]].bold is False


def test_erase_chars():
    s = feed(term(), "abcdefghij\x1b[1;3H\x1b[3X")
    assert rows(s)[0] == "ab   fghij"


def test_insert_and_delete_chars():
    s = feed(term(), "abcdef\x1b[1;3H\x1b[2@")
    assert rows(s)[0] == "ab  cdef"
    s = feed(term(), "abcdef\x1b[1;3H\x1b[2P")
    assert rows(s)[0] == "abef"


def test_insert_chars_push_off_the_edge():
    s = feed(term(5, 1), "abcde\x1b[1;1H\x1b[2@")
    assert rows(s)[0] == "  abc"


def test_insert_mode():
    s = feed(term(), "abc\x1b[1;2H\x1b[4hXY\x1b[4lZ")
    assert rows(s)[0] == "aXYZc"


def test_insert_and_delete_lines():
    fill = "".join(f"\x1b[{r};1H{r}" for r in range(1, 6))
    s = feed(term(), fill + "\x1b[2;3H\x1b[2L")
    assert rows(s) == ["1", "", "", "2", "3"]
    assert s.x == 0
    s = feed(term(), fill + "\x1b[2;1H\x1b[2M")
    assert rows(s) == ["1", "4", "5", "", ""]


def test_insert_lines_inside_region_only():
    fill = "".join(f"\x1b[{r};1H{r}" for r in range(1, 6))
    s = feed(term(), fill + "\x1b[2;4r\x1b[3;1H\x1b[L")
    assert rows(s) == ["1", "2", "", "3", "5"]
    s = feed(term(), fill + "\x1b[2;4r\x1b[5;1H\x1b[L")   # outside: nothing
    assert rows(s) == ["1", "2", "3", "4", "5"]


def test_repeat_last_char():
    s = feed(term(), "x\x1b[3b")
    assert rows(s)[0] == "xxxx"


def test_decaln():
    s = feed(term(3, 2), "\x1b#8")
    assert rows(s) == ["EEE", "EEE"]


# -- SGR -----------------------------------------------------------------------

def style_at(s, x, y):
    return s.styles[s.lines[y].styles[x]]


def test_sgr_16_colours_and_attributes():
    s = feed(term(), "\x1b[1;3;4;31;42mA\x1b[0mB\x1b[91;104mC\x1b[2;7;9mD")
    assert style_at(s, 0, 0) == Style(fg=1, bg=2, bold=True, italic=True, underline=True)
    assert style_at(s, 1, 0) == Style()
    assert style_at(s, 2, 0) == Style(fg=9, bg=12)
    assert style_at(s, 3, 0) == Style(fg=9, bg=12, dim=True, reverse=True, strike=True)


def test_sgr_256_and_truecolour():
    s = feed(term(), "\x1b[38;5;208;48;5;17mA\x1b[38;2;255;128;0mB\x1b[48:2::1:2:3mC\x1b[38:5:99mD")
    assert style_at(s, 0, 0).fg == 208 and style_at(s, 0, 0).bg == 17
    assert style_at(s, 1, 0).fg == "#ff8000" and style_at(s, 1, 0).bg == 17
    assert style_at(s, 2, 0).bg == "#010203"
    assert style_at(s, 3, 0).fg == 99


def test_sgr_resets():
    s = feed(term(), "\x1b[1;2;3;4;7;9;31;41m\x1b[22;23;24;27;29;39;49mA")
    assert style_at(s, 0, 0) == Style()
    s = feed(term(), "\x1b[1;31mA\x1b[mB")
    assert style_at(s, 1, 0) == Style()


def test_style_ids_are_interned():
    s = feed(term(), "\x1b[31mA\x1b[0m\x1b[31mB")
    assert s.lines[0].styles[0] == s.lines[0].styles[1]


# -- scroll region, scrollback --------------------------------------------------

def test_scroll_region():
    fill = "".join(f"\x1b[{r};1H{r}" for r in range(1, 6))
    s = feed(term(), fill + "\x1b[2;4r")
    assert (s.top, s.bottom, s.x, s.y) == (1, 3, 0, 0)
    feed(t := term(), fill + "\x1b[2;4r\x1b[4;1H\nX")
    assert rows(t.screen) == ["1", "3", "4", "X", "5"]
    assert len(t.screen.scrollback) == 0   # not the top of the screen: nothing saved


def test_reverse_index_scrolls_down_at_top():
    fill = "".join(f"\x1b[{r};1H{r}" for r in range(1, 6))
    s = feed(term(), fill + "\x1b[2;4r\x1b[2;1H\x1bMX")
    assert rows(s) == ["1", "X", "2", "3", "5"]


def test_su_sd():
    fill = "".join(f"\x1b[{r};1H{r}" for r in range(1, 6))
    assert rows(feed(term(), fill + "\x1b[2S")) == ["3", "4", "5", "", ""]
    assert rows(feed(term(), fill + "\x1b[2T")) == ["", "", "1", "2", "3"]


def test_origin_mode():
    s = feed(term(), "\x1b[2;4r\x1b[?6h\x1b[1;1HA\x1b[9;1HB")
    assert rows(s) == ["", "A", "", "B", ""]
    s.responses.clear()
    feed(t := term(), "\x1b[2;4r\x1b[?6h\x1b[2;3H\x1b[6n")
    assert t.screen.responses == [b"\x1b[2;3R"]


def test_scrollback_gets_lines_scrolled_off():
    s = feed(term(10, 3, scrollback=5), "\r\n".join(f"line{i}" for i in range(10)))
    assert rows(s) == ["line7", "line8", "line9"]
    assert [l.text.rstrip() for l in s.scrollback] == [f"line{i}" for i in range(2, 7)]
    assert render_line(s, -1)[0][0].rstrip() == "line6"


def test_scrollback_disabled():
    s = feed(term(10, 2, scrollback=0), "a\r\nb\r\nc")
    assert len(s.scrollback) == 0 and rows(s) == ["b", "c"]


# -- alternate screen ------------------------------------------------------------

VIM_SESSION = ("\x1b[?1049h\x1b[H\x1b[2J~\r\n~\r\n\x1b[7m\"f\" 2L\x1b[m"
               + "".join(f"\x1b[{r};1Hx{r}\r\n" for r in range(1, 30))
               + "\x1b[?1049l")


def test_alternate_screen_like_vim_restores_primary_and_cursor():
    t = term(10, 5)
    s = feed(t, "$ ls\r\na b c\r\n$ vi")
    before = s.display
    assert (s.x, s.y) == (4, 2)
    feed(t, "\x1b[?1049h")
    assert s.in_alternate and rows(s) == [""] * 5
    feed(t, VIM_SESSION)
    assert not s.in_alternate
    assert s.display == before
    assert (s.x, s.y) == (4, 2)
    assert len(s.scrollback) == 0   # the alternate screen never adds to the scrollback


def test_alternate_screen_does_not_add_to_scrollback():
    t = term(10, 3)
    s = feed(t, "a\r\nb\r\nc\r\nd")
    assert len(s.scrollback) == 1
    feed(t, "\x1b[?1049h" + "x\r\n" * 20 + "\x1b[?1049l")
    assert len(s.scrollback) == 1
    assert rows(s) == ["b", "c", "d"]


def test_alternate_1049_is_cleared_on_entry():
    t = term(10, 3)
    feed(t, "\x1b[?1049hjunk\x1b[?1049l\x1b[?1049h")
    assert rows(t.screen) == ["", "", ""]


def test_alternate_47_and_1047():
    t = term(10, 3)
    s = feed(t, "main\x1b[?47halt")
    assert s.in_alternate and rows(s)[0] == "    alt"
    feed(t, "\x1b[?47l")
    assert rows(s)[0] == "main"
    feed(t, "\x1b[?1047hzz\x1b[?1047l\x1b[?47h")
    assert rows(s)[0] == ""   # 1047 cleared the alternate screen when leaving it


def test_alternate_switch_marks_all_dirty():
    t = term(10, 3)
    t.screen.take_dirty()
    feed(t, "\x1b[?1049h")
    assert t.screen.take_dirty() == {0, 1, 2}


def test_decsc_decrc():
    s = feed(term(), "\x1b[2;3H\x1b[31m\x1b7\x1b[5;5H\x1b[0m\x1b8X")
    assert s.lines[1].chars[2] == "X" and style_at(s, 2, 1).fg == 1
    s = feed(term(), "\x1b[2;3H\x1b[s\x1b[5;5H\x1b[uY")
    assert s.lines[1].chars[2] == "Y"


# -- dirty lines --------------------------------------------------------------------

def test_dirty_lines():
    t = term(10, 5)
    t.screen.take_dirty()
    feed(t, "\x1b[3;1Hx")
    assert t.screen.take_dirty() == {2}
    feed(t, "\x1b[5;1H")
    assert t.screen.take_dirty() == set()   # cursor moves repaint nothing
    feed(t, "\n")
    assert t.screen.take_dirty() == {0, 1, 2, 3, 4}


# -- wide characters ------------------------------------------------------------------

def test_cjk_takes_two_cells():
    s = feed(term(), "中文x")
    assert s.lines[0].chars[:5] == ["中", "", "文", "", "x"]
    assert s.x == 5


def test_emoji_takes_two_cells():
    s = feed(term(), "a🐳b")
    assert s.lines[0].chars[:4] == ["a", "🐳", "", "b"]


def test_overwrite_second_half_clears_first():
    s = feed(term(), "中文\x1b[1;2HX")
    assert s.lines[0].chars[:4] == [" ", "X", "文", ""]


def test_overwrite_first_half_clears_second():
    s = feed(term(), "中文\x1b[1;3HX")
    assert s.lines[0].chars[:4] == ["中", "", "X", " "]


def test_wide_char_wraps_at_last_column():
    s = feed(term(5, 3), "abcd中")
    assert rows(s) == ["abcd", "中", ""]
    assert s.lines[1].chars[:2] == ["中", ""]


def test_wide_over_wide_half():
    s = feed(term(), "中文\x1b[1;2H字")
    assert s.lines[0].chars[:5] == [" ", "字", "", " ", " "]


def test_combining_char_joins_previous_cell():
    s = feed(term(), "e\u0301x")
    assert s.lines[0].chars[:2] == ["e\u0301", "x"]


def test_erase_half_of_wide_char():
    s = feed(term(), "ab中\x1b[1;4H\x1b[1K")
    assert rows(s)[0] == ""
    s = feed(term(), "ab中\x1b[1;3H\x1b[K")
    assert rows(s)[0] == "ab"


def test_render_line_merges_styles_and_skips_continuation():
    s = feed(term(), "ab\x1b[31mcd中\x1b[0me")
    segs = render_line(s, 0)
    assert segs[0] == ("ab", Style())
    assert segs[1] == ("cd中", Style(fg=1))
    assert segs[2] == ("e   ", Style())   # 10 cells: ab cd 中中 e + 3 blanks


def test_non_wide_unicode_is_one_cell():
    s = feed(term(), "héllo привет"[:10])
    assert rows(s)[0] == "héllo прив"


# -- DEC graphics ---------------------------------------------------------------------

def test_dec_line_drawing():
    s = feed(term(), "\x1b(0lqk\x1b(Bq")
    assert rows(s)[0] == "┌─┐q"


# -- resize -----------------------------------------------------------------------------

def test_resize_keeps_content_top_left_and_clamps_cursor():
    t = term(10, 5)
    s = feed(t, "hello\r\nworld\x1b[1;9H")
    s.resize(4, 5)
    assert rows(s) == ["hell", "worl", "", "", ""]
    assert (s.x, s.y) == (3, 0)
    s.resize(12, 6)
    assert rows(s) == ["hell", "worl", "", "", "", ""]
    assert all(len(l.chars) == 12 for l in s.lines) and len(s.lines) == 6


def test_resize_smaller_keeps_cursor_line_visible():
    t = term(10, 5)
    s = feed(t, "1\r\n2\r\n3\r\n4\r\n5")
    s.resize(10, 3)
    assert rows(s) == ["3", "4", "5"] and s.y == 2
    assert [l.text.rstrip() for l in s.scrollback] == ["1", "2"]


def test_resize_then_output_and_region_reset():
    t = term(10, 5)
    s = feed(t, "\x1b[2;3r")
    s.resize(20, 8)
    assert (s.top, s.bottom) == (0, 7)
    feed(t, "\x1b[8;1H" + "x" * 20)
    assert rows(s)[7] == "x" * 20
    assert 16 in s.tabstops


def test_resize_cuts_wide_char():
    t = term(10, 2)
    s = feed(t, "abcd中")
    s.resize(5, 2)
    assert s.lines[0].chars == ["a", "b", "c", "d", " "]


def test_resize_alternate_and_back():
    t = term(10, 4)
    s = feed(t, "shell\x1b[?1049hvim")
    s.resize(6, 3)
    feed(t, "\x1b[?1049l")
    assert rows(s)[0] == "shell" and len(s.lines) == 3


# -- modes, OSC, reports ------------------------------------------------------------------

@pytest.mark.parametrize("seq,attr,value", [
    ("\x1b[?1h", "app_cursor", True),
    ("\x1b[?2004h", "bracketed_paste", True),
    ("\x1b[?1000h", "mouse_mode", 1000),
    ("\x1b[?1002h", "mouse_mode", 1002),
    ("\x1b[?1003h", "mouse_mode", 1003),
    ("\x1b[?1006h", "mouse_sgr", True),
    ("\x1b[?25l", "cursor_visible", False),
    ("\x1b[?1004h", "focus_events", True),
    ("\x1b=", "app_keypad", True),
    ("\x1b[4 q", "cursor_shape", 4),
])
def test_mode_flags(seq, attr, value):
    s = feed(term(), seq)
    assert getattr(s, attr) == value


def test_mode_flags_reset():
    s = feed(term(), "\x1b[?1;2004;1002;1006h\x1b[?1;2004;1002;1006l")
    assert (s.app_cursor, s.bracketed_paste, s.mouse_mode, s.mouse_sgr) == (False, False, 0, False)


def test_osc_title_bel_and_st():
    s = feed(term(), "\x1b]0;hello world\x07x")
    assert s.title == "hello world" and rows(s)[0] == "x"
    s = feed(term(), "\x1b]2;vim - file.py\x1b\\y")
    assert s.title == "vim - file.py" and rows(s)[0] == "y"


def test_osc_52_clipboard():
    s = feed(term(), "\x1b]52;c;aGVsbG8gY2xpcGJvYXJk\x07")
    assert s.clipboard == [("c", "hello clipboard")]
    s = feed(term(), "\x1b]52;c;?\x07")
    assert s.clipboard == []   # reads are never answered


def test_unknown_osc_and_dcs_are_skipped():
    s = feed(term(), "\x1b]8;;http://x\x1b\\a\x1bPq#0;2;0;0;0\x1b\\b\x1b_apc\x1b\\c")
    assert rows(s)[0] == "abc"


def test_reports():
    s = feed(term(), "\x1b[3;4H\x1b[6n\x1b[5n\x1b[c\x1b[>c")
    assert s.responses == [b"\x1b[3;4R", b"\x1b[0n", b"\x1b[?62;22c", b"\x1b[>1;10;0c"]


def test_ris_resets():
    s = feed(term(), "\x1b[31mab\x1b[?1h\x1b[2;3r\x1bc")
    assert rows(s)[0] == "" and s.style_id == 0 and not s.app_cursor and s.bottom == 4


def test_unknown_sequences_are_ignored():
    s = feed(term(), "\x1b[?999h\x1b[12;34z\x1b[>4;1m\x1b[!pa\x1b%Gb")
    assert rows(s)[0] == "ab"
