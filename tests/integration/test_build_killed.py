"""A build's RUN containers are the build's, not the user's: `ps -a` and
`container prune` never see them, a build running in another process keeps
them while another engine starts, and those of a build killed outright
(kill -9 of `dockyard build`, mid-RUN) are removed at the next engine start:
record, directory, upper dir and the RUN's processes."""
import json
import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from engine.runtime import zygote
from engine.store.db import SCHEMA_VERSION
from tests.conftest import ROOT, run_cli, wait_for

SLOW = "FROM localhost/busybox:latest\nRUN touch /x && sleep 1000\n"


def _env(root: str, worker: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DOCKYARD_ZYGOTE"}
    env.update(DOCKYARD_ROOT=root, PYTHONPATH=ROOT)
    if not worker:
        env["DOCKYARD_ZYGOTE"] = "0"  # the build runs in the dockyard process itself
    return env


def _container_ids(root: str) -> list[str]:
    db = sqlite3.connect(f"file:{os.path.join(root, 'db.sqlite3')}?mode=ro", uri=True)
    try:
        return [r[0] for r in db.execute("SELECT id FROM containers")]
    finally:
        db.close()


def _running_run_step(root: str):
    """(container id, pid of its init) once the RUN has touched /x in its upper dir."""
    for cid in _container_ids(root):
        cdir = os.path.join(root, "containers", cid)
        try:
            with open(os.path.join(cdir, "state.json")) as f:
                st = json.load(f)
        except (OSError, ValueError):
            continue
        if st.get("status") == "running" and st.get("pid") and os.path.exists(os.path.join(cdir, "upper", "x")):
            return cid, st["pid"]
    return None


def _start_build(root: str, tmp_path, worker: bool):
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(SLOW)
    log = open(tmp_path / "build.log", "wb")
    p = subprocess.Popen([sys.executable, "-m", "tui.cli", "build", str(ctx)], stdout=log, stderr=log,
                         env=_env(root, worker), cwd=ROOT,
                         # a test run in the background ignores SIGINT: the build must not
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log.close()

    def probe():
        if p.poll() is not None:
            pytest.fail(f"the build ended: {(tmp_path / 'build.log').read_text()}")
        return _running_run_step(root)

    cid, pid = wait_for(probe, "the RUN step's container to run", seconds=60)
    return p, cid, pid


def _workers_of(root: str) -> set[int]:
    """The children of the root's zygote other than monitors: its command workers."""
    zs = {pid for pid, r in zygote.zygote_roots().items() if os.path.realpath(r) == os.path.realpath(root)}
    out = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    monitor = b"engine.runtime.monitor" in f.read()
            except OSError:
                continue
            if ppid in zs and not monitor:
                out.add(int(pid))
    return out


def _engine_start(root: str) -> None:
    from engine import Engine
    Engine(root).close()


def _shown(root: str) -> list[str]:
    return run_cli("ps", "-aq", "--no-trunc", root=root).stdout.decode().split()


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _kill_and_reap(p: subprocess.Popen, root: str) -> None:
    if p.poll() is None:
        p.kill()  # the build this test started, by its pid
    p.wait()
    _engine_start(root)


def test_a_running_build_s_containers_are_not_the_user_s(root, tmp_path):
    p, cid, pid = _start_build(root, tmp_path, worker=False)
    try:
        assert cid not in _shown(root)
        assert cid not in run_cli("container", "prune", "-f", root=root).stdout.decode()
        from engine import Engine
        eng = Engine(root)  # another engine starting meanwhile (its reconcile) leaves the build alone
        try:
            assert cid not in [c.id for c in eng.containers(all=True)]
            assert eng.disk_usage().containers == 0
        finally:
            eng.close()
        assert cid in _container_ids(root) and _running_run_step(root) == (cid, pid)
        assert p.poll() is None
        # a user container next to it is listed as usual
        mine = run_cli("create", "--name", "mine", "localhost/busybox", "true", root=root).stdout.decode().strip()
        assert _shown(root) == [mine]
        run_cli("rm", mine, root=root)
    finally:
        _kill_and_reap(p, root)
    wait_for(lambda: _gone(pid), "the RUN's process to end")


@pytest.mark.parametrize("worker", [False, True], ids=["in-process", "worker"])
def test_a_build_killed_mid_run_leaves_nothing_after_the_next_start(root, tmp_path, worker):
    p, cid, pid = _start_build(root, tmp_path, worker)
    cdir = os.path.join(root, "containers", cid)
    try:
        workers = _workers_of(root) if worker else set()
        assert not worker or workers, "the build runs in a worker of the zygote"
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        # kill -9 of the caller: its worker (the build itself) ends too
        wait_for(lambda: not any(os.path.exists(f"/proc/{w}") for w in workers), "the build's worker to end")
        assert cid not in _shown(root)
        _engine_start(root)
        assert not os.path.exists(os.path.join(cdir, "upper")) and not os.path.exists(cdir)
        assert cid not in _container_ids(root)
        wait_for(lambda: _gone(pid), "the RUN's process to end")
        out = run_cli("check", root=root)
        assert "NOT" not in out.stdout.decode() and "consistent" in out.stdout.decode(), out.stdout.decode()
    finally:
        _kill_and_reap(p, root)


def test_an_interrupted_build_removes_its_running_container(root, tmp_path):
    p, cid, pid = _start_build(root, tmp_path, worker=False)
    try:
        p.send_signal(signal.SIGINT)  # Ctrl-C
        assert p.wait(timeout=60) != 0
        # no engine start needed: the build removed it on its way out, RUN killed
        assert cid not in _container_ids(root)
        assert not os.path.exists(os.path.join(root, "containers", cid))
        wait_for(lambda: _gone(pid), "the RUN's process to end")
    finally:
        _kill_and_reap(p, root)


def test_a_store_from_before_leases_loses_its_leftover_build_containers(root):
    """Schema 1 had no containers.builder: the RUN containers builds left
    there (label dockyard.build=1) are marked at the upgrade and removed."""
    from engine import Engine
    from engine.containers.options import RunOptions
    eng = Engine(root)
    try:
        left = eng.create_container(RunOptions(image="localhost/busybox", command=["true"],
                                               labels={"dockyard.build": "1"}))
        mine = eng.create_container(RunOptions(image="localhost/busybox", command=["true"], name="mine"))
    finally:
        eng.close()
    db = sqlite3.connect(os.path.join(root, "db.sqlite3"))
    db.execute("ALTER TABLE containers DROP COLUMN builder")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    eng = Engine(root)
    try:
        assert [c.id for c in eng.containers()] == [mine]
        assert not os.path.exists(os.path.join(root, "containers", left))
        assert eng.store.db.query("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    finally:
        eng.close()
    run_cli("rm", mine, root=root)
