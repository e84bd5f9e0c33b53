"""A container console inside the TUI (issue 7): the container's PTY (attach,
with the monitor's replay so the current screen shows) or a new shell exec'd
with a tty, drawn by our emulator (tui/vt).

Nothing here forks and nothing blocks the event loop: the session
(engine.Session, from Engine.attach / Engine.exec) is opened in a worker
thread, then read from the loop with `loop.add_reader` on its fileno() (one
recv per wake-up, then a 2 ms rest). Output is queued
and parsed for at most `FRAME_WORK` seconds (and `BUDGET` bytes) a frame, at
most `FPS` frames a second; while more than `QUEUE_LIMIT` bytes wait, the
socket is not read, so a flood backs up into the monitor, never into the UI,
and keys keep flowing. Runs of plain lines are applied at once
(`Terminal.jump`: what parsing them would leave, without parsing), so the
console keeps up with `yes` or `cat` of a log and a typed key's echo does not
wait behind a queue. Only the rows the emulator marks dirty (and the
cursor's) whose cells changed since drawn are repainted, through Textual's
line API.

Keys, paste and the mouse are console_input.py. Copy mode (F5) and mouse
drags select text (console_select.py, console_copy.py), copied out with OSC 52
through the real terminal (`App.copy_to_clipboard`); a program's own OSC 52 is
passed on only when allowed. The window title (OSC 0/2), the bell and copy mode are announced with
`ConsoleView.Changed`. See docs/console.md."""
from __future__ import annotations

import asyncio
import time
from collections import deque

from rich.style import Style as RichStyle
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from engine.errors import DockyardError
from tui.vt import Terminal
from tui.vt.screen import Screen, Style

from .console_copy import CopyMode
from .console_input import ConsoleInput
from .console_paint import Painting
from .console_select import Selection

BUDGET = 256 * 1024          # at most this many bytes parsed per frame ...
FRAME_WORK = 0.008           # ... and for at most this long (then the frame is drawn, keys handled)
SLICE = 4 * 1024             # parsed at a time between two looks at the clock
JUMP_MIN = 8 * 1024          # a queue this long may hold a flood worth jumping over (Terminal.jump)
READ_SIZE = 256 * 1024       # one recv per wake-up ...
READ_REST = 0.002            # ... and then this long before the next
QUEUE_LIMIT = 1024 * 1024    # stop reading the socket above this many queued bytes
QUEUE_RESUME = 256 * 1024    # ... and start again below this (exec only: see _held_back)
SKIP_LIMIT = 3 * 1024 * 1024 # attach: skip ahead to the newest output above this many queued bytes
FPS = 60
DETACH_KEYS = ("ctrl+p", "ctrl+q")
SCROLLBACK = 5000
BELL_INTERVAL = 1.0          # seconds: the bell rings at most this often


