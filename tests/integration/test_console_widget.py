"""The console widget (issue 7) against a real engine and real containers:
a tiny App that mounts only a ConsoleView, driven with Textual's pilot.
Containers are started with the CLI (`run -dit`) and removed by the `root`
fixture. Behaviour only, no timing thresholds."""
import asyncio

import pytest
from textual import events
from textual.app import App, ComposeResult

from tests.integration.test_containers import dy
from tests.integration.test_tui_helpers import until
from tui.widgets.console import ConsoleView


class ConsoleApp(App, inherit_bindings=False):
    """Only the console (no app bindings and no command palette: ctrl+q, ctrl+c
    and ctrl+p go to the program)."""

    ENABLE_COMMAND_PALETTE = False

    def __init__(self, engine, ref: str, mode: str, **kw):
        super().__init__()
        self.view = ConsoleView(engine, ref, mode, **kw)
        self.events: list[tuple] = []

    def compose(self) -> ComposeResult:
        yield self.view

    def on_mount(self) -> None:
        self.view.focus()

    def on_console_view_detached(self, message: ConsoleView.Detached) -> None:
        self.events.append(("detached",))

    def on_console_view_exited(self, message: ConsoleView.Exited) -> None:
        self.events.append(("exited", message.code))

    def on_console_view_changed(self, message: ConsoleView.Changed) -> None:
        self.events.append(("changed", message.what))


@pytest.fixture
def engine(root):
    from engine import Engine
    eng = Engine(root)
    yield eng
    eng.close()


def start_shell(root, name: str) -> None:
    p = dy(root, "run", "-dit", "--name", name, "busybox", "sh")
    assert p.returncode == 0, p.stderr


async def type_line(pilot, text: str) -> None:
    await pilot.press(*text, "enter")


def lines(console) -> list[str]:
    return [line.rstrip() for line in console.text()]


def run(coro):
    return asyncio.run(coro)


async def ready(pilot, console) -> None:
    await until(pilot, lambda: console.connected, what="the console to connect")
    await until(pilot, lambda: any("#" in line for line in lines(console)), what="the shell's prompt")


def test_attach_echo_vi_and_detach(root, engine):
    start_shell(root, "con1")

    async def go():
        app = ConsoleApp(engine, "con1", "attach")
        async with app.run_test(size=(100, 30)) as pilot:
            c = app.view
            await until(pilot, lambda: c.connected, what="the console to connect")
            # the monitor's resize reached the PTY: the shell sees the widget's size
            assert (c.screen_model.cols, c.screen_model.rows) == (100, 30)
            await pilot.press("enter")
            await ready(pilot, c)
            await type_line(pilot, "echo hel''lo")
            await until(pilot, lambda: "hello" in lines(c), what="hello on the screen")
            await type_line(pilot, "stty size")
            await until(pilot, lambda: "30 100" in lines(c), what="the PTY's size")

            # vi: the alternate screen, then the shell's screen comes back
            await type_line(pilot, "vi /tmp/x")
            await until(pilot, lambda: c.screen_model.in_alternate, what="vi's alternate screen")
            await until(pilot, lambda: sum(line.startswith("~") for line in lines(c)) > 5, what="vi's screen")
            assert "hello" not in lines(c)
            await pilot.press(*":q!", "enter")
            await until(pilot, lambda: not c.screen_model.in_alternate, what="vi to quit")
            await until(pilot, lambda: "hello" in lines(c), what="the shell's screen again")

            # the widget paints the emulator's lines
            strip_text = "".join(seg.text for seg in c.render_line(lines(c).index("hello")))
            assert strip_text.rstrip() == "hello"

            # a ctrl+p followed by another key is not the chord: both go to the shell
            await pilot.press("ctrl+p", "ctrl+p", "ctrl+q")
            await until(pilot, lambda: app.events == [("detached",)], what="Detached")
            assert c.state == "detached" and c.conn.closed
        assert engine.container("con1").status == "running"

        # attach again: the replay shows the current screen
        app = ConsoleApp(engine, "con1", "attach")
        async with app.run_test(size=(100, 30)) as pilot:
            c = app.view
            await until(pilot, lambda: c.connected, what="the console to reconnect")
            await until(pilot, lambda: "hello" in lines(c), what="the replayed screen")
            await pilot.press("ctrl+u")   # the lone ctrl+p recalled a history line
            await type_line(pilot, "exit 3")
            await until(pilot, lambda: ("exited", 3) in app.events, what="Exited(3)")
            assert "[exited 3]" in lines(c)
            assert c.state == "exited"

    run(go())
    assert engine.container("con1").status == "exited"


