"""SVG snapshots of the main layouts at 80x24 and 160x48, compared with the
files in tests/snapshots/. Deterministic: images loaded from archives with
fixed configs (fixed ids and dates), containers created but never started
(no uptime, CPU or memory), a fixed clock, a fixed host line and a fixed
root path.

They depend on Textual's rendering: after a Textual upgrade (or a deliberate
change of the layout) look at the new pictures and regenerate with

    DOCKYARD_UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/integration/test_tui_snapshots.py

A mismatch leaves the new picture beside the old one as NAME.new.svg."""
import asyncio
import io
import os
import re
import shutil

import pytest

from tests.integration.test_tui_helpers import sample_images, until
from tui.app import DockyardApp
from tui.widgets.layers import LayersPane

HERE = os.path.dirname(os.path.abspath(__file__))
SNAPSHOTS = os.path.join(os.path.dirname(HERE), "snapshots")
ROOT = "/tmp/dockyard-snapshots/root"       # fixed: the header shows it
CLOCK = 1_717_200_000.0                      # 2024-06-01
UPDATE = os.environ.get("DOCKYARD_UPDATE_SNAPSHOTS", "") not in ("", "0")


@pytest.fixture(scope="module")
def snap_engine():
    from engine import Engine
    from engine.containers.options import RunOptions
    shutil.rmtree(os.path.dirname(ROOT), ignore_errors=True)
    eng = Engine(ROOT)
    eng.load(io.BytesIO(sample_images()))
    for name, image in (("api", "example.com/app:latest"), ("worker", "example.com/base:1.0")):
        eng.create_container(RunOptions(image=image, name=name, command=["sh", "-c", "sleep 1"]))
    yield eng
    for c in eng.containers(all=True):
        eng.remove_container(c.id, force=True)
    eng.close()
    shutil.rmtree(os.path.dirname(ROOT), ignore_errors=True)


def _normalise(svg: str) -> str:
    # Rich names the SVG's CSS classes after a hash of the content: keep the content, drop the name.
    return re.sub(r"terminal-\d+", "terminal", svg)


def _compare(name: str, svg: str) -> None:
    path = os.path.join(SNAPSHOTS, name + ".svg")
    new = path[:-4] + ".new.svg"
    if UPDATE or not os.path.exists(path):
        if not UPDATE and os.environ.get("CI"):
            pytest.fail(f"no snapshot {path}: make it with DOCKYARD_UPDATE_SNAPSHOTS=1 and look at it")
        os.makedirs(SNAPSHOTS, exist_ok=True)
        with open(path, "w") as f:
            f.write(svg)
        if os.path.exists(new):
            os.unlink(new)
        return
    with open(path) as f:
        old = f.read()
    if _normalise(old) != _normalise(svg):
        with open(new, "w") as f:
            f.write(svg)
        pytest.fail(f"{name}: the screen differs from {path}; the new one is {new} "
                    "(regenerate with DOCKYARD_UPDATE_SNAPSHOTS=1 if the change is wanted)")
    if os.path.exists(new):
        os.unlink(new)


def _shoot(eng, size, setup) -> str:
    async def go():
        app = DockyardApp(eng, refresh_interval=0.5, clock=lambda: CLOCK,
                          host=lambda: "load 0.42 0.36 0.30  mem 12%")
        async with app.run_test(size=size) as pilot:
            await until(pilot, lambda: len(app.images_table.shown) == 3 and len(app.containers_table.shown) == 2)
            await setup(app, pilot)
            await pilot.pause(0.6)   # a refresh tick or so: nothing may move
            return app.export_screenshot()
    return asyncio.run(go())


async def _image_layers(app, pilot):
    t = app.images_table
    t.focus()
    t.select_key(next(k for k in t.shown if k.endswith("|example.com/app:2.1")))
    await pilot.press("4")
    pane = app.query_one(LayersPane)
    await until(pilot, lambda: pane.ltree is not None and pane.model is not None and pane.cur_layer == 1)
    await pilot.pause(0.2)


async def _container_layers(app, pilot):
    t = app.containers_table
    t.focus()
    t.select_key(next(k for k in t.shown if t.items[k].name == "api"))
    await pilot.press("4")
    pane = app.query_one(LayersPane)
    await until(pilot, lambda: pane.ltree is not None and pane.model is not None and len(pane.ltree.layers) == 4)
    await pilot.pause(0.2)


async def _help(app, pilot):
    await pilot.press("question_mark")
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_image_selected_layer_tree(snap_engine, size):
    _compare(f"image_layers_{size[0]}x{size[1]}", _shoot(snap_engine, size, _image_layers))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_container_selected(snap_engine, size):
    _compare(f"container_{size[0]}x{size[1]}", _shoot(snap_engine, size, _container_layers))


def test_help_80x24(snap_engine):
    _compare("help_80x24", _shoot(snap_engine, (80, 24), _help))


async def _pull_form(app, pilot):
    app.images_table.focus()
    # the detail pane hidden behind the dialog: its inspect tree's scrollbar is drawn half a cell
    # apart from run to run (container_80x24 shows it too), which is not the dialog's business
    app.main.query_one("#detail").display = False
    await pilot.press("p")
    from textual.widgets import Input
    for w in app.screen.query(Input):
        w.cursor_blink = False          # a blinking cursor is in the picture or not
    await pilot.press(*"127.0.0.1:5000/x/app:1")
    await pilot.pause(0.2)


async def _pull_running(app, pilot):
    """The dialog mid-pull, fed the events a pull sends (no registry: the layout only)."""
    from engine import PullEvent
    await _pull_form(app, pilot)
    dialog = app.screen
    dialog.begin({"ref": "127.0.0.1:5000/x/app:1", "platform": None})
    for ev in (PullEvent(None, "1: Pulling from x/app"), PullEvent("a1b2c3d4e5f6", "Pulling fs layer"),
               PullEvent("0123456789ab", "Pulling fs layer"), PullEvent("fedcba987654", "Pulling fs layer"),
               PullEvent("a1b2c3d4e5f6", "Pull complete"), PullEvent("0123456789ab", "Already exists"),
               PullEvent("fedcba987654", "Downloading", 12_300_000, 45_600_000)):
        dialog._event(ev)
    await pilot.pause(0.2)


@pytest.mark.parametrize("setup", [_pull_form, _pull_running], ids=["form", "running"])
def test_pull_dialog_80x24(snap_engine, setup):
    name = "pull_form_80x24" if setup is _pull_form else "pull_running_80x24"
    _compare(name, _shoot(snap_engine, (80, 24), setup))
