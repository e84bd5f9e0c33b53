"""The TUI driven by Textual's pilot against the real engine (temporary root,
real containers): every action, marks and bulk actions, filters, the detail
tabs, errors as notifications, live changes from another process."""
import io
import time

import pytest

from engine.containers.options import RunOptions
from tests.conftest import run_cli
from tests.integration.test_tui_helpers import (
    CHATTY,
    SLEEPER,
    remove_all_containers,
    rootfs_tar,
    run,
    sample_images,
    status,
    until,
)
from tui.app import DockyardApp
from tui.dialogs.commit import CommitDialog
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.paths import ImportDialog, SaveDialog
from tui.dialogs.run import RunDialog
from tui.dialogs.tag import TagDialog
from tui.screens.help import HelpScreen
from tui.widgets.inspect import InspectTree
from tui.widgets.layers import FileTree, LayerList, LayersPane
from tui.widgets.logs import LogLines
from tui.widgets.stats import StatsPane

SIZE = (120, 40)


@pytest.fixture
def eng(engine, starter):
    yield engine
    remove_all_containers(engine)


def running(eng, name, cmd=SLEEPER):
    cid = eng.create_container(RunOptions(image="localhost/busybox", name=name, command=cmd))
    eng.start_container(cid)
    return cid


def errors(app) -> list[str]:
    return [str(n.message) for n in app._notifications if n.severity == "error"]


def messages(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def select_container(app, pilot, cid):
    t = app.containers_table
    await until(pilot, lambda: cid in t.shown, what=f"container {cid[:12]} in the list")
    t.focus()
    t.select_key(cid)
    await pilot.pause(0.05)
    assert t.cursor_key == cid


async def select_image(app, pilot, name):
    t = app.images_table
    await until(pilot, lambda: any(k.endswith("|" + name) for k in t.shown), what=f"image {name}")
    t.focus()
    t.select_key(next(k for k in t.shown if k.endswith("|" + name)))
    await pilot.pause(0.05)


def test_layout_both_sizes(eng):
    cid = running(eng, "web")

    async def go(size):
        app = DockyardApp(eng, refresh_interval=0.2)
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda: app.containers_table.shown and app.images_table.shown)
            assert app.query_one("#main").has_class("narrow") == (size[0] < 120)
            row = app.containers_table.cells[cid]
            assert row[1][0] == "web" and row[2][0] == "localhost/busybox" and row[3] == ("running", "success")
            await until(pilot, lambda: app.containers_table.cells[cid][5][0].endswith("%"), what="a CPU figure")
            top = str(app.query_one("#topbar").render())
            assert "1/1 containers running" in top and "1 image" in top
            # every pane is on screen, none is squeezed away
            for sel in ("#containers", "#images", "#detail"):
                w = app.query_one(sel)
                assert w.region.height >= 3 and w.region.width >= 40, (sel, w.region)
            await pilot.press("q")
    run(go((80, 24)))
    run(go((160, 48)))
    assert status(eng, cid) == "running"   # q leaves containers running


def test_run_dialog_runs_a_container(eng):
    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await select_image(app, pilot, "localhost/busybox:latest")
            await pilot.press("r")
            dlg = await until(pilot, lambda: isinstance(app.screen, RunDialog) and app.screen)
            await pilot.press(*"web1")
            await pilot.press("tab")
            dlg.query_one("#command").value = "sh -c 'trap \"exit 0\" TERM; while true; do sleep 0.1; done'"
            dlg.query_one("#env").value = "A=1 B='two words'"
            await pilot.press("ctrl+s")
            c = await until(pilot, lambda: next((c for c in eng.containers() if c.name == "web1"
                                                 and c.status == "running"), None), what="web1 running")
            assert eng.inspect_container(c.id)["Config"]["Env"][-2:] == ["A=1", "B=two words"] or \
                {"A=1", "B=two words"} <= set(eng.inspect_container(c.id)["Config"]["Env"])
            # the new container is selected in the containers pane
            await until(pilot, lambda: app.containers_table.cursor_key == c.id and app.focused is app.containers_table,
                        what="the new container selected")
            # -it in a terminal that cannot hand over: started detached, said so
            await select_image(app, pilot, "localhost/busybox:latest")
            await pilot.press("r")
            dlg = await until(pilot, lambda: isinstance(app.screen, RunDialog) and app.screen)
            dlg.query_one("#name").value = "web2"
            dlg.query_one("#command").value = "sleep 30"
            dlg.query_one("#it").value = True
            dlg.query_one("#rm").value = True
            await pilot.press("ctrl+s")
            await until(pilot, lambda: status(eng, "web2") == "running", what="web2 running")
            await until(pilot, lambda: any("detached" in m for m in messages(app)), what="the detached note")
            # the app selects the new container by itself: let it, before going back to the images
            await until(pilot, lambda: app.containers_table.cursor_key == eng.container("web2").id
                        and app.focused is app.containers_table, what="web2 selected")
            # a bad command line in the dialog is refused there
            await select_image(app, pilot, "localhost/busybox:latest")
            await pilot.press("r")
            dlg = await until(pilot, lambda: isinstance(app.screen, RunDialog) and app.screen)
            dlg.query_one("#command").value = "sh -c 'unclosed"
            await pilot.press("ctrl+s")
            await pilot.pause(0.1)
            assert isinstance(app.screen, RunDialog)
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, RunDialog))
    run(go())


