"""The TUI in a real terminal (tmux, TERM=xterm-256color): the first start on
an empty root makes the starter image and shows it; a bad settings file is a
message, not a traceback; a container is run with keys, seen in the list,
given a shell (the app suspends and comes back), stopped, and q quits."""
import json
import os
import shlex
import subprocess
import sys
import time
import uuid

from tests.conftest import ROOT, need_root, need_tool


def _tmux(server: str | None) -> list[str]:
    """tmux, or a tmux server of the test's own (-L) when its options must not touch the user's."""
    return ["tmux"] + (["-L", server] if server else [])


def _capture(session: str, server: str | None = None) -> str:
    return subprocess.run(_tmux(server) + ["capture-pane", "-p", "-t", session], capture_output=True,
                          text=True).stdout


def _wait_for(session: str, text, timeout: float = 30, server: str | None = None) -> str:
    """Waits for `text` on the screen, or for a line where every word of the tuple `text` is."""
    deadline = time.time() + timeout
    screen = ""
    while time.time() < deadline:
        screen = _capture(session, server)
        if isinstance(text, tuple):
            if any(all(w in line for w in text) for line in screen.splitlines()):
                return screen
        elif text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")


def _keys(session: str, *keys: str, literal: bool = False, server: str | None = None) -> None:
    subprocess.run(_tmux(server) + ["send-keys", "-t", session] + (["-l"] if literal else []) + list(keys),
                   check=True)


