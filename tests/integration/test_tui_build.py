"""The TUI's build (b on the images pane) against the real engine: the dialog
(validation in place), a real build with its live step log, the new image
selected; a rebuild shows CACHED; a failing RUN is an error notification with
its exit code and the log keeps its output; esc closes the log, not the build."""
import re

import pytest

from tests.integration.test_tui_helpers import remove_all_containers, run, until
from tui.app import DockyardApp
from tui.dialogs.build import BuildDialog, parse_build_args, split_tags
from tui.screens.build_log import BuildLogScreen

SIZE = (120, 40)

DOCKERFILE = """\
FROM localhost/busybox:latest
ARG GREETING=hi
COPY hello.txt /hello.txt
RUN sleep 0.3 && echo "$GREETING built" > /built.txt && cat /built.txt && echo second line
CMD ["cat", "/built.txt"]
"""


@pytest.fixture
def eng(engine, starter):
    yield engine
    remove_all_containers(engine)


@pytest.fixture
def ctx(tmp_path):
    c = tmp_path / "ctx"
    c.mkdir()
    (c / "hello.txt").write_text("hello\n")
    (c / "Dockerfile").write_text(DOCKERFILE)
    return c


def errors(app) -> list[str]:
    return [str(n.message) for n in app._notifications if n.severity == "error"]


async def open_dialog(app, pilot) -> BuildDialog:
    await until(pilot, lambda: app.images_table.shown, what="the images")
    app.images_table.focus()
    await pilot.pause(0.05)
    await pilot.press("b")
    return await until(pilot, lambda: isinstance(app.screen, BuildDialog) and app.screen, what="the build dialog")


async def fill(dlg, pilot, context, tags="", args="", dockerfile=""):
    dlg.query_one("#context").value = str(context)
    dlg.query_one("#dockerfile").value = dockerfile
    dlg.query_one("#tags").value = tags
    dlg.query_one("#build-args").text = args
    await pilot.pause(0.05)


async def finished(app, pilot, timeout=120.0):
    return await until(pilot, lambda: app.build_run is not None and app.build_run.state != "building"
                       and app.build_run, timeout=timeout, what="the build to finish")


def log_lines(app) -> list[str]:
    return app.build_run.plain()


def shown_log(app) -> str:
    """What the log screen's RichLog holds (its rendered lines)."""
    log = app.screen.query_one("#build-log")
    return "\n".join("".join(seg.text for seg in strip) for strip in log.lines)


def test_helpers():
    assert split_tags(" a:1, b:2  c ,d") == ["a:1", "b:2", "c", "d"]
    assert parse_build_args("A=1\n\n# c\nB = two words=x\nC=") == {"A": "1", "B": " two words=x", "C": ""}
    with pytest.raises(ValueError):
        parse_build_args("NOPE")


def test_build_through_the_dialog_selects_the_image_and_caches(eng, ctx):
    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            dlg = await open_dialog(app, pilot)
            # validation stays in the dialog
            await fill(dlg, pilot, ctx.parent / "nope")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: any("no such folder" in e for e in errors(app)), what="the folder error")
            assert app.screen is dlg
            await fill(dlg, pilot, ctx, dockerfile="Missing.Dockerfile")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: any("no such Dockerfile" in e for e in errors(app)), what="the file error")
            assert app.screen is dlg
            await fill(dlg, pilot, ctx, tags="localhost/tuibuild:1, localhost/tuibuild:latest", args="GREETING=hey")
            await pilot.press("ctrl+s")
            screen = await until(pilot, lambda: isinstance(app.screen, BuildLogScreen) and app.screen,
                                 what="the build log")
            run_ = await finished(app, pilot)
            assert run_.state == "done", log_lines(app)
            lines = log_lines(app)
            assert any(re.match(r"#\d+ \[[^]]*\d/\d\] RUN ", l) for l in lines), lines
            assert any(re.match(r"#\d+ \d+\.\d{3} hey built$", l) for l in lines), lines
            assert any(re.match(r"#\d+ \d+\.\d{3} second line$", l) for l in lines), lines
            assert any(re.match(r"#\d+ DONE \d+\.\ds$", l) for l in lines), lines
            await until(pilot, lambda: "DONE" in shown_log(app), what="the log on screen")
            assert "built" in str(screen.query_one("#build-status").render())
            # the image is in the engine with its tags, and selected
            img = next(i for i in eng.images() if "localhost/tuibuild:1" in i.tags)
            assert img.id == run_.image_id and "localhost/tuibuild:latest" in img.tags
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is app.main, what="the log closed")
            t = app.images_table
            await until(pilot, lambda: t.cursor_item is not None and t.cursor_item[0].id == img.id,
                        what="the new image selected")
            assert app.subject[:2] == ("image", img.id)
            assert any("built localhost/tuibuild:1" in str(n.message) for n in app._notifications)
            assert not errors(app)[2:], errors(app)

            # again: the dialog remembers, every step after FROM is CACHED, same image
            dlg = await open_dialog(app, pilot)
            assert dlg.query_one("#context").value == str(ctx)
            assert "localhost/tuibuild:1" in dlg.query_one("#tags").value
            dlg.query_one("#build-args").text = "GREETING=hey"
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, BuildLogScreen), what="the build log")
            run2 = await finished(app, pilot)
            assert run2 is not run_ and run2.state == "done" and run2.image_id == img.id
            lines = log_lines(app)
            cached = [l for l in lines if re.match(r"#\d+ CACHED$", l)]
            assert len(cached) >= 3, lines        # COPY, RUN, CMD
            assert not any("hey built" in l for l in lines)
            await until(pilot, lambda: "CACHED" in shown_log(app), what="CACHED on screen")
    run(go())


