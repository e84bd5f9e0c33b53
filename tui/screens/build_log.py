"""The live step log of a build (docker's plain progress, coloured): each
step's number and instruction, CACHED, the output lines with the time since
the step started, DONE with the step's time, the error. The build runs in a
worker thread and appends to a BuildRun; this screen drains it four times a
second, so closing it (esc) leaves the build going and the log complete."""
from __future__ import annotations

import threading
import time

from rich.text import Text
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, RichLog, Static

MAX_LINES = 20_000


class BuildRun:
    """What one build has said so far, filled from the worker thread."""

    def __init__(self, context: str, tags: list[str]) -> None:
        self.context = context
        self.tags = list(tags)
        self.lines: list[Text] = []
        self.step_start: dict[int, float] = {}
        self.steps: dict[int, str] = {}        # step -> its instruction ("[2/3] RUN …")
        self.cached: set[int] = set()
        self.step = 0
        self.t0 = time.monotonic()
        self.elapsed: float | None = None
        self.state = "building"                # building | done | failed
        self.image_id: str | None = None
        self.error: str | None = None
        self.exit_code: int | None = None
        self.dropped = 0
        self._lock = threading.Lock()

    # -- from the worker thread
    def event(self, ev) -> None:
        now = time.monotonic()
        n = ev.step
        if ev.kind == "start":
            self.step_start[n] = now
            self.steps[n] = ev.name
            self.step = n
            line = Text(f"#{n} ", style="bold")
            line.append(ev.name, style="bold")
        elif ev.kind == "cached":
            self.cached.add(n)
            line = Text(f"#{n} ", style="bold")
            line.append("CACHED", style="bold green")
        elif ev.kind == "output":
            line = Text(f"#{n} ", style="dim")
            line.append(f"{now - self.step_start.get(n, now):.3f} ", style="dim")
            line.append(ev.text)
        elif ev.kind == "done":
            line = Text(f"#{n} ", style="bold")
            line.append(f"DONE {ev.elapsed:.1f}s", style="blue")
        elif ev.kind == "error":
            line = Text(f"#{n} ", style="bold")
            line.append(f"ERROR: {ev.text}", style="bold red")
        else:
            line = Text(f"#{n} {ev.kind} {ev.text}")
        self._add(line)

    def finish(self, image_id: str | None = None, error: str | None = None, exit_code: int | None = None) -> None:
        self.elapsed = time.monotonic() - self.t0
        self.image_id, self.error, self.exit_code = image_id, error, exit_code
        if error is None:
            self.state = "done"
            line = Text(f"built {image_id[7:19] if image_id else '?'}", style="bold green")
            if self.tags:
                line.append(" as " + ", ".join(self.tags), style="green")
            line.append(f" in {self.elapsed:.1f}s", style="green")
            self._add(line)
        else:
            self.state = "failed"
            head = "build failed" + (f" (exit code {exit_code})" if exit_code is not None else "")
            self._add(Text(f"{head} after {self.elapsed:.1f}s", style="bold red"))
            for l in error.splitlines():
                self._add(Text(l, style="red"))

    def _add(self, line: Text) -> None:
        with self._lock:
            self.lines.append(line)
            if len(self.lines) > MAX_LINES:
                cut = len(self.lines) - MAX_LINES
                del self.lines[:cut]
                self.dropped += cut

    # -- from the event loop
    def since(self, index: int) -> tuple[list[Text], int]:
        """The lines after the `index`-th one ever added, and the new index."""
        with self._lock:
            start = max(0, index - self.dropped)
            return list(self.lines[start:]), self.dropped + len(self.lines)

    def plain(self) -> list[str]:
        with self._lock:
            return [l.plain for l in self.lines]

    def status(self) -> Text:
        what = ", ".join(self.tags) or "untagged"
        if self.state == "building":
            cur = self.steps.get(self.step, "")
            t = Text("building ", style="bold")
            t.append(f"{what} from {self.context}  ")
            t.append(f"#{self.step} {cur}" if self.step else "starting…", style="dim")
            t.append(f"  {time.monotonic() - self.t0:.0f}s", style="dim")
        elif self.state == "done":
            t = Text("built ", style="bold green")
            t.append(f"{what} ({self.image_id[7:19] if self.image_id else '?'}) in {self.elapsed:.1f}s, "
                     f"{len(self.cached)} of {len(self.steps)} steps cached")
        else:
            t = Text("failed", style="bold red")
            if self.exit_code is not None:
                t.append(f" (exit code {self.exit_code})", style="red")
            t.append(f": {what} from {self.context}, at #{self.step} {self.steps.get(self.step, '')}")
        return t


class BuildLogScreen(Screen):
    """Esc closes the view; the build goes on (`b` on the images pane shows it again while it runs)."""

    DEFAULT_CSS = """
    BuildLogScreen { layout: vertical; }
    BuildLogScreen > #build-status { height: 1; padding: 0 1; background: $panel; }
    BuildLogScreen > RichLog { height: 1fr; border: round $border; background: $surface; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close (the build goes on)", id="buildlog.close"),
        Binding("g", "top", "Top", show=False, id="nav.top"),
        Binding("G", "bottom", "End", show=False, id="buildlog.end"),
    ]

    def __init__(self, run: BuildRun) -> None:
        super().__init__()
        self.build_run = run
        self._index = 0

    def compose(self):
        yield Static(id="build-status")
        log = RichLog(id="build-log", wrap=False, highlight=False, markup=False, max_lines=MAX_LINES)
        log.border_title = "Build log"
        yield log
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(RichLog).focus()
        self.drain()
        self.set_interval(0.25, self.drain)

    def drain(self) -> None:
        lines, self._index = self.build_run.since(self._index)
        log = self.query_one(RichLog)
        for line in lines:
            log.write(line)
        self.query_one("#build-status", Static).update(self.build_run.status())

    def action_close(self) -> None:
        self.dismiss(None)

    def action_top(self) -> None:
        self.query_one(RichLog).scroll_home(animate=False)

    def action_bottom(self) -> None:
        self.query_one(RichLog).scroll_end(animate=False)
