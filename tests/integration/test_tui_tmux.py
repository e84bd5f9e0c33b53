"""The TUI in a real terminal (tmux, TERM=xterm-256color): the first start on
an empty root makes the starter image and shows it; a bad settings file is a
message, not a traceback; a container is run with keys, seen in the list,
given a shell (the app suspends and comes back), stopped, and q quits."""
import os
import shlex
import subprocess
import sys
import time
import uuid

from tests.conftest import ROOT, need_root, need_tool


def _capture(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def _wait_for(session: str, text, timeout: float = 30) -> str:
    """Waits for `text` on the screen, or for a line where every word of the tuple `text` is."""
    deadline = time.time() + timeout
    screen = ""
    while time.time() < deadline:
        screen = _capture(session)
        if isinstance(text, tuple):
            if any(all(w in line for w in text) for line in screen.splitlines()):
                return screen
        elif text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")


def _keys(session: str, *keys: str, literal: bool = False) -> None:
    subprocess.run(["tmux", "send-keys", "-t", session] + (["-l"] if literal else []) + list(keys), check=True)


def _start(tmp_path, width: int, height: int, config_text: str | None = None) -> tuple[str, str]:
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
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), cmd], check=True)
    return session, str(root)


def _kill(session: str) -> None:
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


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
    session, root = _start(tmp_path, 100, 30)
    from engine import Engine
    try:
        _wait_for(session, "localhost/busybox:latest")
        _keys(session, "r")                          # the images pane has the focus: run
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
        _keys(session, "touch /e2e-was-here; exit", literal=True)
        _keys(session, "Enter")
        _wait_for(session, "back from e2e")
        eng = Engine(root)
        try:
            assert ("A", "/e2e-was-here") in eng.container_diff("e2e")
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