class ConsoleView(ConsoleInput, CopyMode, Painting, Widget, can_focus=True):
    """A terminal on a container: `mode` "attach" (its own PTY) or "exec" (a
    new process, `command`, on a tty of its own)."""

    DEFAULT_CSS = """
    ConsoleView { height: 1fr; width: 1fr; background: $surface; color: $foreground; }
    """
    ALLOW_SELECT = False   # drags select in the emulator's cells (ours), not Textual's text selection

    BINDINGS = [
        # Not a key a program gets: copy mode needs one that is never the program's.
        Binding("f5", "copy_mode", "Copy mode", priority=True, id="console.copy"),
    ]

    class Changed(Message):
        """Something for the tab's label: `what` is "title" (OSC 0/2), "bell"
        or "copy" (copy mode entered or left)."""

        def __init__(self, console: ConsoleView, what: str):
            super().__init__()
            self.console = console
            self.what = what

        @property
        def control(self) -> ConsoleView:
            return self.console

    class Detached(Message):
        """The detach chord was typed: the client is closed, the container keeps running."""

        def __init__(self, console: ConsoleView):
            super().__init__()
            self.console = console

        @property
        def control(self) -> ConsoleView:
            return self.console

    class Exited(Message):
        """The container (attach) or the exec'd process ended, or could not be
        reached: `code` is its exit code (None when unknown), `error` why it
        could not start or be attached."""

        def __init__(self, console: ConsoleView, code: int | None, error: str | None = None):
            super().__init__()
            self.console = console
            self.code = code
            self.error = error

        @property
        def control(self) -> ConsoleView:
            return self.console

    def __init__(self, engine, ref: str, mode: str = "attach", *, command: list[str] | None = None,
                 detach_keys: tuple[str, ...] | list[str] | None = DETACH_KEYS, scrollback: int = SCROLLBACK,
                 budget: int = BUDGET, queue_limit: int = QUEUE_LIMIT, frame_work: float = FRAME_WORK,
                 jump: bool = True, allow_clipboard: bool = False, skip_limit: int = SKIP_LIMIT,
                 name: str | None = None, id: str | None = None, classes: str | None = None):
        if mode not in ("attach", "exec"):
            raise ValueError(f"mode must be 'attach' or 'exec', not {mode!r}")
        super().__init__(name=name, id=id, classes=classes)
        self.engine, self.ref, self.mode = engine, ref, mode
        self.command = list(command or ["sh"])
        self.detach_keys = tuple(detach_keys or ())
        self.budget, self.queue_limit, self.frame_work = budget, queue_limit, frame_work
        self.jump = jump                 # pass over floods of plain text (Terminal.jump)
        self.skip_limit = skip_limit     # attach: drop the oldest output above this many queued bytes
        self.allow_clipboard = allow_clipboard   # a program's OSC 52 reaches the real clipboard
        self.terminal = Terminal(80, 24, scrollback)
        self.conn = None                 # the engine.Session (attach or exec)
        self.state = "connecting"        # connecting, live, detached, exited
        self.exit_code: int | None = None
        self.error: str | None = None
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._reading = False            # add_reader installed
        self.pauses = 0                  # times reading stopped for backpressure
        self.received = 0                # output bytes read from the monitor
        self.max_queued = 0              # the most bytes ever waiting to be parsed
        self.jumped = 0                  # bytes passed over by jumps
        self.skipped = 0                 # bytes dropped by skips ahead (attach)
        self.title = ""                  # the program's window title (OSC 0/2), cleaned
        self.copy: Selection | None = None   # copy mode: its cursor and selection
        self._drag: Selection | None = None  # a mouse drag in progress
        self._scrolled = 0               # the screen's `scrolled` when last looked at
        self._bells = 0
        self._rang = 0.0                 # when the bell last rang
        self._clipboard_refused = False
        self._eof = False                # the monitor closed the connection
        self._flush_handle: asyncio.TimerHandle | None = None
        self._rest_handle: asyncio.TimerHandle | None = None
        self._last_flush = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._chord: list[bytes] = []    # keys of the detach chord typed so far (held back)
        self._back = 0                   # lines scrolled back into the scrollback (0: live)
        self._cursor_row = 0
        self._styles: dict[Style, RichStyle] = {}
        self._painted: dict[int, tuple[list, list]] = {}   # row: its cells when last drawn plainly
        self._base: RichStyle | None = None

    # -- public ----------------------------------------------------------------------------

    @property
    def screen_model(self) -> Screen:
        return self.terminal.screen

    @property
    def connected(self) -> bool:
        return self.conn is not None and self.state == "live"

    def text(self) -> list[str]:
        """The emulator's screen as text, one string per row (for tests and search)."""
        return self.terminal.screen.display

    def send(self, data: bytes) -> None:
        """Bytes to the program (as typed)."""
        if not data or self.conn is None or self.state != "live":
            return
        try:
            self.conn.send_stdin(data)
        except Exception:   # the container is going away: its EXIT / EOF follows
            pass

    def detach(self) -> None:
        """Closes the client; the container keeps running."""
        if self.state != "live":
            return
        self.state = "detached"
        self._close()
        self._status("[detached]")
        self.post_message(self.Detached(self))

    # -- lifecycle -------------------------------------------------------------------------

    def on_mount(self) -> None:
        self._loop = asyncio.get_running_loop()
        w, h = self.size
        if w > 0 and h > 0:
            self.terminal.screen.resize(w, h)
        self.run_worker(self._connect(), exclusive=True, group="console-connect")

    async def _connect(self) -> None:
        rows, cols = self.terminal.screen.rows, self.terminal.screen.cols
        try:
            conn = await asyncio.to_thread(self._open, rows, cols)
        except Exception as e:
            self.state = "exited"
            self.error = str(e) or type(e).__name__
            self.exit_code = getattr(e, "exit_code", None)
            self._status(f"[error: {self.error}]")
            self.post_message(self.Exited(self, self.exit_code, self.error))
            return
        if not self.is_mounted:   # removed while connecting
            conn.close()
            return
        self.conn = conn
        self.state = "live"
        s = self.terminal.screen
        if (s.rows, s.cols) != (rows, cols):   # resized while connecting
            self._send_resize()
        # events already read with the HELLO (the replay's first ones) are not on the socket any more
        while conn.has_pending():
            self._take(conn.read())
        self._start_reading()
        self._schedule_flush()

    def _open(self, rows: int, cols: int):
        """In a worker thread: the session (blocking socket calls)."""
        if self.mode == "exec":
            return self.engine.exec(self.ref, self.command, tty=True, size=(rows, cols))
        sess = self.engine.attach(self.ref)
        try:
            sess.attach(stdin=True, stdout=True, stderr=True, replay=True)
            sess.resize(rows, cols)
        except BaseException:
            sess.close()
            raise
        return sess

    def on_unmount(self) -> None:
        if self.state == "live":
            self.state = "detached"
        self._close()

    def _close(self) -> None:
        self._stop_reading()
        if self._rest_handle is not None:
            self._rest_handle.cancel()
            self._rest_handle = None
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if self.conn is not None:
            self.conn.close()

    # -- reading ---------------------------------------------------------------------------

    def _start_reading(self) -> None:
        if not self._reading and self.conn is not None and not self._eof and self._loop is not None:
            self._loop.add_reader(self.conn.fileno(), self._readable)
            self._reading = True

    def _stop_reading(self) -> None:
        if self._reading:
            self._reading = False
            try:
                self._loop.remove_reader(self.conn.fileno())
            except Exception:
                pass

    def _readable(self) -> None:
        """The socket has data: one recv (never blocks), then the events it completed."""
        conn = self.conn
        if conn is None or self.state != "live":
            self._stop_reading()
            return
        self._take(conn.read(READ_SIZE))
        while conn.has_pending():
            self._take(conn.read())
        self._stop_reading()
        if not self._eof:
            if self._queued > self.skip_limit:
                self._skip_ahead()
            if self._held_back():
                self.pauses += 1       # backpressure: the flood waits in the monitor, the program blocks
            elif self._rest_handle is None:
                # a short rest before the next recv: a program writing a line at a time
                # (`yes`) would otherwise wake the UI thousands of times a second
                self._rest_handle = self._loop.call_later(READ_REST, self._rested)
        self._schedule_flush()

    def _rested(self) -> None:
        self._rest_handle = None
        if self.state == "live" and not self._held_back():
            self._start_reading()

    def _held_back(self) -> bool:
        """Backpressure: not reading while more than `queue_limit` bytes wait.
        Only for an exec: the monitor then pauses the program's output. An
        attached container's output is never paused (it is logged), and the
        monitor skips whole frames for a client more than 4 MiB behind, so an
        attach console keeps reading and skips ahead itself, from a line end
        (_skip_ahead)."""
        return self.mode == "exec" and self._queued > self.queue_limit

    def _skip_ahead(self) -> None:
        """More than `skip_limit` bytes wait (output faster than the console
        draws, for a while): the oldest are dropped, from a line end on."""
        data = b"".join(self._queue)
        cut = len(data) - QUEUE_RESUME
        nl = data.find(b"\n", cut)
        cut = nl + 1 if 0 <= nl < len(data) - 1 else cut
        self._queue.clear()
        self._queue.append(data[cut:])
        self._queued = len(data) - cut
        if not self.skipped:
            self.notify(f"{self.ref}: output faster than the console can draw it; skipping some "
                        "(the container is not slowed down; its log has everything)", severity="warning", timeout=6)
        self.skipped += cut

    def _take(self, events) -> None:
        for kind, value in events:
            if kind == "stdout" or kind == "stderr":
                self._queue.append(value)
                self._queued += len(value)
                self.received += len(value)
                if self._queued > self.max_queued:
                    self.max_queued = self._queued
            elif kind == "exit":
                self.exit_code = value
            elif kind == "ended":
                self._eof = True

    def _schedule_flush(self) -> None:
        if self._flush_handle is not None or self._loop is None:
            return
        delay = max(0.0, self._last_flush + 1.0 / FPS - time.monotonic())
        self._flush_handle = self._loop.call_later(delay, self._flush)

    def _flush(self) -> None:
        """One frame: parse queued output for up to `frame_work` seconds (and
        `budget` bytes), runs of plain lines applied at once (Terminal.jump);
        answer the program, repaint what changed."""
        self._flush_handle = None
        now = self._last_flush = time.monotonic()
        if self._queue:
            q = self._queue
            data = q.popleft() if len(q) == 1 else b"".join(q)
            q.clear()
            term = self.terminal
            pos, parsed = 0, 0
            deadline = now + self.frame_work
            while pos < len(data):
                if self.jump and len(data) - pos >= JUMP_MIN:
                    n = term.jump(data, pos)
                    if n:
                        self.jumped += n
                        pos += n
                        # A flood: what is left is mostly lines the next frame's jump
                        # passes over too, if the flood goes on; parse less of it.
                        deadline = min(deadline, time.monotonic() + self.frame_work / 4)
                    if pos >= len(data) or time.monotonic() > deadline:
                        break
                end = min(len(data), pos + SLICE, pos + self.budget - parsed)
                if end < len(data):   # whole lines, so that a jump can follow
                    nl = data.rfind(b"\n", pos, end)
                    if nl >= 0:
                        end = nl + 1
                term.feed(data[pos:end])
                parsed += end - pos
                pos = end
                if parsed >= self.budget or time.monotonic() > deadline:
                    break
            if pos < len(data):
                q.append(data[pos:])
            self._queued = len(data) - pos
            self._after_feed()
        if self._queue:
            self._schedule_flush()
        if self.state == "live" and not self._reading and not self._eof and self._queued < min(QUEUE_RESUME, self.queue_limit // 2):
            self._start_reading()
        if self._eof and not self._queue and self.state == "live":
            self._ended()

    def _after_feed(self) -> None:
        """What the program's output asked for besides the cells: replies,
        the clipboard, the title, the bell; selections follow the scrolling."""
        screen = self.terminal.screen
        if screen.responses:
            out = b"".join(screen.responses)
            screen.responses.clear()
            self.send(out)
        if screen.clipboard:
            self._program_clipboard(screen.clipboard[-1][1])
            screen.clipboard.clear()
        title = _clean(screen.title)
        if title != self.title:
            self.title = title
            self.post_message(self.Changed(self, "title"))
        if screen.bells != self._bells:
            self._bells = screen.bells
            now = time.monotonic()
            if now - self._rang >= BELL_INTERVAL:
                self._rang = now
                self.app.bell()
                self.post_message(self.Changed(self, "bell"))
        d = screen.scrolled - self._scrolled
        self._scrolled = screen.scrolled
        for sel in (self.copy, self._drag):
            if sel is not None:
                sel.shift()
        if d and (self._back or self.copy is not None or self._drag is not None):
            # keep a scrolled-back view (and a selection) on the same text
            self._back = min(self._back + d, len(screen.scrollback))
        self._back = min(self._back, len(screen.scrollback))
        self._repaint()

    def _ended(self) -> None:
        self.state = "exited"
        try:
            self.exit_code = self.conn.result()
        except DockyardError as e:
            # no EXIT (or a start failure): an exec whose container stopped,
            # or an attach the monitor let go of (see below)
            self.exit_code = getattr(e, "exit_code", None) if self.conn.exit_code is not None else None
            self.error = str(e) or type(e).__name__
        self._close()
        if self.error is not None and self.exit_code is None and self.mode == "attach":
            # The monitor let go of us, the container goes on: it does that to
            # an attached client too far behind the output (its buffer for it is full).
            self.error = "disconnected by the container's monitor (the console fell behind its output)"
        if self.error is not None:
            self._status(f"[{self.error}]")
            self.post_message(self.Exited(self, self.exit_code, self.error))
            return
        self._status(f"[exited {self.exit_code}]")
        self.post_message(self.Exited(self, self.exit_code))

    def _status(self, text: str) -> None:
        """A line of ours under the program's output ("[exited 0]")."""
        screen = self.terminal.screen
        self.terminal.feed(("\x1b[0m" + ("\r\n" if screen.x or screen.line_at(screen.y).text.strip() else "")
                            + text).encode())
        screen.responses.clear()
        self._after_feed()

    def on_focus(self) -> None:
        if self.terminal.screen.focus_events:
            self.send(b"\x1b[I")
        self._repaint()

    def on_blur(self) -> None:
        if self.terminal.screen.focus_events:
            self.send(b"\x1b[O")
        self._repaint()

    # -- size ------------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        cols, rows = event.size.width, event.size.height
        screen = self.terminal.screen
        if cols <= 0 or rows <= 0 or (cols, rows) == (screen.cols, screen.rows):
            return
        screen.resize(cols, rows)
        self._painted.clear()
        for sel in (self.copy, self._drag):
            if sel is not None:
                sel.shift()   # (and clamp: rows may be gone)
        self._back = min(self._back, len(screen.scrollback))
        self._send_resize()
        self.refresh()

    def _send_resize(self) -> None:
        if self.conn is not None and self.state == "live":
            s = self.terminal.screen
            try:
                self.conn.resize(s.rows, s.cols)
            except Exception:
                pass


def _clean(title: str, limit: int = 200) -> str:
    """A program's title without control characters, on one line."""
    return " ".join("".join(c if c.isprintable() else " " for c in title[:limit]).split())
