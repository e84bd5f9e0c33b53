"""Running containers for real through the CLI: exit codes, streams, logs,
lifecycle, --rm, limits and isolation."""
import json
import os
import time

import pytest

from tests.conftest import run_cli

DOCKER_CAPS = "00000000a80425fb"


def dy(root, *args, **kw):
    return run_cli(*args, root=root, check=kw.pop("check", False), **kw)


def test_exit_codes(root):
    assert dy(root, "run", "--rm", "busybox", "true").returncode == 0
    assert dy(root, "run", "--rm", "busybox", "sh", "-c", "exit 3").returncode == 3
    p = dy(root, "run", "--rm", "busybox", "nosuchcommand")
    assert p.returncode == 127
    assert b'exec: "nosuchcommand": executable file not found in $PATH' in p.stderr
    p = dy(root, "run", "--rm", "busybox", "/etc/passwd")
    assert p.returncode == 126


def test_stdout_and_stderr_kept_apart(root):
    p = dy(root, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
    assert p.stdout == b"out\n" and p.stderr == b"err\n"


def test_detached_logs_stop_and_rm(root):
    cid = dy(root, "run", "-d", "--name", "sleeper", "busybox", "sh", "-c",
             "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.1; done").stdout.decode().strip()
    assert len(cid) == 64
    ps = dy(root, "ps").stdout.decode().splitlines()
    assert len(ps) == 2 and ps[1].split()[0] == cid[:12] and ps[1].split()[-1] == "sleeper"
    for _ in range(100):
        if b"started" in dy(root, "logs", "sleeper").stdout:
            break
        time.sleep(0.05)
    assert dy(root, "stop", "sleeper").returncode == 0
    assert dy(root, "logs", "sleeper").stdout == b"started\nbye\n"
    state = json.loads(dy(root, "inspect", "sleeper").stdout)[0]["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 0
    assert "Exited (0)" in dy(root, "ps", "-a").stdout.decode()
    assert dy(root, "rm", "sleeper").returncode == 0
    assert dy(root, "ps", "-aq").stdout == b""


def test_kill_gives_137_and_rm_needs_force(root):
    dy(root, "run", "-d", "--name", "k", "busybox", "sleep", "300")
    p = dy(root, "rm", "k")
    assert p.returncode == 1 and b"container is running" in p.stderr
    assert dy(root, "kill", "k").returncode == 0
    assert dy(root, "wait", "k").stdout.strip() == b"137"
    assert dy(root, "rm", "k").returncode == 0


def test_rm_flag_leaves_nothing(root):
    assert dy(root, "run", "--rm", "busybox", "sh", "-c", "echo x > /file").returncode == 0
    assert dy(root, "ps", "-aq").stdout == b""
    assert os.listdir(os.path.join(root, "containers")) == []


def test_pause_unpause(root):
    dy(root, "run", "-d", "--name", "p", "busybox", "sleep", "300")
    assert dy(root, "pause", "p").returncode == 0
    assert "(Paused)" in dy(root, "ps").stdout.decode()
    p = dy(root, "pause", "p")
    assert p.returncode == 1 and b"is already paused" in p.stderr  # docker: 1 for pause of several
    assert dy(root, "unpause", "p").returncode == 0
    assert "(Paused)" not in dy(root, "ps").stdout.decode()
    p = dy(root, "unpause", "p")
    assert p.returncode == 1 and b"is not paused" in p.stderr
    dy(root, "rm", "-f", "p")


def _bounded(root, *args):
    """The CLI with a guard against hanging (what exec into a paused container did)."""
    import subprocess
    import sys

    from tests.conftest import ROOT
    env = dict(os.environ, DOCKYARD_ROOT=root, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], capture_output=True, env=env, cwd=ROOT,
                          stdin=subprocess.DEVNULL, timeout=60)


def test_exec_and_attach_into_a_paused_container_fail_at_once(root):
    """docker's messages and 125; a commit of a paused container leaves it
    paused (the user's pause is not the commit's); the monitor itself refuses
    an exec into a frozen container (the TUI's console path)."""
    dy(root, "run", "-d", "--name", "pz", "busybox", "sleep", "300")
    assert dy(root, "pause", "pz").returncode == 0
    p = _bounded(root, "exec", "pz", "true")
    assert p.returncode == 125, p.stderr
    assert b"container pz is paused, unpause the container before exec" in p.stderr
    p = _bounded(root, "attach", "pz")
    assert p.returncode == 125, p.stderr
    assert b"You cannot attach to a paused container, unpause it first" in p.stderr
    assert dy(root, "commit", "pz", "localhost/pz:1").returncode == 0
    assert json.loads(dy(root, "inspect", "pz").stdout)[0]["State"]["Paused"] is True
    from engine.runtime.client import ExecError, MonitorClient
    cid = json.loads(dy(root, "inspect", "pz").stdout)[0]["Id"]
    client = MonitorClient(os.path.join(root, "containers", cid))
    try:
        with pytest.raises(ExecError) as e:
            client.exec({"args": ["true"], "cwd": "/", "env": [], "user": {"uid": 0, "gid": 0}})
        assert e.value.exit_code == 125 and "is paused, unpause the container before exec" in str(e.value)
    finally:
        client.close()
    assert dy(root, "unpause", "pz").returncode == 0
    p = _bounded(root, "exec", "pz", "echo", "awake")
    assert p.returncode == 0 and p.stdout == b"awake\n"
    dy(root, "rm", "-f", "pz")


def test_env_user_workdir_hostname(root, tmp_path):
    envf = tmp_path / "env"
    envf.write_text("# comment\nFROM_FILE=yes\n")
    p = dy(root, "run", "--rm", "-e", "A=1", "--env-file", str(envf), "-w", "/tmp/work", "-u", "nobody",
           "-h", "boxy", "busybox", "sh", "-c", "echo $A $FROM_FILE; pwd; id -u; hostname; cat /etc/hostname")
    assert p.stdout.decode().split() == ["1", "yes", "/tmp/work", "65534", "boxy", "boxy"], p.stderr


def test_volumes_binds_read_only_tmpfs(root, tmp_path):
    host = tmp_path / "share"
    host.mkdir()
    (host / "in").write_text("from host\n")
    p = dy(root, "run", "--rm", "-v", f"{host}:/data", "-v", "named:/vol", "--tmpfs", "/scratch",
           "busybox", "sh", "-c", "cat /data/in; echo out > /data/out; echo v > /vol/f; touch /scratch/t && echo ok")
    assert p.stdout.decode().split() == ["from", "host", "ok"], p.stderr
    assert (host / "out").read_text() == "out\n"
    assert b"named" in dy(root, "volume", "ls").stdout
    p = dy(root, "run", "--rm", "-v", "named:/vol:ro", "busybox", "sh", "-c", "cat /vol/f; echo no > /vol/g")
    assert p.stdout == b"v\n" and p.returncode != 0
    p = dy(root, "run", "--rm", "--read-only", "busybox", "sh", "-c", "touch /x")
    assert p.returncode != 0 and b"Read-only file system" in p.stderr


def test_isolation_matches_docker_defaults(root):
    probe = ("cat /proc/self/status | grep -E '^(CapEff|CapBnd|CapPrm|CapInh|CapAmb|Seccomp|NoNewPrivs):'; "
             "echo pids: $(ls /proc | grep -E '^[0-9]+$' | wc -l); "
             "mount -t tmpfs x /tmp 2>/dev/null && echo mount-ok || echo mount-refused; "
             "echo masked: $(cat /proc/timer_list /proc/keys 2>/dev/null | wc -c); "
             "echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo sys-rw || echo sys-ro; "
             "ls /dev | tr '\\n' ' '")
    out = dy(root, "run", "--rm", "busybox", "sh", "-c", probe).stdout.decode()
    fields = dict(l.split(":", 1) for l in out.splitlines() if ":" in l and not l.startswith("pids"))
    assert fields["CapEff"].strip() == DOCKER_CAPS and fields["CapBnd"].strip() == DOCKER_CAPS
    assert fields["CapInh"].strip() == "0" * 16 and fields["CapAmb"].strip() == "0" * 16
    assert fields["Seccomp"].strip() == "2" and fields["NoNewPrivs"].strip() == "0"
    pids = int(out.split("pids:")[1].split()[0])
    assert pids <= 6  # sh and the probe's own pipeline: nothing of the host
    assert "mount-refused" in out and "masked: 0" in out and "sys-ro" in out
    devs = out.splitlines()[-1].split()
    assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm"} <= set(devs)
    assert "sda" not in devs and "vda" not in devs


def test_memory_limit_oom_kill(root):
    p = dy(root, "run", "--name", "hog", "-m", "16m", "busybox", "sh", "-c",
           "x=a; while true; do x=$x$x; done")
    assert p.returncode == 137
    state = json.loads(dy(root, "inspect", "hog").stdout)[0]["State"]
    assert state["OOMKilled"] is True
    dy(root, "rm", "hog")


def test_pids_limit_stops_a_fork_bomb(root):
    bomb = "for i in $(seq 1 40); do sleep 30 & done; echo all-forked; kill $(jobs -p) 2>/dev/null; true"
    p = dy(root, "run", "--rm", "--pids-limit", "20", "busybox", "sh", "-c", bomb)
    assert b"all-forked" not in p.stdout and p.returncode != 0
    assert b"fork" in p.stderr.lower() or b"resource temporarily unavailable" in p.stderr.lower(), p.stderr
    # The same loop under a roomier limit forks them all.
    p = dy(root, "run", "--rm", "--pids-limit", "100", "busybox", "sh", "-c", bomb)
    assert b"all-forked" in p.stdout, p.stderr


def test_exec_into_running_container(root):
    dy(root, "run", "-d", "--name", "ex", "-h", "exhost", "busybox", "sleep", "300")
    p = dy(root, "exec", "ex", "sh", "-c", "hostname; echo $PATH; exit 5")
    assert p.returncode == 5 and p.stdout.decode().split()[0] == "exhost"
    p = dy(root, "exec", "-u", "nobody", "-w", "/tmp", "-e", "Z=9", "ex", "sh", "-c", "id -u; pwd; echo $Z")
    assert p.stdout.decode().split() == ["65534", "/tmp", "9"]
    dy(root, "rm", "-f", "ex")


def test_engine_restart_sees_container_from_cli(root):
    from engine import Engine
    dy(root, "run", "-d", "--name", "seen", "busybox", "sleep", "300")
    eng = Engine(root)
    try:
        c = eng.container("seen")
        assert c.status == "running" and c.pid
        eng.stop_container("seen", timeout=1)
        assert eng.container("seen").status == "exited"
    finally:
        eng.close()
    assert "Exited" in dy(root, "ps", "-a").stdout.decode()


def test_late_client_still_gets_the_start_error(root):
    """`run` starts the container waiting for its client; if the command is
    missing, the client that attaches a moment later still gets 127 and why."""
    from engine import Engine
    from engine.containers.options import RunOptions
    from engine.runtime.launcher import ContainerStartError
    from tui.terminal import run_attached
    eng = Engine(root)
    try:
        cid = eng.create_container(RunOptions(image="busybox", command=["nosuch"], autoremove=True))
        eng.start_container(cid, wait_attach=True)
        time.sleep(1)  # the init has failed by now; the monitor must still be there
        client = eng.attach(cid, just_started=True)
        r, w = os.pipe()
        try:
            with pytest.raises(ContainerStartError, match='exec: "nosuch": executable file not found') as e:
                run_attached(client, tty=False, stdin=False, detach_keys=b"", stdout_fd=w, stderr_fd=w)
            assert e.value.exit_code == 127
        finally:
            client.close()
            os.close(r)
            os.close(w)
    finally:
        eng.close()
    for _ in range(100):
        if not os.listdir(os.path.join(root, "containers")):
            break
        time.sleep(0.05)
    assert os.listdir(os.path.join(root, "containers")) == []
