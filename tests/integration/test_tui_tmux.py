"""The TUI in a real terminal (tmux): the first start on an empty root makes
the starter image and shows it; q quits."""
import os
import shlex
import subprocess
import sys
import time
import uuid

from tests.conftest import ROOT, need_root, need_tool


def _capture(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def _wait_for(session: str, text: str, timeout: float = 30) -> str:
    deadline = time.time() + timeout
    screen = ""
    while time.time() < deadline:
        screen = _capture(session)
        if text in screen:
            return screen
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")


def test_first_start_makes_starter_image_and_quits(tmp_path):
    need_root()
    need_tool("tmux")
    need_tool("busybox")
    session = f"dockyard-test-{uuid.uuid4().hex[:8]}"
    root = tmp_path / "root"
    cmd = f"cd {shlex.quote(ROOT)} && TERM=xterm-256color {shlex.quote(sys.executable)} -m tui.cli --root {root}; " \
          f"echo EXITED $?; sleep 30"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", cmd], check=True)
    try:
        screen = _wait_for(session, "localhost/busybox")
        assert "latest" in screen and "1 images" in screen
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        _wait_for(session, "EXITED 0")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert os.path.isdir(root / "layers")