def test_container_lifecycle_keys(eng):
    cid = running(eng, "life")

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await select_container(app, pilot, cid)
            await pilot.press("s")
            await until(pilot, lambda: status(eng, cid) == "exited", what="stopped")
            await until(pilot, lambda: app.containers_table.items[cid].status == "exited", what="the pane shows it")
            await pilot.press("u")
            await until(pilot, lambda: status(eng, cid) == "running", what="started")
            started = eng.container(cid).started_at
            await pilot.press("r")
            await until(pilot, lambda: status(eng, cid) == "running" and eng.container(cid).started_at != started,
                        what="restarted")
            await pilot.press("p")
            await until(pilot, lambda: status(eng, cid) == "paused", what="paused")
            await until(pilot, lambda: app.containers_table.cells[cid][3][0] == "paused")
            await pilot.press("p")
            await until(pilot, lambda: status(eng, cid) == "running", what="unpaused")
            await pilot.press("K")
            await until(pilot, lambda: status(eng, cid) == "exited", what="killed")
            assert eng.container(cid).exit_code == 137
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("n")
            await pilot.pause(0.2)
            assert status(eng, cid) == "exited"
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("y")
            await until(pilot, lambda: status(eng, cid) is None, what="removed")
            await until(pilot, lambda: cid not in app.containers_table.items, what="gone from the pane")
    run(go())


def test_remove_running_container_and_prune(eng):
    a = running(eng, "alive")
    b = eng.create_container(RunOptions(image="localhost/busybox", name="never-started", command=["true"]))

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await select_container(app, pilot, a)
            await pilot.press("P")
            dlg = await until(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen)
            await pilot.press("y")
            await until(pilot, lambda: status(eng, b) is None, what="pruned")
            assert status(eng, a) == "running"
            await pilot.press("d")
            dlg = await until(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen)
            assert any("running" in str(s.render()) for s in dlg.query(".warn"))
            await pilot.press("y")
            await until(pilot, lambda: status(eng, a) is None, what="removed while running")
    run(go())


def test_marks_and_bulk_stop(eng):
    ids = [running(eng, f"bulk{i}") for i in range(3)]
    other = running(eng, "unmarked")

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            t = app.containers_table
            await until(pilot, lambda: all(i in t.shown for i in ids + [other]))
            t.focus()
            for cid in ids:
                t.select_key(cid)
                await pilot.press("space")
            assert t.marked == set(ids)
            assert "3 marked" in app.query_one("#containers-pane").border_title
            assert all(t.cells[i][0][0] == "●" for i in ids)
            await pilot.press("s")
            await until(pilot, lambda: all(status(eng, i) == "exited" for i in ids), what="all three stopped")
            assert status(eng, other) == "running"
            await pilot.press("escape")     # esc clears the marks
            assert not t.marked
    run(go())


def test_filter_each_list(eng):
    running(eng, "alpha-one")
    running(eng, "beta-two")
    eng.import_image(io.BytesIO(rootfs_tar({"x": b"y"})), "filtered/thing:1")

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            t = app.containers_table
            await until(pilot, lambda: len(t.shown) == 2)
            t.focus()
            await pilot.press("slash", *"beta")
            await until(pilot, lambda: len(t.shown) == 1)
            assert t.items[t.shown[0]].name == "beta-two"
            await pilot.press("enter")
            assert app.focused is t and t.filter_text == "beta"
            await pilot.pause(0.7)                          # refreshes keep the filter
            assert len(t.shown) == 1
            await pilot.press("slash")
            await pilot.press("escape")                     # esc in the box clears it
            assert t.filter_text == "" and len(t.shown) == 2
            it = app.images_table
            it.focus()
            await pilot.press("slash", *"thing", "enter")
            assert [k.split("|")[1] for k in it.shown] == ["filtered/thing:1"]
            await pilot.press("escape")                     # esc on the table clears it too
            assert it.filter_text == "" and len(it.shown) == 2
    run(go())


