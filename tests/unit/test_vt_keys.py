"""tui.vt input side: keys as xterm encodes them, bracketed paste, mouse."""
import pytest

from tui.vt import Terminal, encode_key, encode_mouse, encode_paste


@pytest.mark.parametrize("key,normal,app", [
    ("up", b"\x1b[A", b"\x1bOA"),
    ("down", b"\x1b[B", b"\x1bOB"),
    ("right", b"\x1b[C", b"\x1bOC"),
    ("left", b"\x1b[D", b"\x1bOD"),
    ("home", b"\x1b[H", b"\x1bOH"),
    ("end", b"\x1b[F", b"\x1bOF"),
])
def test_cursor_keys_follow_decckm(key, normal, app):
    assert encode_key(key) == normal
    assert encode_key(key, app_cursor=True) == app


def test_decckm_from_the_program_changes_arrow_encoding():
    t = Terminal(10, 3)
    assert encode_key("up", app_cursor=t.screen.app_cursor) == b"\x1b[A"
    t.feed(b"\x1b[?1h")
    assert encode_key("up", app_cursor=t.screen.app_cursor) == b"\x1bOA"
    t.feed(b"\x1b[?1l")
    assert encode_key("up", app_cursor=t.screen.app_cursor) == b"\x1b[A"


@pytest.mark.parametrize("key,expected", [
    ("pageup", b"\x1b[5~"), ("pagedown", b"\x1b[6~"), ("insert", b"\x1b[2~"),
    ("delete", b"\x1b[3~"), ("f1", b"\x1bOP"), ("f2", b"\x1bOQ"), ("f3", b"\x1bOR"),
    ("f4", b"\x1bOS"), ("f5", b"\x1b[15~"), ("f6", b"\x1b[17~"), ("f7", b"\x1b[18~"),
    ("f8", b"\x1b[19~"), ("f9", b"\x1b[20~"), ("f10", b"\x1b[21~"), ("f11", b"\x1b[23~"),
    ("f12", b"\x1b[24~"), ("enter", b"\r"), ("backspace", b"\x7f"), ("tab", b"\t"),
    ("shift+tab", b"\x1b[Z"), ("escape", b"\x1b"),
    ("ctrl+a", b"\x01"), ("ctrl+c", b"\x03"), ("ctrl+d", b"\x04"), ("ctrl+z", b"\x1a"),
    ("ctrl+l", b"\x0c"), ("ctrl+space", b"\x00"), ("ctrl+backslash", b""),
    ("alt+x", b"\x1bx"), ("alt+b", b"\x1bb"), ("alt+ctrl+a", b"\x1b\x01"),
    ("shift+up", b"\x1b[1;2A"), ("ctrl+right", b"\x1b[1;5C"), ("alt+left", b"\x1b[1;3D"),
    ("ctrl+delete", b"\x1b[3;5~"), ("shift+f5", b"\x1b[15;2~"), ("ctrl+f1", b"\x1b[1;5P"),
])
def test_special_keys(key, expected):
    if key == "ctrl+backslash":
        assert encode_key("ctrl+\\") == b"\x1c"
        return
    assert encode_key(key) == expected


def test_modified_cursor_keys_ignore_decckm():
    assert encode_key("ctrl+up", app_cursor=True) == b"\x1b[1;5A"


def test_printable_characters():
    assert encode_key("a", "a") == b"a"
    assert encode_key("A", "A") == b"A"
    assert encode_key("eacute", "é") == "é".encode()
    assert encode_key("unknown") == b""


def test_bracketed_paste():
    assert encode_paste("ls\nexit\n", bracketed=False) == b"ls\rexit\r"
    assert encode_paste("ls\r\nx", bracketed=True) == b"\x1b[200~ls\rx\x1b[201~"


def test_bracketed_paste_cannot_break_out():
    evil = "a\x1b[201~rm -rf /\n"
    out = encode_paste(evil, bracketed=True)
    assert out.count(b"\x1b[201~") == 1 and out.endswith(b"\x1b[201~")


def test_bracketed_paste_follows_mode_2004():
    t = Terminal(10, 3)
    t.feed(b"\x1b[?2004h")
    assert encode_paste("x", t.screen.bracketed_paste).startswith(b"\x1b[200~")


def test_mouse_off_sends_nothing():
    assert encode_mouse("press", 3, 4, mode=0, sgr=True) == b""


def test_mouse_sgr_press_release_wheel():
    kw = dict(mode=1000, sgr=True)
    assert encode_mouse("press", 0, 0, "left", **kw) == b"\x1b[<0;1;1M"
    assert encode_mouse("release", 0, 0, "left", **kw) == b"\x1b[<0;1;1m"
    assert encode_mouse("press", 9, 4, "right", **kw) == b"\x1b[<2;10;5M"
    assert encode_mouse("press", 9, 4, "middle", **kw) == b"\x1b[<1;10;5M"
    assert encode_mouse("wheel_up", 2, 3, **kw) == b"\x1b[<64;3;4M"
    assert encode_mouse("wheel_down", 2, 3, **kw) == b"\x1b[<65;3;4M"
    assert encode_mouse("press", 0, 0, "left", ctrl=True, shift=True, **kw) == b"\x1b[<20;1;1M"
    assert encode_mouse("press", 300, 400, **kw) == b"\x1b[<0;301;401M"   # no 223 limit


def test_mouse_motion_depends_on_mode():
    assert encode_mouse("motion", 1, 1, "left", mode=1000, sgr=True) == b""
    assert encode_mouse("motion", 1, 1, "left", mode=1002, sgr=True) == b"\x1b[<32;2;2M"
    assert encode_mouse("motion", 1, 1, None, mode=1002, sgr=True) == b""
    assert encode_mouse("motion", 1, 1, None, mode=1003, sgr=True) == b"\x1b[<35;2;2M"


def test_mouse_legacy_encoding():
    assert encode_mouse("press", 0, 0, "left", mode=1000, sgr=False) == b"\x1b[M !!"
    assert encode_mouse("release", 0, 0, "left", mode=1000, sgr=False) == b"\x1b[M#!!"
    assert encode_mouse("press", 300, 0, mode=1000, sgr=False) == b""


def test_mouse_modes_from_the_program():
    t = Terminal(10, 3)
    t.feed(b"\x1b[?1002h\x1b[?1006h")
    s = t.screen
    assert encode_mouse("press", 4, 2, mode=s.mouse_mode, sgr=s.mouse_sgr) == b"\x1b[<0;5;3M"