def test_exec_console(root, engine):
    start_shell(root, "con2")

    async def go():
        app = ConsoleApp(engine, "con2", "exec")
        async with app.run_test(size=(90, 25)) as pilot:
            c = app.view
            await ready(pilot, c)
            await type_line(pilot, "echo $((6*7))x; stty size")
            await until(pilot, lambda: "42x" in lines(c), what="the exec's output")
            await until(pilot, lambda: "25 90" in lines(c), what="the exec's PTY size")
            # a resize of the widget reaches the exec's PTY
            await pilot.resize_terminal(70, 20)
            await until(pilot, lambda: c.screen_model.cols == 70, what="the emulator's resize")
            await type_line(pilot, "stty size")
            await until(pilot, lambda: "20 70" in lines(c), what="TIOCSWINSZ on the exec's PTY")
            # paste (bracketed or not, the shell gets the text)
            c.post_message(events.Paste("echo pas''ted\n"))
            await until(pilot, lambda: "pasted" in lines(c), what="the paste")
            await type_line(pilot, "exit 4")
            await until(pilot, lambda: ("exited", 4) in app.events, what="the exec's Exited(4)")
            assert "[exited 4]" in lines(c)

    run(go())
    assert engine.container("con2").status == "running"   # only the exec ended


def test_flood_does_not_stop_keys(root, engine):
    """An exec console with a small budget and queue limit, and no jumps, so
    that the UI parses slower than `yes` writes: the socket stops being read
    (backpressure: the monitor pauses the exec's output) and keys still get
    through: ctrl-c stops the flood and the next command runs."""
    start_shell(root, "con3")

    async def go():
        app = ConsoleApp(engine, "con3", "exec", budget=4096, queue_limit=16 * 1024, jump=False)
        async with app.run_test(size=(80, 24)) as pilot:
            c = app.view
            await ready(pilot, c)
            await type_line(pilot, "yes | head -c 20000000")
            await until(pilot, lambda: lines(c).count("y") > 10, what="the flood")
            # the UI stopped reading (backpressure) rather than queue the flood
            await until(pilot, lambda: c.pauses > 0, what="backpressure")
            await pilot.press("ctrl+c")
            await type_line(pilot, "echo ali''ve")
            await until(pilot, lambda: "alive" in lines(c), timeout=60, what="alive after the flood")
            assert c.connected and c.skipped == 0

    run(go())


def test_attached_flood_skips_ahead_instead_of_being_dropped(root, engine):
    """A flood in an attach console that parses slowly (a small budget, no
    jumps): the monitor never pauses a container's own output and drops a
    client more than 4 MiB behind, so the console keeps reading and drops the
    oldest of what waits. It stays connected well past 4 MiB, and keys work."""
    start_shell(root, "con9")

    async def go():
        app = ConsoleApp(engine, "con9", "attach", budget=4096, skip_limit=256 * 1024, jump=False)
        async with app.run_test(size=(80, 24)) as pilot:
            c = app.view
            await until(pilot, lambda: c.connected, what="the console to connect")
            await pilot.press("enter")
            await ready(pilot, c)
            await type_line(pilot, "yes \"$(printf '\\033[32my\\033[0m')\"")
            await until(pilot, lambda: c.received > 8_000_000, timeout=60, what="8 MB of flood read")
            assert c.state == "live" and c.skipped > 4_000_000 and c.pauses == 0
            await pilot.press("ctrl+c")
            await type_line(pilot, "echo ali''ve")
            await until(pilot, lambda: "alive" in lines(c), timeout=60, what="alive after the flood")
            assert c.connected

    run(go())


