"""The pull/push progress renderer (tui/cli/progress.py) fed with events and
drawn by a terminal emulator (pyte): what the user sees on the screen."""
import io
from dataclasses import dataclass

import pyte
import pytest

from tui.cli.progress import ProgressPrinter, go_duration, human_size, progress_text


@dataclass
class Ev:
    id: str | None
    status: str
    current: int = 0
    total: int | None = None


class Term(io.StringIO):
    """What the printer writes, played into a pyte screen."""

    def __init__(self, cols: int, rows: int = 24):
        super().__init__()
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.Stream(self.screen)

    def write(self, s: str) -> int:
        # a terminal's line discipline turns \n into \r\n (onlcr)
        self.stream.feed(s.replace("\n", "\r\n"))
        return super().write(s)

    def isatty(self) -> bool:
        return True

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display if line.strip()]


def _printer(cols: int, rows: int = 24) -> tuple[ProgressPrinter, Term]:
    term = Term(cols, rows)
    clock = iter(range(0, 10_000)).__next__   # one second per reading
    return ProgressPrinter(term, columns=lambda: cols, clock=lambda: float(clock())), term


A, B, C = "a1b2c3d4e5f6", "0123456789ab", "fedcba987654"


def test_one_line_per_layer_redrawn_in_place():
    p, term = _printer(120)
    p(Ev(None, "1: Pulling from x/busybox"))
    for i in (A, B, C):
        p(Ev(i, "Pulling fs layer"))
    p(Ev(A, "Downloading", 12_300_000, 45_600_000))
    p(Ev(B, "Already exists"))
    p(Ev(A, "Downloading", 22_800_000, 45_600_000))
    p(Ev(C, "Downloading", 1_000, 2_000))
    lines = term.lines()
    assert lines[0] == "1: Pulling from x/busybox"
    assert len(lines) == 4   # the header and one line per layer, however many events
    assert lines[1].startswith(f"{A}: Downloading [" + "=" * 25 + ">" + " " * 25 + "]   22.8MB/45.6MB")
    assert lines[2] == f"{B}: Already exists"
    assert lines[3].startswith(f"{C}: Downloading [" + "=" * 25 + ">")
    assert lines[3].split("] ")[1].startswith("     1kB/2kB")   # docker's %8v
    p(Ev(A, "Pull complete"))
    p(Ev(C, "Pull complete"))
    p(Ev(None, "Digest: sha256:" + "0" * 64))
    p(Ev(None, "Status: Downloaded newer image for x/busybox:1"))
    assert term.lines() == ["1: Pulling from x/busybox", f"{A}: Pull complete", f"{B}: Already exists",
                            f"{C}: Pull complete", "Digest: sha256:" + "0" * 64,
                            "Status: Downloaded newer image for x/busybox:1"]


def test_bar_fits_a_narrow_terminal_and_no_line_wraps():
    for cols in (80, 60, 40, 30):
        p, term = _printer(cols)
        p(Ev(A, "Pulling fs layer"))
        p(Ev(A, "Downloading", 5_000_000, 10_000_000))
        (line,) = term.lines()
        assert len(line) < cols, (cols, line)   # never the last column: a wrap breaks the cursor moves
        assert line.startswith(f"{A}: Downloading")
        if cols >= 80:
            assert "[" in line and "=>" in line and line.rstrip().endswith(("5MB/10MB", "s"))
    p, term = _printer(40)
    p(Ev(A, "Downloading", 5_000_000, 10_000_000))
    assert "[" not in term.lines()[0]           # no room for a bar: the numbers only
    assert "5MB/10MB" in term.lines()[0]


def test_second_pull_of_pull_all_gets_lines_of_its_own():
    p, term = _printer(100)
    p(Ev(None, "1: Pulling from x/busybox"))
    p(Ev(A, "Pulling fs layer"))
    p(Ev(A, "Pull complete"))
    p(Ev(None, "Status: Downloaded newer image for x/busybox:1"))
    p(Ev(None, "2: Pulling from x/busybox"))
    p(Ev(A, "Already exists"))
    assert term.lines() == ["1: Pulling from x/busybox", f"{A}: Pull complete",
                            "Status: Downloaded newer image for x/busybox:1", "2: Pulling from x/busybox",
                            f"{A}: Already exists"]


def test_push_events_draw_the_same_way():
    p, term = _printer(120)
    p(Ev(None, "The push refers to repository [127.0.0.1:5000/x/busybox]"))
    p(Ev(A, "Preparing"))
    p(Ev(B, "Preparing"))
    p(Ev(A, "Pushing", 3_000_000, 6_000_000))
    p(Ev(B, "Layer already exists"))
    assert term.lines()[1].startswith(f"{A}: Pushing [" + "=" * 25 + ">")
    p(Ev(A, "Pushed"))
    p(Ev(None, "1: digest: sha256:" + "1" * 64 + " size: 528"))
    assert term.lines() == ["The push refers to repository [127.0.0.1:5000/x/busybox]", f"{A}: Pushed",
                            f"{B}: Layer already exists", "1: digest: sha256:" + "1" * 64 + " size: 528"]


def test_lines_below_the_bottom_of_the_screen_scroll_and_still_redraw():
    p, term = _printer(80, rows=5)
    p(Ev(None, "1: Pulling from x/many"))
    ids = [f"{i:012x}" for i in range(6)]
    for i in ids:
        p(Ev(i, "Pulling fs layer"))
    p(Ev(ids[3], "Pull complete"))
    assert term.lines()[-4:] == [f"{ids[2]}: Pulling fs layer", f"{ids[3]}: Pull complete",
                                 f"{ids[4]}: Pulling fs layer", f"{ids[5]}: Pulling fs layer"]


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    p = ProgressPrinter(out)
    assert p.tty is False
    p(Ev(None, "1: Pulling from x/busybox"))
    p(Ev(A, "Pulling fs layer"))
    p(Ev(A, "Downloading", 1_000, 2_000))
    p(Ev(A, "Pushing", 1_000, 2_000))
    p(Ev(A, "Pull complete"))
    p(Ev(B, "Pushed", 0, 2_000))
    assert out.getvalue() == (f"1: Pulling from x/busybox\n{A}: Pulling fs layer\n{A}: Pull complete\n"
                              f"{B}: Pushed\n")
    assert "\x1b" not in out.getvalue()


@pytest.mark.parametrize("n,text", [(0, "0B"), (999, "999B"), (1000, "1kB"), (12_345, "12.35kB"),
                                    (45_600_000, "45.6MB"), (999_950, "1000kB"), (1_234_567_890, "1.235GB")])
def test_sizes_as_go_units_human_size(n, text):
    assert human_size(n) == text


def test_durations_and_progress_text():
    assert [go_duration(s) for s in (0, 45, 90, 3605)] == ["0s", "45s", "1m30s", "1h0m5s"]
    assert progress_text(0, None, 100) == ""
    assert progress_text(2048, None, 100) == " 2.048kB"
    assert progress_text(3, 2, 100).endswith(">]       3B")   # a wonky total: docker shows the current only
    assert progress_text(50, 100, 100, started=0.0, now=10.0).endswith(" 10s")   # time left as docker
