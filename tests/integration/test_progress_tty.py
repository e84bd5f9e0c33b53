"""`dockyard pull` in a real terminal (tmux on a server of its own) against a
real registry on 127.0.0.1: one line per layer redrawn in place, a bar while a
blob is on its way, "Pull complete" at the end, no escape sequences left on
the screen; the same command with its output in a file gives docker's plain
lines."""
import json
import os
import shlex
import subprocess
import sys
import uuid

from tests.conftest import ROOT, need_tool, run_cli, wait_for
from tests.integration import layered_registry
from tests.integration.layered_registry import SlowBlob

layered, no_docker_config = layered_registry.layered, layered_registry.no_docker_config   # fixtures


class Tmux:
    def __init__(self, width: int, height: int):
        need_tool("tmux")
        self.server = f"dockyard-progress-{uuid.uuid4().hex[:8]}"
        self.width, self.height = width, height

    def run(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.server, *args], capture_output=True, text=True, **kw)

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-s", "t", "-x", str(self.width), "-y", str(self.height), command, check=True)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "t").stdout

    def wait(self, probe, what: str) -> str:
        return wait_for(lambda: (lambda s: s if probe(s) else None)(self.screen()), what, 90)

    def kill(self) -> None:
        self.run("kill-server")


def _pull_command(root: str, ref: str) -> str:
    env = " ".join(f"{k}={shlex.quote(os.environ[k])}" for k in ("DOCKER_CONFIG", "DOCKYARD_CONFIG"))
    return (f"cd {shlex.quote(ROOT)} && TERM=xterm-256color {env} {shlex.quote(sys.executable)} -m tui.cli "
            f"--root {shlex.quote(root)} pull {shlex.quote(ref)}; echo EXITED $?; sleep 60")


def _junk(screen: str) -> list[str]:
    return [line for line in screen.splitlines() if "\x1b" in line or "[2K" in line or "[1A" in line
            or "[1B" in line]


def test_pull_draws_one_line_per_layer_and_a_bar_in_a_terminal(layered, tmp_path):
    reg, image = layered["reg"], layered["image"]
    big = json.loads(reg.get_manifest("x/layered", "1")[0])["layers"][1]["digest"]
    proxy = SlowBlob(reg, big)
    root = str(tmp_path / "root")
    ref = f"{proxy.host}/x/layered:1"
    tmux = Tmux(120, 30)
    try:
        tmux.start(_pull_command(root, ref))
        one, two, three = image["shorts"]
        mid = tmux.wait(lambda s: f"{two}: Downloading [" in s and f"{one}: Pull complete" in s,
                        "the big layer's bar and the small layers done")
        proxy.half_sent.wait(60)
        line = next(l for l in mid.splitlines() if l.startswith(f"{two}: Downloading"))
        assert "=>" in line and "MB/6.298MB" in line, line   # go-units' sizes: the blob is 6,298,112 bytes
        assert len(line.rstrip()) < 120
        proxy.go.set()
        screen = tmux.wait(lambda s: "EXITED" in s, "the end of the pull")
    finally:
        proxy.go.set()
        tmux.kill()
        proxy.stop()
    lines = [l.rstrip() for l in screen.splitlines() if l.strip()]
    assert lines[0] == "1: Pulling from x/layered", screen
    assert lines[1:4] == [f"{s}: Pull complete" for s in (one, two, three)], lines   # each layer's line, in place
    assert lines[4].startswith("Digest: sha256:")
    assert lines[5:] == [f"Status: Downloaded newer image for {ref}", ref, "EXITED 0"], lines
    assert not _junk(screen), screen
    assert run_cli("images", "-q", root=root).stdout.decode().split() == [image["image_id"][7:19]]
    assert run_cli("check", root=root).stdout.decode().rstrip().endswith(": consistent")


def test_narrow_terminal_and_a_second_pull(layered, tmp_path):
    image = layered["image"]
    root = str(tmp_path / "root")
    run_cli("pull", image["ref"], root=root)
    tmux = Tmux(50, 20)
    try:
        tmux.start(_pull_command(root, image["ref"]))
        screen = tmux.wait(lambda s: "EXITED" in s, "the end of the pull")
    finally:
        tmux.kill()
    lines = [l.rstrip() for l in screen.splitlines() if l.strip()]
    assert [f"{s}: Already exists" for s in image["shorts"]] == lines[1:4], lines
    assert all(len(l) < 50 for l in lines[:4]), lines
    assert any(l.startswith("Status: Image is up to date") for l in lines), lines
    assert not _junk(screen), screen


def test_plain_lines_when_the_output_is_not_a_terminal(layered, tmp_path):
    image = layered["image"]
    out = run_cli("pull", image["ref"], root=str(tmp_path / "root")).stdout.decode()
    assert "\x1b" not in out and "Downloading" not in out
    lines = out.splitlines()
    assert lines[0] == "1: Pulling from x/layered"
    for s in image["shorts"]:
        assert lines.count(f"{s}: Pulling fs layer") == 1 and lines.count(f"{s}: Pull complete") == 1
