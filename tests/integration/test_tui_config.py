"""Settings (~/.config/dockyard/config.yaml) and themes: good files apply,
bad ones give a clear message and the defaults, never a traceback."""
import asyncio

import pytest

from tui.app import DockyardApp
from tui.config import Config, config_path, load_config, load_themes


def write(tmp_path, text: str) -> str:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    return str(p)


def test_defaults_when_there_is_no_file(tmp_path):
    cfg, problems = load_config(str(tmp_path / "none.yaml"))
    assert cfg == Config() and problems == []


def test_config_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKYARD_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config_path() == str(tmp_path / "dockyard" / "config.yaml")
    monkeypatch.setenv("DOCKYARD_CONFIG", "/x/y.yaml")
    assert config_path() == "/x/y.yaml"


def test_a_good_file(tmp_path):
    cfg, problems = load_config(write(tmp_path, """
theme: dockyard-light
refresh_interval: 2.5
detach_keys: ctrl-a,d
root: ~/dy
keys:
  container.stop: x
  app.quit: ctrl+q
console:
  shell: bash -l -c 'exec "$0"'
  allow_clipboard: true
"""))
    assert problems == []
    assert cfg.shell == ["bash", "-l", "-c", 'exec "$0"'] and cfg.allow_clipboard
    assert cfg.theme == "dockyard-light" and cfg.refresh_interval == 2.5 and cfg.detach_keys == "ctrl-a,d"
    assert cfg.root.endswith("/dy") and not cfg.root.startswith("~")
    assert cfg.keys == {"container.stop": "x", "app.quit": "ctrl+q"}


@pytest.mark.parametrize("text, words", [
    ("theme: [unclosed", ["not valid YAML", "line 1"]),
    ("- a\n- list\n", ["must be a mapping"]),
    ("refresh_interval: fast\n", ["refresh_interval", "from 0.2 to 60"]),
    ("refresh_interval: 0\n", ["refresh_interval"]),
    ("detach_keys: ctrl-ö\n", ["detach_keys"]),
    ("keys: [x]\n", ["keys must be"]),
    ("keys:\n  container.stop: 3\n", ["container.stop"]),
    ("colour: red\n", ["unknown setting 'colour'"]),
    ("theme: 7\n", ["theme must be"]),
    ("console: 3\n", ["console must be a mapping"]),
    ("console:\n  shell: \"'unclosed\"\n", ["console.shell must be a command"]),
    ("console:\n  shell: []\n", ["console.shell"]),
    ("console:\n  shell: [sh, 3]\n", ["console.shell"]),
    ("console:\n  shell: '  '\n", ["console.shell"]),
    ("console:\n  allow_clipboard: yes please\n", ["console.allow_clipboard must be true or false"]),
    ("console:\n  colour: red\n", ["unknown setting console.colour"]),
])
def test_bad_files_give_a_message_and_the_defaults(tmp_path, text, words):
    cfg, problems = load_config(write(tmp_path, text))
    assert len(problems) == 1, problems
    for w in words:
        assert w in problems[0]
    assert cfg.refresh_interval == 1.0 and cfg.detach_keys == "ctrl-p,ctrl-q"
    assert cfg.shell == ["sh"] and not cfg.allow_clipboard


def test_console_shell_as_a_list(tmp_path):
    cfg, problems = load_config(write(tmp_path, "console:\n  shell: [/bin/sh, -c, 'echo a b; exec sh']\n"))
    assert problems == [] and cfg.shell == ["/bin/sh", "-c", "echo a b; exec sh"]


def test_unreadable_file(tmp_path):
    d = tmp_path / "config.yaml"
    d.mkdir()   # a directory where the file should be
    cfg, problems = load_config(str(d))
    assert cfg == Config() and "cannot read" in problems[0]