def test_image_actions_tag_remove_prune(eng):
    eng.import_image(io.BytesIO(rootfs_tar({"a": b"1"})), "scratchy:1")
    dangling = eng.import_image(io.BytesIO(rootfs_tar({"b": b"2"})), None)
    user = eng.create_container(RunOptions(image="localhost/busybox", name="user-of-busybox", command=["true"]))

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: any(k.endswith("|<none>") for k in app.images_table.shown))
            assert app.images_table.cells[f"{dangling}|<none>"][1][0].startswith("<none>:<none>")
            await select_image(app, pilot, "scratchy:1")
            await pilot.press("t")
            await until(pilot, lambda: isinstance(app.screen, TagDialog))
            await pilot.press(*"scratchy:2", "enter")
            await until(pilot, lambda: "scratchy:2" in eng.image("scratchy:1").tags, what="tagged")
            await select_image(app, pilot, "scratchy:2")
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("y")
            await until(pilot, lambda: eng.image("scratchy:1").tags == ["scratchy:1"], what="untagged")
            # an image a container uses: the dialog names the container; without force the engine refuses
            await select_image(app, pilot, "localhost/busybox:latest")
            await pilot.press("d")
            dlg = await until(pilot, lambda: isinstance(app.screen, ConfirmDialog) and app.screen)
            assert any("user-of-busybox" in str(s.render()) for s in dlg.query(".warn"))
            await pilot.press("y")
            await until(pilot, lambda: errors(app), what="the refusal as a notification")
            assert eng.image("localhost/busybox")
            # prune: dangling images go
            await pilot.press("P")
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("y")
            await until(pilot, lambda: all(i.id != dangling for i in eng.images()), what="pruned")
            await until(pilot, lambda: not any(k.endswith("|<none>") for k in app.images_table.items))
    run(go())
    eng.remove_container(user, force=True)


def test_import_and_save(eng, tmp_path):
    src = tmp_path / "rootfs.tar"
    src.write_bytes(rootfs_tar({"hello.txt": b"hi"}))
    archive = tmp_path / "bb.tar"
    layers = tmp_path / "layers.tar"
    layers.write_bytes(sample_images())

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await select_image(app, pilot, "localhost/busybox:latest")
            await pilot.press("S")
            dlg = await until(pilot, lambda: isinstance(app.screen, SaveDialog) and app.screen)
            dlg.query_one("#path").value = str(archive)
            await pilot.press("ctrl+s")
            await until(pilot, lambda: archive.exists() and archive.stat().st_size > 1000, what="saved")
            await pilot.press("i")
            dlg = await until(pilot, lambda: isinstance(app.screen, ImportDialog) and app.screen)
            dlg.query_one("#path").value = str(src)
            dlg.query_one("#ref").value = "imported/rootfs:1"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: any("imported/rootfs:1" in k for k in app.images_table.shown), what="imported")
            await pilot.press("i")
            dlg = await until(pilot, lambda: isinstance(app.screen, ImportDialog) and app.screen)
            dlg.query_one("#path").value = str(layers)
            dlg.query_one("#how-load").value = True
            await pilot.press("ctrl+s")
            await until(pilot, lambda: any("example.com/app:latest" in k for k in app.images_table.shown),
                        what="loaded")
            # a path that is not there is refused in the dialog
            await pilot.press("i")
            dlg = await until(pilot, lambda: isinstance(app.screen, ImportDialog) and app.screen)
            dlg.query_one("#path").value = str(tmp_path / "nope.tar")
            await pilot.press("ctrl+s")
            await pilot.pause(0.1)
            assert isinstance(app.screen, ImportDialog)
            await pilot.press("escape")
    run(go())
    import tarfile
    with tarfile.open(archive) as t:
        assert "manifest.json" in t.getnames()


