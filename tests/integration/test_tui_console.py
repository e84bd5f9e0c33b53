"""Consoles inside the TUI (issue 7): console tabs in the detail area on a
real container (`run -dit busybox sh -i`), driven with Textual's pilot:
attach and type, keys that reach the program instead of the app, detach
closes the tab while the container runs on, an exec console and its exit in
the tab title, quick commit from a console."""
import pytest
from textual.widgets import TabbedContent

from tests.integration.test_containers import dy
from tests.integration.test_tui_helpers import remove_all_containers, run, status, until
from tui.app import DockyardApp, TabConsole
from tui.config import Config
from tui.dialogs.commit import CommitDialog

SIZE = (120, 40)


@pytest.fixture
def eng(engine, starter):
    yield engine
    remove_all_containers(engine)


def start_shell(eng, name: str) -> str:
    p = dy(eng.root, "run", "-dit", "--name", name, "busybox", "sh", "-i")
    assert p.returncode == 0, p.stderr
    return eng.container(name).id


def text(console) -> str:
    return "\n".join(line.rstrip() for line in console.text())


async def open_console(app, pilot, cid, key="o") -> TabConsole:
    t = app.containers_table
    await until(pilot, lambda: cid in t.shown and t.items[cid].status == "running", what="the container listed")
    t.focus()
    t.select_key(cid)
    await pilot.pause(0.05)
    before = set(app.consoles())
    await pilot.press(key)
    c = await until(pilot, lambda: next((c for c in app.consoles() if c not in before), None), what="a console tab")
    await until(pilot, lambda: c.connected and app.focused is c, what="the console connected and focused")
    return c


async def ready(pilot, c) -> None:
    await pilot.press("enter")
    await until(pilot, lambda: "#" in text(c), what="the shell's prompt")


def tab_label(app, c) -> str:
    pane = app._pane_of(c)
    return str(app.query_one(TabbedContent).get_tab(pane.id).label)


def test_console_attach_keys_detach(eng):
    cid = start_shell(eng, "con1")

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            c = await open_console(app, pilot, cid)
            assert c.mode == "attach" and "con1 (attach)" in tab_label(app, c)
            assert app.query_one(TabbedContent).active == app._pane_of(c).id
            await ready(pilot, c)
            await pilot.press(*"echo hello", "enter")
            await until(pilot, lambda: "\nhello" in "\n" + text(c), what="hello echoed")
            # printable app keys, tab, ctrl+p reach the program, not the app
            await pilot.press(*"echo qz12", "tab", "enter")
            await until(pilot, lambda: "qz12" in text(c).split("echo qz12")[-1], what="qz12 echoed")
            assert app.is_running and app.focused is c
            await pilot.press("ctrl+p", "x")   # a lone ctrl+p passes through: no palette
            await pilot.pause(0.2)
            assert app.screen is app.main and app.focused is c
            await pilot.press("ctrl+c")
            # F11 maximises the console, again restores
            await pilot.press("f11")
            await until(pilot, lambda: app.screen.maximized is c, what="maximised")
            await pilot.press("f11")
            await until(pilot, lambda: app.screen.maximized is None, what="restored")
            # F6 back to the list, the console is kept while moving around
            await pilot.press("f6")
            assert app.focused is app.containers_table
            await pilot.press("1")
            assert c in app.consoles()
            # a second console as another tab
            c2 = await open_console(app, pilot, cid)
            assert len(app.consoles()) == 2
            await pilot.press("ctrl+p", "ctrl+q")   # the detach chord: the tab goes, the container runs on
            await until(pilot, lambda: c2 not in app.consoles(), what="the tab closed")
            assert c in app.consoles() and app.focused is app.containers_table
            assert status(eng, cid) == "running"
    run(go())
    assert status(eng, cid) == "running"