def test_failing_run_is_an_error_with_its_exit_code(eng, tmp_path):
    c = tmp_path / "bad"
    c.mkdir()
    (c / "Dockerfile").write_text('FROM localhost/busybox:latest\nRUN sleep 0.3 && echo about to fail && echo oops >&2 && exit 3\n'
                                  'RUN echo never\n')

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            n_images = len(eng.images())
            dlg = await open_dialog(app, pilot)
            await fill(dlg, pilot, c, tags="localhost/bad:1")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, BuildLogScreen), what="the build log")
            run_ = await finished(app, pilot)
            assert run_.state == "failed" and run_.exit_code == 3
            err = await until(pilot, lambda: next((e for e in errors(app) if "build failed" in e), None),
                              what="the error notification")
            assert "exit code 3" in err and "RUN sleep 0.3 && echo about to fail" in err
            # the log stays open and readable: the step's output, its error
            assert isinstance(app.screen, BuildLogScreen)
            lines = log_lines(app)
            assert any(l.endswith(" about to fail") for l in lines), lines
            assert any(re.match(r"#\d+ ERROR: exit code: 3$", l) for l in lines), lines
            assert not any("never" in l for l in lines if not l.startswith(("build failed", "process")))
            await until(pilot, lambda: "ERROR: exit code: 3" in shown_log(app), what="the error on screen")
            await until(pilot, lambda: "exit code 3" in str(app.screen.query_one("#build-status").render()),
                        what="the status line")  # it refreshes a few times a second
            assert not any("localhost/bad:1" in i.tags for i in eng.images())
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is app.main, what="the log closed")
            # the palette shows the last log again
            app.action_build_log()
            await until(pilot, lambda: isinstance(app.screen, BuildLogScreen), what="the log again")
            await until(pilot, lambda: "ERROR: exit code: 3" in shown_log(app), what="the old log")
            assert len([i for i in eng.images() if i.tags]) <= n_images
    run(go())


def test_esc_closes_the_log_while_the_build_goes_on(eng, ctx):
    (ctx / "Dockerfile").write_text("FROM localhost/busybox:latest\nRUN sleep 1.5 && echo slow done\n")

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            dlg = await open_dialog(app, pilot)
            await fill(dlg, pilot, ctx, tags="localhost/slow:1")
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(app.screen, BuildLogScreen), what="the build log")
            await until(pilot, lambda: any(" RUN " in l for l in log_lines(app)), what="the RUN step")
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is app.main, what="the log closed")
            assert app.build_run.state == "building"
            # b while it runs shows its log again rather than a new dialog
            app.images_table.focus()
            await pilot.press("b")
            await until(pilot, lambda: isinstance(app.screen, BuildLogScreen), what="the log again")
            await pilot.press("escape")
            run_ = await finished(app, pilot)
            assert run_.state == "done"
            assert any(l.endswith(" slow done") for l in log_lines(app))
            t = app.images_table
            await until(pilot, lambda: t.cursor_item is not None and t.cursor_item[0].id == run_.image_id,
                        what="the new image selected")
    run(go())


def test_build_key_in_footer_help_and_palette(eng):
    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.images_table.shown, what="the images")
            groups = dict(app.key_groups())
            assert ("b", "Build", "image.build") in groups["Images pane"]
            assert ("escape", "Close (the build goes on)", "buildlog.close") in groups["Build log"]
            titles = [t for t, _, _ in app.palette_actions()]
            assert "Image: build" in titles and "Build: show the log" in titles
            app.images_table.focus()
            await pilot.pause(0.1)
            assert any(b.id == "image.build" and b.key == "b" for b, *_ in
                       [(x[1],) for x in app.screen.active_bindings.values()])
    run(go())