def _start(tmp_path, width: int, height: int, config_text: str | None = None,
           server: str | None = None) -> tuple[str, str]:
    need_root()
    need_tool("tmux")
    need_tool("busybox")
    session = f"dockyard-test-{uuid.uuid4().hex[:8]}"
    root = tmp_path / "root"
    config = tmp_path / "config.yaml"
    if config_text is not None:
        config.write_text(config_text)
    cmd = (f"cd {shlex.quote(ROOT)} && TERM=xterm-256color DOCKYARD_CONFIG={shlex.quote(str(config))} "
           f"{shlex.quote(sys.executable)} -m tui.cli --root {root}; echo EXITED $?; sleep 30")
    subprocess.run(_tmux(server) + ["new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), cmd],
                   check=True)
    return session, str(root)


def _kill(session: str, server: str | None = None) -> None:
    subprocess.run(_tmux(server) + (["kill-server"] if server else ["kill-session", "-t", session]),
                   capture_output=True)


def test_first_start_makes_starter_image_and_quits(tmp_path):
    session, root = _start(tmp_path, 80, 24, config_text="theme: [unclosed\n")
    try:
        # the starter image in the list and the header's count (drawn by the next tick)
        _wait_for(session, "localhost/busybox:latest")
        _wait_for(session, "1 image")
        _wait_for(session, "not valid YAML")        # the bad settings file is a message
        assert "Traceback" not in _capture(session)
        _keys(session, "q")
        _wait_for(session, "EXITED 0")
    finally:
        _kill(session)
    assert os.path.isdir(os.path.join(root, "layers"))


def test_run_shell_stop_and_quit_with_keys(tmp_path):
    # the shell `e` runs is the console.shell setting
    session, root = _start(tmp_path, 100, 30, config_text="console:\n  shell: env DY_SHELL=configured sh\n")
    from engine import Engine
    try:
        _wait_for(session, "localhost/busybox:latest")
        _wait_for(session, "r Run")                  # the images pane has the focus (its keys in the footer)
        _keys(session, "r")                          # run
        _wait_for(session, "Run a container")
        _keys(session, "e2e", literal=True)
        _keys(session, "Tab")
        _keys(session, "sh -c 'trap \"exit 0\" TERM; while true; do sleep 0.1; done'", literal=True)
        _keys(session, "C-s")
        _wait_for(session, ("e2e", "localhost/busybox", "running"))
        # a shell in it: the app hands the terminal over and comes back
        _keys(session, "e")
        _wait_for(session, "a shell in e2e")
        time.sleep(0.5)
        _keys(session, "touch /e2e-was-here /e2e-$DY_SHELL; exit", literal=True)
        _keys(session, "Enter")
        _wait_for(session, "back from e2e")
        eng = Engine(root)
        try:
            assert {("A", "/e2e-was-here"), ("A", "/e2e-configured")} <= set(eng.container_diff("e2e"))
        finally:
            eng.close()
        _keys(session, "s")                          # stop it (the containers pane has the focus)
        _wait_for(session, ("e2e", "localhost/busybox", "exited"))
        _keys(session, "q")
        _wait_for(session, "EXITED 0")
    finally:
        _kill(session)
        eng = Engine(root)
        try:
            for c in eng.containers(all=True):
                eng.remove_container(c.id, force=True)
        finally:
            eng.close()


def test_console_echo_vi_commit_detach(tmp_path):
    """Issue 7's end-to-end path in a real terminal: a console on a running
    container, `echo hello` read back from the screen, vi and the shell screen
    back after it, quick commit of a file made in the session, detach."""
    from engine import Engine
    from tests.conftest import run_cli
    need_root()
    root = str(tmp_path / "root")
    eng = Engine(root)
    eng.make_starter_image()
    eng.close()
    run_cli("run", "-dit", "--name", "con", "busybox", "sh", root=root)
    session, _ = _start(tmp_path, 120, 36)
    try:
        _wait_for(session, ("con", "running"))
        _wait_for(session, "localhost/busybox:latest")
        time.sleep(0.5)
        _keys(session, "o")                          # the containers pane has the focus: a console on `con`
        _wait_for(session, "con (attach)")
        time.sleep(0.5)
        _keys(session, "Enter")
        _keys(session, "echo he''llo", literal=True)
        _keys(session, "Enter")
        screen = _wait_for(session, "hello")
        assert "he''llo" in screen                   # the typed line, and its output
        _keys(session, "vi /tmp/notes", literal=True)
        _keys(session, "Enter")
        _wait_for(session, "/tmp/notes")
        _wait_for(session, "~")                      # vi's empty lines: the alternate screen
        _keys(session, ":q!", literal=True)
        _keys(session, "Enter")
        _wait_for(session, "he''llo")                # the shell's screen is back
        _keys(session, "touch /made-in-console", literal=True)
        _keys(session, "Enter")
        time.sleep(0.5)
        _keys(session, "F2")                         # quick commit, prefilled for this container
        _wait_for(session, "localhost/con:latest")
        _keys(session, "C-s")
        eng = Engine(root)
        try:
            deadline = time.time() + 30
            img = None
            while time.time() < deadline and img is None:
                img = next((i for i in eng.images() if "localhost/con:latest" in i.tags), None)
                time.sleep(0.2)
            assert img is not None, _capture(session)
            top = eng.layer_tree(img.id).layers[-1]
            assert any(ch.kind == "A" and ch.path.lstrip("/") == "made-in-console" for ch in top.changes)
        finally:
            eng.close()
        _keys(session, "F6")                         # back to the lists …
        _keys(session, "o")                          # … and into the console again
        _wait_for(session, "con (attach)")
        time.sleep(0.5)
        _keys(session, "C-p")
        _keys(session, "C-q")                        # the detach chord: the tab goes, the container runs on
        deadline = time.time() + 20
        while time.time() < deadline and "con (attach)" in _capture(session):
            time.sleep(0.1)
        assert "con (attach)" not in _capture(session)
        assert json.loads(run_cli("inspect", "con", root=root).stdout)[0]["State"]["Running"]
        _keys(session, "q")
        _wait_for(session, "EXITED 0")
    finally:
        _kill(session)
        eng = Engine(root)
        try:
            for c in eng.containers(all=True):
                eng.remove_container(c.id, force=True)
        finally:
            eng.close()


def test_console_copy_reaches_the_terminal_clipboard(tmp_path):
    """Copy mode in a console, in a real terminal: the selection leaves the
    app as OSC 52 and tmux (set-clipboard on, as a terminal that takes OSC 52
    would) makes a paste buffer of it. tmux runs as a server of the test's own
    so that the option does not touch any other."""
    from engine import Engine
    from tests.conftest import run_cli
    need_root()
    need_tool("tmux")
    root = str(tmp_path / "root")
    eng = Engine(root)
    eng.make_starter_image()
    eng.close()
    run_cli("run", "-dit", "--name", "con", "busybox", "sh", root=root)
    server = f"dockyard-test-{uuid.uuid4().hex[:8]}"
    session, _ = _start(tmp_path, 120, 36, server=server)
    w = dict(server=server)
    try:
        subprocess.run(_tmux(server) + ["set", "-s", "set-clipboard", "on"], check=True)
        _wait_for(session, ("con", "running"), **w)
        _wait_for(session, "localhost/busybox:latest", **w)
        time.sleep(0.5)
        _keys(session, "o", **w)
        _wait_for(session, "con (attach)", **w)
        time.sleep(0.5)
        _keys(session, "Enter", **w)
        _keys(session, 'echo "copy-me  ple""ase"', literal=True, **w)
        _keys(session, "Enter", **w)
        _wait_for(session, "copy-me  please", **w)
        _keys(session, "F5", **w)                      # copy mode: its cursor on the prompt's line
        _wait_for(session, "[copy", **w)
        _keys(session, "k", "0", "v", "$", "y", **w)   # the output line above, start to end
        _wait_for(session, "copied 15 characters", **w)
        deadline = time.time() + 10
        buf = ""
        while time.time() < deadline and buf != "copy-me  please":
            buf = subprocess.run(_tmux(server) + ["show-buffer"], capture_output=True, text=True).stdout
            time.sleep(0.1)
        assert buf == "copy-me  please"
        _keys(session, "F8", **w)                      # close the tab, the container runs on
        _keys(session, "q", **w)
        _wait_for(session, "EXITED 0", **w)
    finally:
        _kill(session, server)
        eng = Engine(root)
        try:
            for c in eng.containers(all=True):
                eng.remove_container(c.id, force=True)
        finally:
            eng.close()