def test_console_exec_and_exit(eng):
    cid = start_shell(eng, "con2")

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            c = await open_console(app, pilot, cid, "O")
            assert c.mode == "exec" and "con2 (exec)" in tab_label(app, c)
            await ready(pilot, c)
            await pilot.press(*"echo exec-$((40+2))", "enter")
            await until(pilot, lambda: "exec-42" in text(c), what="exec output")
            await pilot.press(*"exit 4", "enter")
            await until(pilot, lambda: "[exited 4]" in tab_label(app, c), what="the exit in the tab title")
            assert status(eng, cid) == "running"
            await pilot.press("f8")   # closes the ended console's tab
            await until(pilot, lambda: c not in app.consoles(), what="the tab closed")
    run(go())


def test_quick_commit_from_console(eng):
    cid = start_shell(eng, "con3")

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3)
        async with app.run_test(size=SIZE) as pilot:
            c = await open_console(app, pilot, cid)
            await ready(pilot, c)
            await pilot.press(*"touch /newfile", "enter")
            await until(pilot, lambda: any(p == "/newfile" for _, p in eng.container_diff(cid)), what="the file")
            await pilot.press("f2")
            dlg = await until(pilot, lambda: isinstance(app.screen, CommitDialog) and app.screen)
            assert dlg.query_one("#ref").value == "localhost/con3:latest"
            await pilot.press("ctrl+s")
            img = await until(pilot, lambda: next((i for i in eng.images() if "localhost/con3:latest" in i.tags),
                                                  None), what="the committed image")
            await until(pilot, lambda: app.subject and app.subject[0] == "image" and app.subject[1] == img.id,
                        what="the new image selected")
            tree = eng.layer_tree(img.id)
            top = tree.layers[-1]
            assert any(ch.kind == "A" and ch.path.lstrip("/") == "newfile" for ch in top.changes), top.changes
            assert c in app.consoles()   # the console stays
    run(go())


def test_console_settings_title_bell_and_copy(eng):
    """The settings reach the consoles: console.shell is what O runs,
    console.allow_clipboard lets a program's OSC 52 through. The program's
    title shows in the tab, a bell marks a tab that is not shown, copy mode
    (F5) shows in the tab and copies through the app."""
    cid = start_shell(eng, "con4")
    cfg = Config(shell=["env", "DY_SHELL=configured", "sh"], allow_clipboard=True, keys={"console.copy": "f7"})

    async def go():
        app = DockyardApp(eng, refresh_interval=0.3, config=cfg)
        async with app.run_test(size=SIZE) as pilot:
            c = await open_console(app, pilot, cid, "O")
            assert c.command == ["env", "DY_SHELL=configured", "sh"]
            await ready(pilot, c)
            await pilot.press(*"echo shell-$DY_SHELL", "enter")
            await until(pilot, lambda: "shell-configured" in text(c), what="the configured shell's variable")
            # the title, shortened in the tab; no markup from the program
            await pilot.press(*r"printf '\033]2;[b]a very long title from the program\a'", "enter")
            await until(pilot, lambda: "[b]a very long title" in tab_label(app, c), what="the title in the tab")
            assert tab_label(app, c).endswith("…") and len(c.title) > 30
            # a program's OSC 52 (allowed here)
            await pilot.press(*r"printf '\033]52;c;aGVsbG8=\a'", "enter")
            await until(pilot, lambda: app.clipboard == "hello", what="the program's copy")
            # copy mode (its key rebound to f7) shows in the tab; y copies the selection
            await pilot.press("f5")   # no longer copy mode's: the program gets it
            await pilot.pause(0.1)
            assert c.copy is None
            await pilot.press("ctrl+u", "f7")
            await until(pilot, lambda: "[copy]" in tab_label(app, c), what="[copy] in the tab")
            await pilot.press("k", "0", "v", "$", "y")
            assert "[copy]" not in tab_label(app, c)
            assert app.clipboard.startswith("/ #") and "printf" in app.clipboard
            # a bell in a console whose tab is not shown marks the tab, until it is shown
            await pilot.press("f6")
            await pilot.press("1")
            c.send(b"printf '\\a'\r")
            await until(pilot, lambda: tab_label(app, c).startswith("! "), what="the bell's mark")
            app.query_one(TabbedContent).active = app._pane_of(c).id
            await until(pilot, lambda: not tab_label(app, c).startswith("! "), what="the mark gone")
    run(go())