def test_commit_selects_the_new_image_and_its_layer(eng):
    cid = running(eng, "box", ["sh", "-c", "echo made > /made-here; trap 'exit 0' TERM; while true; do sleep 0.1; done"])

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await select_container(app, pilot, cid)
            await until(pilot, lambda: any(p == "/made-here" for _, p in eng.container_diff(cid)), what="the file")
            await pilot.press("c")
            dlg = await until(pilot, lambda: isinstance(app.screen, CommitDialog) and app.screen)
            assert dlg.query_one("#ref").value == "localhost/box:latest"
            assert "box" in dlg.query_one("#message").value
            dlg.query_one("#changes").text = 'ENV COMMITTED=yes\nCMD ["sh"]'
            await pilot.press("ctrl+s")
            img = await until(pilot, lambda: next((i for i in eng.images() if "localhost/box:latest" in i.tags), None),
                              what="the committed image")
            cfg = eng.inspect_image(img.id)["Config"]
            assert "COMMITTED=yes" in cfg["Env"] and cfg["Cmd"] == ["sh"]
            # selected in the images pane, its top layer in the layer tree
            await until(pilot, lambda: app.subject and app.subject[0] == "image" and app.subject[1] == img.id,
                        what="the new image selected")
            pane = app.query_one(LayersPane)
            await until(pilot, lambda: pane.ltree is not None and pane.model is not None
                        and pane.cur_layer == len(pane.ltree.layers) - 1, what="its top layer chosen")
            names = [e.name for e in pane.model.children("")]
            assert "made-here" in names
            # the commit dialog refuses an unknown instruction
            await select_container(app, pilot, cid)
            await pilot.press("c")
            dlg = await until(pilot, lambda: isinstance(app.screen, CommitDialog) and app.screen)
            dlg.query_one("#changes").text = "RUN rm -rf /"
            await pilot.press("ctrl+s")
            await pilot.pause(0.1)
            assert isinstance(app.screen, CommitDialog)
            await pilot.press("escape")
    run(go())


def test_logs_tab_follow_search_wrap_timestamps(eng):
    cid = running(eng, "chatty", CHATTY)

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await select_container(app, pilot, cid)
            await pilot.press("2")
            lines = app.query_one(LogLines)
            await until(pilot, lambda: len(lines.entries) >= 10, what="log lines")
            n = len(lines.entries)
            await until(pilot, lambda: len(lines.entries) > n + 3, what="more lines, followed")
            assert any(e[0] == "stderr" for e in lines.entries)
            lines.focus()
            await pilot.press("slash", *"line 3", "enter")
            assert lines.search == "line 3" and lines.match_rows and lines.current_match == 0
            assert not lines.follow                     # looking at a match stops the follow
            await pilot.press("n")
            await pilot.press("w")
            assert lines.wrap
            await pilot.press("t")
            assert lines.timestamps and lines._line(0).startswith(lines.entries[0][1])
            await pilot.press("G")
            assert lines.follow
            await pilot.press("escape")                 # clears the search
            assert lines.search == ""
            await pilot.press("escape")                 # back to the list
            assert app.focused is app.containers_table
            # the container stops: the pane says so, the lines stay
            eng.stop_container(cid)
            await until(pilot, lambda: "not running" in str(app.query_one("#log-status").render()), what="not running")
            assert lines.entries
    run(go())


def test_stats_and_inspect_tabs(eng):
    cid = running(eng, "numbers", ["sh", "-c", "trap 'exit 0' TERM; while true; do :; done"])

    async def go():
        app = DockyardApp(eng, refresh_interval=0.2)
        async with app.run_test(size=SIZE) as pilot:
            await select_container(app, pilot, cid)
            tree = app.query_one(InspectTree)
            await until(pilot, lambda: tree.doc and tree.doc.get("Id") == cid, what="inspect")
            labels = [str(n.label) for n in tree.root.children]
            assert any(l.startswith("State") for l in labels) and any(l.startswith("Config") for l in labels)
            await pilot.press("3")
            await until(pilot, lambda: len(app.hist[cid].cpu) >= 3, what="CPU samples")
            await pilot.pause(0.3)
            pane = app.query_one(StatsPane)
            from textual.widgets import Sparkline
            assert len(pane.query_one("#stats-cpu", Sparkline).data) >= 3
            assert max(app.hist[cid].cpu) > 20          # a busy loop shows
            assert "PIDS" in str(pane.query_one("#stats-io").render())
            # images have no logs or stats
            await select_image(app, pilot, "localhost/busybox:latest")
            await pilot.pause(0.1)
            assert app.query_one("TabbedContent").active == "inspect"
            await until(pilot, lambda: tree.doc and tree.doc.get("Id", "").startswith("sha256:"), what="image inspect")
    run(go())


