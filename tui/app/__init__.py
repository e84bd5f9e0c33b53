"""The Textual app: a header line, the containers and images panes, and a
detail area with tabs for the selection (inspect, logs, stats, layer tree).

Live and never blocked: every engine call runs in a worker thread; a timer
(refresh_interval, 1 s by default) makes one images() and one containers()
call per tick plus stats for the running containers that are on screen, and
the tables change only the cells that changed. An engine error is a
notification. Keys: docs/keys.md (and `?` in the app).

The parts, each a mixin of DockyardApp (main.py): chrome.py (header line,
list panes), panes.py (polling, the selection and its detail tabs, moving
between panes), palette.py (help and command palette), consoles.py (console
tabs), containers.py, images.py and build.py (the actions)."""
from .chrome import ListPane, TopBar, host_info
from .consoles import TabConsole, detach_chord
from .main import NARROW_WIDTH, DockyardApp, run_app
from .panes import TABS

__all__ = ["DockyardApp", "ListPane", "NARROW_WIDTH", "TABS", "TabConsole", "TopBar", "detach_chord", "host_info",
           "run_app"]