def test_themes_load_as_textual_themes(tmp_path):
    themes, problems = load_themes()
    names = {t.name for t in themes}
    assert {"dockyard-dark", "dockyard-light", "dockyard-terminal"} <= names and problems == []
    terminal = next(t for t in themes if t.name == "dockyard-terminal")
    assert terminal.ansi and terminal.primary.startswith("ansi_")
    assert not next(t for t in themes if t.name == "dockyard-light").dark
    (tmp_path / "broken.yaml").write_text("name: broken\nprimary: notacolour\n")
    (tmp_path / "nomap.yaml").write_text("- 1\n")
    themes, problems = load_themes([str(tmp_path)])
    assert themes == [] and len(problems) == 2 and all("skipped" in p for p in problems)


def _run(app, body):
    async def go():
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.3)
            await body(app, pilot)
    asyncio.run(go())


def test_app_shows_config_problems_and_runs(engine, tmp_path):
    cfg, problems = load_config(write(tmp_path, "theme: [unclosed"))

    async def body(app, pilot):
        msgs = [(str(n.message), n.severity) for n in app._notifications]
        assert any("not valid YAML" in m and s == "error" for m, s in msgs), msgs
        assert app.theme == "dockyard-dark"
    _run(DockyardApp(engine, config=cfg, config_problems=problems), body)


def test_unknown_theme_falls_back(engine):
    async def body(app, pilot):
        assert app.theme == "dockyard-dark"
        assert any("no theme 'nope'" in str(n.message) for n in app._notifications)
    _run(DockyardApp(engine, config=Config(theme="nope")), body)


def test_key_overrides_and_interval_apply(engine, starter, tmp_path):
    from engine.containers.options import RunOptions
    from tests.integration.test_tui_helpers import SLEEPER, remove_all_containers, until
    cid = engine.create_container(RunOptions(image="localhost/busybox", name="kx", command=SLEEPER))
    engine.start_container(cid)
    cfg, problems = load_config(write(tmp_path, "refresh_interval: 0.3\nkeys:\n  container.stop: x\n"))
    assert not problems

    async def body(app, pilot):
        assert app.refresh_interval == 0.3
        await until(pilot, lambda: cid in app.containers_table.shown)
        app.containers_table.focus()
        await pilot.press("s")          # no longer stop
        await pilot.pause(0.5)
        assert engine.container(cid).status == "running"
        await pilot.press("x")
        await until(pilot, lambda: engine.container(cid).status == "exited", what="stopped by x")
        groups = dict(app.key_groups())
        rows = groups["Containers pane (marked rows, else the one under the cursor)"]
        assert ("x", "Stop", "container.stop") in rows
    try:
        _run(DockyardApp(engine, config=cfg), body)
    finally:
        remove_all_containers(engine)


def test_theme_switch_from_the_palette(engine, tmp_path, monkeypatch):
    path = tmp_path / "cfg" / "config.yaml"
    monkeypatch.setenv("DOCKYARD_CONFIG", str(path))

    async def body(app, pilot):
        from tests.integration.test_tui_helpers import until
        assert app.theme == "dockyard-dark"
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"Theme: dockyard-light")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: app.theme == "dockyard-light", what="the light theme")
        assert not app.current_theme.dark
        # kept for the next start
        assert path.read_text() == "theme: dockyard-light\n"
        assert load_config(str(path))[0].theme == "dockyard-light"
        app.theme = "dockyard-terminal"          # follows the terminal's ANSI palette
        await pilot.pause(0.2)
        assert app.current_theme.ansi and app.native_ansi_color
    _run(DockyardApp(engine), body)


def test_a_theme_picked_changes_only_that_line(engine, tmp_path):
    path = write(tmp_path, "# my settings\ntheme: dockyard-dark   # dark at night\nrefresh_interval: 2.5\n"
                           "keys:\n  container.stop: x\n")
    cfg, problems = load_config(path)
    assert not problems

    async def body(app, pilot):
        from tests.integration.test_tui_helpers import until
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"Theme: dockyard-terminal")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: app.theme == "dockyard-terminal", what="the terminal theme")
    _run(DockyardApp(engine, config=cfg), body)
    assert open(path).read() == ("# my settings\ntheme: dockyard-terminal\nrefresh_interval: 2.5\n"
                                 "keys:\n  container.stop: x\n")
    again, problems = load_config(path)
    assert not problems and again.theme == "dockyard-terminal" and again.refresh_interval == 2.5
