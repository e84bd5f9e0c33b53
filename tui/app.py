"""The Textual app. For now: the images pane, kept live; the full pane set
(containers, layer tree, consoles) grows on this."""
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from engine import Engine, ImageSummary

from .fmt import ago, human_size


class DockyardApp(App):
    TITLE = "dockyard"
    CSS = """
    #status { height: 1; padding: 0 1; color: $text-muted; }
    DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("r", "refresh", "Refresh"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def __init__(self, engine: Engine, refresh_interval: float = 1.0):
        super().__init__()
        self.engine = engine
        self.refresh_interval = refresh_interval

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="status")
        table = DataTable(id="images", cursor_type="row", zebra_stripes=True)
        table.add_columns("REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE", "SHARED")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.engine.root
        self.query_one(DataTable).focus()
        self.load_images()
        self.set_interval(self.refresh_interval, self.load_images)

    def action_refresh(self) -> None:
        self.load_images()

    def action_cursor_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()

    @work(thread=True, exclusive=True, group="images")
    def load_images(self) -> None:
        # Engine calls are blocking: they run in a worker thread, never on the event loop.
        try:
            images = self.engine.images()
        except Exception as e:  # an engine error is a notification, never a crash
            self.call_from_thread(self.notify, str(e), severity="error")
            return
        self.call_from_thread(self._show_images, images)

    def _show_images(self, images: list[ImageSummary]) -> None:
        table = self.query_one(DataTable)
        rows = []
        for img in images:
            for name in img.tags or ["<none>:<none>"]:
                repo, _, tag = name.rpartition(":")
                rows.append((f"{img.id}|{name}", repo, tag, img.short_id, ago(img.created_ts),
                             human_size(img.size), human_size(img.shared_size)))
        keys = [r[0] for r in rows]
        current = [str(k.value) for k in table.rows]
        if keys != current:
            selected = table.cursor_row
            table.clear()
            for key, *cells in rows:
                table.add_row(*cells, key=key)
            if rows:
                table.move_cursor(row=min(selected, len(rows) - 1))
        else:
            for key, *cells in rows:
                table.update_cell(key, table.ordered_columns[3].key, cells[3])
        self.query_one("#status", Static).update(f"{len(images)} images  ·  root {self.engine.root}")


def run_app(root: str | None) -> int:
    engine = Engine(root)
    made = engine.ensure_starter_image()
    app = DockyardApp(engine)
    if made:
        app.call_later(lambda: app.notify("made the starter image localhost/busybox:latest"))
    app.run()
    engine.close()
    return 0
