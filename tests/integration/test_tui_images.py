"""The TUI's images pane, driven by Textual's pilot against the real engine."""
import asyncio
import io

from textual.widgets import DataTable

from tests.integration.test_images import rootfs_tar
from tui.app import DockyardApp


async def _wait_rows(app, pilot, n: int):
    table = app.query_one("#images", DataTable)
    for _ in range(100):
        await pilot.pause(0.05)
        if table.row_count == n:
            return table
    raise AssertionError(f"table has {table.row_count} rows, expected {n}")


def test_images_pane_lists_and_follows_changes(engine, starter):
    async def run():
        app = DockyardApp(engine, refresh_interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            table = await _wait_rows(app, pilot, 1)
            assert [str(c) for c in table.get_row_at(0)[1:3]] == ["localhost/busybox:latest", starter[7:19]]
            # with no container yet, the images pane has the focus
            assert app.focused is table
            # A change made elsewhere (here: another engine call) shows up by itself.
            engine.import_image(io.BytesIO(rootfs_tar({"x": b"y"})), "other:2")
            table = await _wait_rows(app, pilot, 2)
            assert {str(table.get_row_at(i)[1]) for i in range(2)} == {"localhost/busybox:latest", "other:2"}
            # the cursor stayed on the same image though the new one came first
            assert str(table.get_row_at(table.cursor_row)[1]) == "localhost/busybox:latest"
            await pilot.press("g")
            assert table.cursor_row == 0
            await pilot.press("j")
            assert table.cursor_row == 1
            await pilot.press("k")
            assert table.cursor_row == 0
            await pilot.press("q")
        assert app.return_code in (0, None)
    asyncio.run(run())