def test_layer_tree_tab(eng):
    eng.load(io.BytesIO(sample_images()))

    async def go():
        app = DockyardApp(eng, refresh_interval=0.5)
        async with app.run_test(size=SIZE) as pilot:
            await select_image(app, pilot, "example.com/app:2.1")
            await pilot.press("4")
            pane = app.query_one(LayersPane)
            await until(pilot, lambda: pane.ltree is not None and pane.model is not None, what="the layer tree")
            assert app.query_one(LayerList).row_count == 2 and pane.cur_layer == 1
            info = str(pane.query_one("#layers-info").render())
            assert "efficiency 89.9%" in info and "wasted 888B" in info
            kids = {e.name: e for e in pane.model.children("")}
            assert kids["app"].kind == "A" and kids["etc"].kind == "M" and "bin" not in kids
            etc = {e.name: e.kind for e in pane.model.children("/etc")}
            assert etc == {"config": "M", "motd": "R"}
            # files tree: unfold all, then the merged view, then a filter
            app.query_one(LayerList).focus()
            await pilot.press("enter")
            assert app.focused is app.query_one(FileTree)
            await pilot.press("E")
            await until(pilot, lambda: len(app.query_one(FileTree).root.children[0].children) > 0)
            await pilot.press("v")
            await until(pilot, lambda: pane.view_mode == "merged" and pane.model and pane.model.merged is not None)
            assert {e.name for e in pane.model.children("")} >= {"app", "bin", "etc", "usr"}
            assert "motd" not in {e.name for e in pane.model.children("/etc")}
            await pilot.press("v")
            await until(pilot, lambda: pane.view_mode == "wasted" and pane.model and pane.model.merged is None)
            assert [e.path for e in pane.model.children("")][:1] == ["/etc/config"]
            await pilot.press("v", "slash", *"main")
            await until(pilot, lambda: pane.file_filter == "main" and pane.model and pane.model.count == 1)
            await pilot.press("escape")
            assert pane.file_filter == ""
            # the layer below: its own changes
            app.query_one(LayerList).focus()
            await pilot.press("k")
            await until(pilot, lambda: pane.cur_layer == 0 and pane.model and pane.model.count == 9)
    run(go())


def test_errors_become_notifications(eng, monkeypatch):
    cid = eng.create_container(RunOptions(image="localhost/busybox", name="stopped-one", command=["true"]))

    async def go():
        app = DockyardApp(eng, refresh_interval=0.2)
        async with app.run_test(size=SIZE) as pilot:
            await select_container(app, pilot, cid)
            await pilot.press("a")                       # attach to a container that is not running
            await until(pilot, lambda: any("attach" in m for m in messages(app)))
            await pilot.press("p")                       # pause a container that is not running
            await until(pilot, lambda: errors(app), what="an error notification")
            # the engine failing under the refresh: one notification, the app goes on
            def broken():
                raise OSError("the disk is on fire")
            monkeypatch.setattr(eng, "images", broken)
            await until(pilot, lambda: any("on fire" in m for m in errors(app)), what="the refresh error")
            await pilot.pause(0.6)
            assert sum("on fire" in m for m in errors(app)) == 1
            monkeypatch.undo()
            await pilot.pause(0.5)
            assert app.is_running
    run(go())


def test_cli_changes_show_within_a_second(eng):
    async def go():
        app = DockyardApp(eng)                           # the default interval: 1 s
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.images_table.shown)
            t0 = time.monotonic()
            cid = run_cli("run", "-d", "--name", "from-cli", "busybox", *SLEEPER, root=eng.root).stdout.decode().strip()
            t1 = time.monotonic()
            await until(pilot, lambda: cid in app.containers_table.items, timeout=5, what="the CLI's container")
            assert time.monotonic() - t1 < 1.6, "seen later than a tick after the CLI returned"
            run_cli("rm", "-f", cid, root=eng.root)
            await until(pilot, lambda: cid not in app.containers_table.items, timeout=5)
            assert t0
    run(go())


def test_help_palette_and_keys(eng):
    async def go():
        app = DockyardApp(eng, refresh_interval=0.5)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen))
            n = app._poll_count
            await until(pilot, lambda: app._poll_count >= n + 2, what="refreshes under a dialog")
            assert not errors(app)
            groups = dict(app.key_groups())
            assert ("s", "Stop", "container.stop") in groups[
                "Containers pane (marked rows, else the one under the cursor)"]
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
            titles = [t for t, _, _ in app.palette_actions()]
            for want in ("Container: stop", "Container: commit", "Image: run", "Image: save", "Image: prune"):
                assert want in titles
            # tab cycles the panes
            app.containers_table.focus()
            await pilot.press("tab")
            assert app.focused is app.images_table
            await pilot.press("tab")
            assert app.focused is app.query_one(InspectTree)
            await pilot.press("tab")
            assert app.focused is app.containers_table
            await pilot.press("shift+tab")
            assert app.focused is app.query_one(InspectTree)
            await pilot.press("escape")
            assert app.focused is app.containers_table
    run(go())
