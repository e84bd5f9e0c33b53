"""The monitor zygote (engine/runtime/zygote.py): one pre-imported process
per store root that forks container monitors. Real containers, real
processes: what a user would see is that starts work the same with it,
without it, after it died or went idle, and that nobody else can use it."""
import os
import signal
import socket

import pytest

from engine.containers.options import RunOptions
from engine.runtime import zygote
from tests.conftest import wait_for


def _argv(pid: int) -> list[bytes]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a for a in f.read().split(b"\0") if a]


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[1])


def _zygotes(root: str) -> list[int]:
    return [pid for pid, r in zygote.zygote_roots().items() if os.path.realpath(r) == os.path.realpath(root)]


_wait_for = wait_for


def _run(engine, *cmd: str, **kw) -> str:
    cid = engine.create_container(RunOptions(image="busybox", command=list(cmd), network="none", **kw))
    engine.start_container(cid)
    return cid


def _state(engine, cid: str) -> dict:
    from engine.runtime.state import read_state
    return read_state(engine.container_dir(cid))


@pytest.fixture
def eng(engine, starter, monkeypatch):
    monkeypatch.delenv("DOCKYARD_ZYGOTE", raising=False)
    yield engine
    for c in engine.containers(all=True):
        engine.remove_container(c.id, force=True)


def test_starts_are_forked_by_one_zygote(eng):
    ids = [_run(eng, "sleep", "60") for _ in range(3)]
    zs = _zygotes(eng.root)
    assert len(zs) == 1, f"one zygote for the root, found {zs}"
    for cid in ids:
        assert eng.container(cid).status == "running"
        mpid = _state(eng, cid)["monitor_pid"]
        assert _ppid(mpid) == zs[0]           # forked by the zygote...
        argv = _argv(mpid)
        i = argv.index(b"engine.runtime.monitor")  # ...and reads as the container's monitor
        assert argv[i + 1] == eng.container_dir(cid).encode()
    # the same answers as a monitor started on its own
    assert eng.wait_container(_run(eng, "sh", "-c", "exit 3")) == 3


def test_forked_monitor_reexecutes_lean_and_keeps_its_state(eng):
    from engine.runtime.client import MonitorClient
    from engine.runtime.logs import read_logs
    cid = _run(eng, "sh", "-c", "echo first; printf partial; sleep 60")
    cdir = eng.container_dir(cid)
    mpid = _state(eng, cid)["monitor_pid"]
    # After a moment of running, the monitor re-executes itself without the
    # set-up modules: same pid, the lean command line.
    _wait_for(lambda: b"--resume" in _argv(mpid), "the monitor's lean re-exec")
    assert _state(eng, cid)["monitor_pid"] == mpid and eng.container(cid).status == "running"
    # What the container printed before is still replayed to a new client
    # (including the line without its newline yet).
    c = MonitorClient(cdir)
    c.attach(stdin=False, replay=True)
    got = b""
    while b"partial" not in got:
        frame = c.next_frame()
        assert frame is not None, got
        got += frame[1] if frame[0] in (4, 5) else b""
    assert got.startswith(b"first\npartial")
    c.close()
    eng.kill_container(cid)
    eng.wait_container(cid)
    # and the unfinished line reached the log at the end
    assert [d for _, _, d in read_logs(cdir)] == [b"first\n", b"partial"]


def test_without_the_zygote(eng, monkeypatch):
    monkeypatch.setenv("DOCKYARD_ZYGOTE", "0")
    cid = _run(eng, "sleep", "60")
    assert eng.container(cid).status == "running"
    assert _zygotes(eng.root) == []
    mpid = _state(eng, cid)["monitor_pid"]
    assert _ppid(mpid) != os.getpid()
    assert eng.wait_container(_run(eng, "sh", "-c", "exit 5")) == 5


def test_a_killed_zygote_is_replaced_and_its_monitors_live_on(eng):
    first = _run(eng, "sleep", "60")
    (z,) = _zygotes(eng.root)
    os.kill(z, signal.SIGKILL)  # the zygote this test started
    _wait_for(lambda: not _zygotes(eng.root), "the killed zygote to go")
    assert eng.container(first).status == "running"
    second = _run(eng, "sleep", "60")
    (z2,) = _zygotes(eng.root)
    assert z2 != z and eng.container(second).status == "running"
    assert _ppid(_state(eng, second)["monitor_pid"]) == z2


