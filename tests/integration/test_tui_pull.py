"""The TUI's pull dialog (p in the images pane), driven by Textual's pilot
against the real engine and a real registry on 127.0.0.1: a pulled image
appears in the pane, selected; a wrong name shows the engine's message in the
dialog; esc while a blob is on its way stops the pull and leaves the store as
it was."""
import asyncio
import json
import os

from rich.text import Text
from textual.widgets import DataTable, Static

from tests.integration import layered_registry
from tests.integration.layered_registry import SlowBlob
from tests.integration.test_tui_helpers import until
from tui.app import DockyardApp
from tui.dialogs.pull import TransferDialog

layered, no_docker_config = layered_registry.layered, layered_registry.no_docker_config   # fixtures


def _rows(app) -> list[str]:
    t = app.query_one("#images", DataTable)
    return [str(t.get_row_at(i)[1]) for i in range(t.row_count)]


def _text(dialog, sel: str) -> str:
    w = dialog.query_one(sel, Static)
    r = w.render()
    return r.plain if isinstance(r, Text) else str(r)


async def _open(app, pilot, ref: str, platform: str = "") -> TransferDialog:
    await until(pilot, lambda: "localhost/busybox:latest" in _rows(app), what="the starter image")
    app.images_table.focus()
    await pilot.press("p")
    dialog = await until(pilot, lambda: isinstance(app.screen, TransferDialog) and app.screen, what="the dialog")
    await pilot.press(*ref)
    await pilot.press("enter")       # to the platform field
    if platform:
        await pilot.press(*platform)
    await pilot.press("enter")       # the last field: accept
    return dialog


def test_pull_through_the_dialog_shows_the_image(engine, starter, layered):
    image = layered["image"]

    async def run():
        app = DockyardApp(engine, refresh_interval=0.2)
        async with app.run_test(size=(120, 36)) as pilot:
            dialog = await _open(app, pilot, image["ref"], "linux/amd64")
            await until(pilot, lambda: dialog.state == "done", 60, "the pull")
            await until(pilot, lambda: image["ref"] in _rows(app), what="the pulled image in the pane")
            table = app.images_table
            await until(pilot, lambda: str(table.get_row_at(table.cursor_row)[1]) == image["ref"],
                        what="the pulled image selected")
            assert set(dialog.rows) == set(image["shorts"])   # one row per layer
            await pilot.press("q")
    asyncio.run(run())
    assert engine.image(image["ref"]).id == image["image_id"]
    assert engine.check().ok


def test_a_wrong_name_shows_the_engines_error(engine, starter, layered):
    reg = layered["reg"]
    ref = f"{reg.host}/x/layered:nope"

    async def run():
        app = DockyardApp(engine, refresh_interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            dialog = await _open(app, pilot, ref)
            await until(pilot, lambda: dialog.state == "failed", 60, "the error")
            assert f"manifest for {ref} not found: manifest unknown" in _text(dialog, "#error")
            assert app.screen is dialog                        # it stays until esc
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, TransferDialog), what="the dialog closed")
            assert ref not in _rows(app)
            await pilot.press("q")
    asyncio.run(run())


def test_an_empty_name_is_refused_and_esc_closes(engine, starter):
    async def run():
        app = DockyardApp(engine, refresh_interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            dialog = await _open(app, pilot, "")
            assert app.screen is dialog and dialog.state == "asking"
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, TransferDialog), what="the dialog closed")
            await pilot.press("q")
    asyncio.run(run())


def test_esc_stops_a_pull_and_leaves_the_store_as_it_was(engine, starter, layered):
    reg, image = layered["reg"], layered["image"]
    big = json.loads(reg.get_manifest("x/layered", "1")[0])["layers"][1]["digest"]
    proxy = SlowBlob(reg, big)
    ref = f"{proxy.host}/x/layered:1"
    try:
        async def run():
            app = DockyardApp(engine, refresh_interval=0.2)
            async with app.run_test(size=(120, 36)) as pilot:
                dialog = await _open(app, pilot, ref)
                await until(pilot, lambda: proxy.half_sent.is_set() and image["shorts"][1] in dialog.rows,
                            60, "the big layer on its way")
                await until(pilot, lambda: "Downloading" in str(dialog.rows[image["shorts"][1]].render()),
                            30, "its bar")
                await pilot.press("escape")
                assert dialog.cancel.is_set()
                proxy.go.set()   # the proxy may go on: the pull has stopped reading
                await until(pilot, lambda: not isinstance(app.screen, TransferDialog), 60, "the dialog closed")
                assert dialog.state == "cancelled"
                assert ref not in _rows(app)
                await pilot.press("q")
        asyncio.run(run())
    finally:
        proxy.go.set()
        proxy.stop()
    assert [i.id for i in engine.images()] == [starter]
    rep = engine.check()   # layers that were complete may stay (notes: a collection removes them), as `check` says
    assert rep.ok, rep.problems
    assert os.listdir(os.path.join(engine.root, "tmp")) == []


def test_push_the_selected_tag_under_another_name(engine, starter, layered):
    import hashlib
    reg = layered["reg"]
    target = f"{reg.host}/x/pushed:1"

    async def run():
        app = DockyardApp(engine, refresh_interval=0.2)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(pilot, lambda: "localhost/busybox:latest" in _rows(app), what="the starter image")
            app.images_table.focus()
            await pilot.press("u")
            dialog = await until(pilot, lambda: isinstance(app.screen, TransferDialog) and app.screen, what="dialog")
            assert dialog.query_one("#ref").value == "localhost/busybox:latest"   # prefilled with the tag
            await pilot.press("ctrl+u", *target, "enter")
            await until(pilot, lambda: dialog.state == "done", 60, "the push")
            await until(pilot, lambda: target in _rows(app), what="the new tag in the pane")
            assert dialog.rows and all("Pushed" in str(r.render()) or "exists" in str(r.render())
                                       for r in dialog.rows.values())
            await pilot.press("q")
            return dialog
    dialog = asyncio.run(run())
    data, _ = reg.get_manifest("x/pushed", "1")
    assert "sha256:" + hashlib.sha256(data).hexdigest() == dialog.result_value