def test_scrollback_by_keys_and_wheel(root, engine):
    start_shell(root, "con4")

    async def go():
        app = ConsoleApp(engine, "con4", "attach")
        async with app.run_test(size=(80, 24)) as pilot:
            c = app.view
            await until(pilot, lambda: c.connected, what="the console to connect")
            await pilot.press("enter")
            await ready(pilot, c)
            await type_line(pilot, "seq 1 100")
            await until(pilot, lambda: "100" in lines(c), what="seq's output")
            shown = lambda: "".join(s.text for s in c.render_line(0)).strip()
            top = shown()
            await pilot.press("shift+pageup")
            assert c._back > 0 and shown() != top
            await pilot.press("shift+pagedown")
            assert c._back == 0 and shown() == top
            c.post_message(events.MouseScrollUp(c, 1, 1, 0, -1, 0, False, False, False))
            await until(pilot, lambda: c._back > 0, what="the wheel to scroll back")
            await pilot.press("a")   # typing goes back to the live screen
            assert c._back == 0
            await pilot.press("backspace")

            # a program that asks for mouse reports gets the wheel instead of the scrollback
            await type_line(pilot, r"printf '\033[?1000h\033[?1006h'")
            await until(pilot, lambda: c.screen_model.mouse_mode == 1000 and c.screen_model.mouse_sgr,
                        what="mouse reporting on")
            sent = []
            real_send = c.send
            c.send = lambda data: (sent.append(data), real_send(data))
            c.post_message(events.MouseScrollUp(c, 4, 2, 0, -1, 0, False, False, False))
            await until(pilot, lambda: sent, what="the wheel report")
            assert sent == [b"\x1b[<64;5;3M"] and c._back == 0

    run(go())


def test_flood_is_jumped_over_and_keys_echo(root, engine):
    """`yes` in the foreground of an exec console with the default settings:
    the console passes over the flood (most of it would scroll out of the
    scrollback unseen), typed keys are echoed by the tty behind it and reach
    the screen, ctrl-c stops it and the screen and scrollback hold y lines."""
    start_shell(root, "con5")

    async def go():
        app = ConsoleApp(engine, "con5", "exec")
        async with app.run_test(size=(80, 24)) as pilot:
            c = app.view
            await ready(pilot, c)
            await type_line(pilot, "yes")
            await until(pilot, lambda: c.jumped > 1_000_000, timeout=30, what="a jump over the flood")
            seen = c.received
            fed = []
            real_feed = c.terminal.feed
            c.terminal.feed = lambda data: (fed.append(data), real_feed(data))
            real_jump = c.terminal.jump
            c.terminal.jump = lambda data, start=0: (n := real_jump(data, start), fed.append(data[start:start + n]))[0]
            await pilot.press("Z")
            await until(pilot, lambda: any(b"Z" in d for d in fed), timeout=30, what="the echo of Z behind the flood")
            assert c.received > seen
            await pilot.press("ctrl+c")
            await type_line(pilot, "echo ali''ve")
            await until(pilot, lambda: "alive" in lines(c), timeout=30, what="alive after the flood")
            back = [line.text.rstrip() for line in list(c.screen_model.scrollback)[-100:]]
            assert back.count("y") > 90
            assert c.connected

    run(go())


async def seq_screen(pilot, c, n: int = 200) -> None:
    await type_line(pilot, f"seq 1 {n}")
    await until(pilot, lambda: str(n) in lines(c), what="seq's output")
    await until(pilot, lambda: lines(c)[c.screen_model.y].endswith("#"), what="the prompt after seq")


def test_copy_mode_keys_copy_from_the_scrollback(root, engine):
    start_shell(root, "con6")

    async def go():
        app = ConsoleApp(engine, "con6", "attach")
        async with app.run_test(size=(80, 24)) as pilot:
            c = app.view
            await until(pilot, lambda: c.connected, what="the console to connect")
            await pilot.press("enter")
            await ready(pilot, c)
            await seq_screen(pilot, c)
            sent = []
            real_send = c.send
            c.send = lambda data: (sent.append(data), real_send(data))
            await pilot.press("f5")
            assert c.copy is not None and ("changed", "copy") in app.events
            assert "[copy" in "".join(s.text for s in c.render_line(0))
            assert c.copy.row == c.screen_model.y   # it starts at the terminal's cursor
            # the prompt is below "200": 30 rows up is "171", in the scrollback
            await pilot.press(*["k"] * 30)
            assert c._back > 0 and c.copy.row < 0
            await pilot.press("0", "v", "j", "j", "$")
            shown = "".join(s.text for s in c.render_line(c.copy.row + c._back))
            assert shown.startswith("173")
            await pilot.press("y")
            assert app.clipboard == "171\n172\n173"
            assert c.copy is None and c._back == 0
            assert sent == []   # no key of copy mode reached the program
            # esc leaves without copying; q too; F5 again leaves
            await pilot.press("f5", "k", "v", "escape")
            assert c.copy is None and app.clipboard == "171\n172\n173"
            await pilot.press("f5", "f5")
            assert c.copy is None and sent == []
            # V selects whole lines; enter copies
            await pilot.press("f5", "k", "k", "V", "j", "enter")
            assert app.clipboard == "199\n200"
            await pilot.press("a")   # keys go to the program again
            await until(pilot, lambda: sent, what="a key sent")
            await pilot.press("backspace")

    run(go())


