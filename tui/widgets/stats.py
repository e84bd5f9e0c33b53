"""The stats tab: CPU and memory sparklines over the last minutes, pids, net
and block I/O. Fed by the app's refresh (one Engine.stats per tick for the
selected running container), never by its own engine calls."""
from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Sparkline, Static

from .format import human_size

HISTORY = 300   # samples kept per container: five minutes at one a second


class StatsHistory:
    """The last samples of one container."""

    def __init__(self) -> None:
        self.cpu: deque = deque(maxlen=HISTORY)
        self.mem: deque = deque(maxlen=HISTORY)
        self.last = None

    def add(self, st) -> None:
        if self.last is not None:   # the first sample has no CPU % (it needs a previous one)
            self.cpu.append(st.cpu_percent)
        self.mem.append(st.memory_usage)
        self.last = st


class StatsPane(Vertical):
    DEFAULT_CSS = """
    StatsPane { height: 1fr; padding: 0 1; }
    StatsPane > .label { height: 1; }
    StatsPane > Sparkline { height: 1fr; min-height: 2; max-height: 10; margin-bottom: 1; }
    StatsPane.empty > Sparkline { display: none; }
    StatsPane > #stats-cpu > .sparkline--max-color { color: $error; }
    StatsPane > #stats-cpu > .sparkline--min-color { color: $success; }
    StatsPane > #stats-mem > .sparkline--max-color { color: $warning; }
    StatsPane > #stats-mem > .sparkline--min-color { color: $primary; }
    StatsPane > #stats-io { height: auto; }
    """

    def compose(self):
        yield Static("", id="stats-cpu-label", classes="label")
        yield Sparkline([], id="stats-cpu")
        yield Static("", id="stats-mem-label", classes="label")
        yield Sparkline([], id="stats-mem")
        yield Static("select a running container", id="stats-io")

    def show(self, name: str | None, hist: StatsHistory | None, interval: float, status: str = "") -> None:
        cpu_l = self.query_one("#stats-cpu-label", Static)
        mem_l = self.query_one("#stats-mem-label", Static)
        io = self.query_one("#stats-io", Static)
        cpu_s = self.query_one("#stats-cpu", Sparkline)
        mem_s = self.query_one("#stats-mem", Sparkline)
        self.set_class(hist is None or hist.last is None, "empty")
        if hist is None or hist.last is None:
            cpu_l.update("")
            mem_l.update("")
            cpu_s.data = []
            mem_s.data = []
            io.update(Text(f"{name}: {status}, no numbers" if name else "select a running container", style="dim"))
            return
        st = hist.last
        span = len(hist.mem) * interval
        window = f"last {int(span // 60)}m{int(span % 60):02d}s" if span >= 60 else f"last {int(span)}s"
        cpu_now = f"{hist.cpu[-1]:.1f}%" if hist.cpu else "-"
        cpu_max = f"{max(hist.cpu):.1f}%" if hist.cpu else "-"
        cpu_l.update(Text.assemble(("CPU ", "bold"), cpu_now, (f"   max {cpu_max}   {window}", "dim")))
        limit = human_size(st.memory_limit) if st.memory_limit else "-"
        mem_l.update(Text.assemble(("MEM ", "bold"), f"{human_size(st.memory_usage)} / {limit}",
                                   (f"   max {human_size(max(hist.mem))}   {window}", "dim")))
        cpu_s.data = list(hist.cpu) or [0.0]
        mem_s.data = [float(x) for x in hist.mem]
        io.update(Text.assemble(
            ("PIDS ", "bold"), str(st.pids), "   ",
            ("NET ", "bold"), f"rx {human_size(st.net_rx)}  tx {human_size(st.net_tx)}", "   ",
            ("BLOCK ", "bold"), f"read {human_size(st.block_read)}  write {human_size(st.block_write)}"))
