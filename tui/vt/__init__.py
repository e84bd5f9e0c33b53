"""dockyard's terminal emulator core (issue 7): a screen model, a fast byte
parser, key/paste/mouse encoding and a line renderer. Independent of Textual
and of the engine; see docs/console.md."""
from .keys import encode_key, encode_mouse, encode_paste
from .parser import Parser, Terminal
from .render import render_line
from .screen import DEFAULT_STYLE, Line, Screen, Style, char_width

__all__ = ["Screen", "Style", "Line", "DEFAULT_STYLE", "Parser", "Terminal", "render_line",
           "encode_key", "encode_paste", "encode_mouse", "char_width"]