def test_mouse_drag_copies_unless_the_program_has_the_mouse(root, engine):
    start_shell(root, "con7")

    async def go():
        app = ConsoleApp(engine, "con7", "exec")
        async with app.run_test(size=(80, 24)) as pilot:
            c = app.view
            await ready(pilot, c)
            await type_line(pilot, "echo drag-me'' please")
            await until(pilot, lambda: "drag-me please" in lines(c), what="the output")
            y = lines(c).index("drag-me please")
            await pilot.mouse_down(c, offset=(0, y))
            await pilot.hover(c, offset=(4, y))
            assert c._drag is not None and c._drag.selecting
            assert "".join(s.text for s in c.render_line(y)).startswith("drag-")
            await pilot.mouse_up(c, offset=(6, y))
            assert app.clipboard == "drag-me"
            # a click without a drag copies nothing
            await pilot.click(c, offset=(2, y))
            assert app.clipboard == "drag-me"
            # a drag over two lines, into the line above
            await pilot.mouse_down(c, offset=(5, y))
            await pilot.hover(c, offset=(3, y - 1))
            await pilot.mouse_up(c, offset=(3, y - 1))
            assert app.clipboard == lines(c)[y - 1][3:] + "\ndrag-m"   # the command line's end, both ends included

            # the program turns mouse reporting on: a drag is the program's ...
            await type_line(pilot, r"printf '\033[?1000h\033[?1006h'")
            await until(pilot, lambda: c.screen_model.mouse_mode == 1000, what="mouse reporting on")
            sent = []
            real_send = c.send
            c.send = lambda data: (sent.append(data), real_send(data))
            await pilot.mouse_down(c, offset=(0, y))
            await pilot.mouse_up(c, offset=(6, y))
            assert any(d.startswith(b"\x1b[<0;") for d in sent) and app.clipboard.endswith("drag-m")
            # ... but shift+drag still selects, as in xterm
            sent.clear()
            await pilot.mouse_down(c, offset=(8, y), shift=True)
            await pilot.hover(c, offset=(13, y))
            await pilot.mouse_up(c, offset=(13, y), shift=True)
            assert app.clipboard == "please" and not any(d.startswith(b"\x1b[<") for d in sent)

    run(go())


def test_program_clipboard_title_and_bell(root, engine):
    """OSC 52 from a program reaches the real clipboard only when allowed;
    the title (OSC 0) and the bell are announced."""
    start_shell(root, "con8")

    async def go(allow: bool):
        app = ConsoleApp(engine, "con8", "exec", allow_clipboard=allow)
        async with app.run_test(size=(80, 24)) as pilot:
            c = app.view
            await ready(pilot, c)
            await type_line(pilot, r"printf '\033]52;c;aGVsbG8=\a'; echo sent''-it")
            await until(pilot, lambda: "sent-it" in lines(c), what="the printf done")
            await pilot.pause(0.1)
            assert c.screen_model.clipboard == []   # taken either way
            if allow:
                assert app.clipboard == "hello"
            else:
                assert app.clipboard == ""
                await until(pilot, lambda: any("tried to set the clipboard" in str(n.message)
                                               for n in app._notifications), what="the refusal's notification")
            await type_line(pilot, r"printf '\033]0;my \001title\a'")
            await until(pilot, lambda: c.title == "my title", what="the title")
            assert ("changed", "title") in app.events
            await type_line(pilot, r"printf '\a\a\a'")
            await until(pilot, lambda: ("changed", "bell") in app.events, what="the bell")
            await pilot.pause(0.2)
            assert app.events.count(("changed", "bell")) == 1   # at most once a second

    run(go(False))
    run(go(True))