def test_an_idle_zygote_leaves(eng, monkeypatch):
    monkeypatch.setenv("DOCKYARD_ZYGOTE_IDLE", "0.5")
    cid = _run(eng, "sleep", "60")
    _wait_for(lambda: not _zygotes(eng.root), "the idle zygote to leave")
    assert not [n for n in os.listdir(zygote.run_dir(eng.root)) if n.endswith(".sock")]
    assert eng.container(cid).status == "running"
    assert eng.wait_container(_run(eng, "true")) == 0


def _ask(root: str, payload: bytes, fds: list[int]) -> bytes:
    rdir = zygote.run_dir(root)
    (name,) = [n for n in os.listdir(rdir) if n.endswith(".sock")]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(rdir, name))
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, b"".join(fd.to_bytes(4, "little") for fd in fds))] if fds else []
    s.sendmsg([payload], anc)
    s.settimeout(10)
    answer = s.recv(256)
    s.close()
    return answer


def test_the_zygote_refuses_what_is_not_a_container_of_its_store(eng, tmp_path):
    real = eng.container_dir(_run(eng, "sleep", "60"))
    r, w = os.pipe()
    try:
        fake = tmp_path / "containers" / ("a" * 64)
        fake.mkdir(parents=True)
        (fake / "config.json").write_text("{}")
        for payload, fds in [(b"start\0/etc", [w]),
                             (b"start\0" + str(fake).encode(), [w]),              # another store's layout
                             (b"start\0" + os.path.join(eng.root, "containers", "x").encode(), [w]),
                             (b"start\0" + real.encode(), []),                    # no ready pipe
                             (b"launch\0/etc", [w])]:
            assert _ask(eng.root, payload, fds).startswith(b"error"), payload
    finally:
        os.close(r)
        os.close(w)


def test_only_its_user_reaches_the_zygote(eng):
    _run(eng, "true")
    rdir = zygote.run_dir(eng.root)
    assert os.stat(rdir).st_mode & 0o077 == 0
    (name,) = [n for n in os.listdir(rdir) if n.endswith(".sock")]
    assert os.stat(os.path.join(rdir, name)).st_mode & 0o077 == 0
    pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(os.path.join(rdir, name))
                code = 2
            except PermissionError:
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_many_commands_at_once_on_a_new_root_share_one_zygote(root):
    """Eight `run --rm` at once where no zygote runs yet: they race to start
    one; all succeed, and one zygote is left."""
    import subprocess
    import sys

    from tests.conftest import ROOT
    env = {k: v for k, v in os.environ.items() if k != "DOCKYARD_ZYGOTE"}
    env.update(DOCKYARD_ROOT=root, PYTHONPATH=ROOT)
    assert _zygotes(root) == []
    procs = [subprocess.Popen([sys.executable, "-m", "tui.cli", "run", "--rm", "busybox", "echo", f"n{i}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT) for i in range(8)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [e.decode() for _, e in outs]
    assert sorted(o.decode().strip() for o, _ in outs) == [f"n{i}" for i in range(8)]
    assert len(_zygotes(root)) == 1


def test_the_tui_and_the_cli_on_one_store_share_one_zygote(eng):
    """The TUI starts its monitors from a zygote that also serves the CLI's
    workers: a `dockyard` command beside it finds that zygote, not a second one."""
    import subprocess
    import sys

    from tests.conftest import ROOT
    env = {k: v for k, v in os.environ.items() if k != "DOCKYARD_ZYGOTE"}
    env.update(DOCKYARD_ROOT=eng.root, PYTHONPATH=ROOT)
    # What the TUI does at start (run_app), then a container started from it.
    tui_side = ("import sys\n"
                "from tui.app.main import share_zygote_with_cli\n"
                "share_zygote_with_cli()\n"
                "from engine import Engine, RunOptions\n"
                "e = Engine(sys.argv[1])\n"
                "cid = e.create_container(RunOptions(image='busybox', command=['sleep', '60'], network='none'))\n"
                "e.start_container(cid)\n"
                "print(cid)\n")
    cid = subprocess.run([sys.executable, "-c", tui_side, eng.root], capture_output=True, text=True, env=env,
                         cwd=ROOT, check=True).stdout.strip()
    assert len(_zygotes(eng.root)) == 1
    ps = subprocess.run([sys.executable, "-m", "tui.cli", "ps", "-q", "--no-trunc"], capture_output=True, text=True,
                        env=env, cwd=ROOT)
    assert ps.returncode == 0, ps.stderr
    assert ps.stdout.split() == [cid]
    assert len(_zygotes(eng.root)) == 1, "the CLI started a zygote of its own beside the TUI's"
