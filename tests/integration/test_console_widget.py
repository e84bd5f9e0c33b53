"""The console widget (issue 7) against a real engine and real containers:
a tiny App that mounts only a ConsoleView, driven with Textual's pilot.
Containers are started with the CLI (`run -dit`) and removed by the `root`
fixture. Behaviour only, no timing thresholds."""
import asyncio

import pytest
from textual import events
from textual.app import App, ComposeResult

from tests.integration.test_containers import dy, root  # noqa: F401  (the fixture)
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


@pytest.fixture
def engine(root):  # noqa: F811
    from engine import Engine
    eng = Engine(root)
    yield eng
    eng.close()


def start_shell(root, name: str) -> None:  # noqa: F811
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


def test_attach_echo_vi_and_detach(root, engine):  # noqa: F811
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
            assert c.state == "detached" and c.conn.sock.fileno() == -1
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


def test_exec_console(root, engine):  # noqa: F811
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


def test_flood_does_not_stop_keys(root, engine):  # noqa: F811
    """A small budget and queue limit, so that the UI parses slower than `yes`
    writes: the socket stops being read (backpressure) and keys still get
    through: ctrl-c stops the flood and the next command runs."""
    start_shell(root, "con3")

    async def go():
        app = ConsoleApp(engine, "con3", "attach", budget=4096, queue_limit=16 * 1024)
        async with app.run_test(size=(80, 24)) as pilot:
            c = app.view
            await until(pilot, lambda: c.connected, what="the console to connect")
            await pilot.press("enter")
            await ready(pilot, c)
            await type_line(pilot, "yes | head -c 20000000")
            await until(pilot, lambda: lines(c).count("y") > 10, what="the flood")
            # the UI stopped reading (backpressure) rather than queue the flood
            await until(pilot, lambda: c.pauses > 0, what="backpressure")
            await pilot.press("ctrl+c")
            await type_line(pilot, "echo ali''ve")
            await until(pilot, lambda: "alive" in lines(c), timeout=60, what="alive after the flood")
            assert c.connected

    run(go())


def test_scrollback_by_keys_and_wheel(root, engine):  # noqa: F811
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
            shown = lambda: "".join(s.text for s in c.render_line(0)).strip()  # noqa: E731
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
