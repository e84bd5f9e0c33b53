"""`dockyard` hands its command to a worker the store's zygote forks
(tui/cli/worker.py): what the user sees must be what the command does when
it runs in the dockyard process itself (DOCKYARD_ZYGOTE=0), for the things a
worker could get wrong: the working directory, the environment, stdin, exit
codes, stderr, signals, and a caller that dies."""
import os
import signal
import subprocess
import sys

import pytest

from engine.runtime import zygote
from tests.conftest import ROOT, wait_for


def _env(root: str, worker: bool, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DOCKYARD_ZYGOTE"}
    env.update(DOCKYARD_ROOT=root, PYTHONPATH=ROOT, **extra)
    if not worker:
        env["DOCKYARD_ZYGOTE"] = "0"
    return env


def _dy(root, *args, worker=True, cwd=None, input=None, **env):
    return subprocess.run([sys.executable, "-m", "tui.cli", *args], input=input, capture_output=True,
                          env=_env(root, worker, **env), cwd=cwd or ROOT)


@pytest.mark.parametrize("worker", [True, False], ids=["worker", "in-process"])
def test_the_caller_s_cwd_env_stdin_and_exit_code(root, tmp_path, worker):
    # environment: -e NAME takes the value from the caller's environment
    p = _dy(root, "run", "--rm", "-e", "FOO", "busybox", "sh", "-c", "echo $FOO; echo oops >&2; exit 3",
            worker=worker, FOO="from-the-caller")
    assert (p.returncode, p.stdout, p.stderr) == (3, b"from-the-caller\n", b"oops\n")
    # stdin
    p = _dy(root, "run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z", worker=worker, input=b"piped in\n")
    assert (p.returncode, p.stdout) == (0, b"PIPED IN\n")
    # the working directory: relative paths are the caller's
    here = tmp_path / "here"
    here.mkdir()
    (here / "env.list").write_text("FROM_FILE=yes\n")
    cid = _dy(root, "run", "-d", "--env-file", "env.list", "busybox", "sleep", "60", worker=worker,
              cwd=str(here)).stdout.decode().strip()
    assert _dy(root, "cp", f"{cid}:/etc/hostname", "copied", worker=worker, cwd=str(here)).returncode == 0
    assert (here / "copied").read_text().strip() == cid[:12]
    out = _dy(root, "exec", cid, "sh", "-c", "echo $FROM_FILE", worker=worker).stdout
    assert out == b"yes\n"
    # errors and usage go to stderr with docker's codes
    p = _dy(root, "inspect", "nosuchthing", worker=worker)
    assert p.returncode != 0 and b"no such object: nosuchthing" in p.stderr
    p = _dy(root, "run", "--nosuchflag", "busybox", worker=worker)
    assert p.returncode == 125 and p.stderr.startswith(b"unknown flag: --nosuchflag\n")
    assert _dy(root, "rm", "-f", cid, worker=worker).returncode == 0


@pytest.mark.parametrize("worker", [True, False], ids=["worker", "in-process"])
def test_usage_errors_exit_as_docker_s(root, worker):
    # docker's codes and messages (cobra's FlagErrorFunc, cli/required.go), the
    # same whether the zygote's worker or the dockyard process parses them
    p = _dy(root, "ps", "--bogus", worker=worker)
    assert (p.returncode, p.stdout) == (125, b"")
    assert p.stderr == (b"unknown flag: --bogus\n\nUsage:  dockyard ps [OPTIONS]\n\n"
                        b"Run 'dockyard ps --help' for more information\n")
    p = _dy(root, "logs", "-n", worker=worker)
    assert (p.returncode, p.stderr.split(b"\n")[0]) == (125, b"flag needs an argument: 'n' in -n")
    p = _dy(root, "run", worker=worker)
    assert (p.returncode, p.stderr.split(b"\n")[0]) == (1, b"dockyard: 'dockyard run' requires at least 1 argument")
    p = _dy(root, "nosuch", worker=worker)
    assert (p.returncode, p.stderr) == (1, (b"dockyard: unknown command: dockyard nosuch\n\n"
                                            b"Run 'dockyard --help' for more information\n"))
    p = _dy(root, "image", worker=worker)
    assert p.returncode == 0 and p.stdout == b"" and p.stderr.startswith(b"usage: dockyard image")
    if worker:  # these really ran in a worker: the root's zygote is up
        assert any(os.path.realpath(r) == os.path.realpath(root) for r in zygote.zygote_roots().values())


def _workers_of(root: str) -> set[int]:
    """Processes forked by the root's zygote other than monitors: workers."""
    zs = {pid for pid, r in zygote.zygote_roots().items() if os.path.realpath(r) == os.path.realpath(root)}
    out = set()
    for pid in zs:
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid in zs:
            out.add(pid)
    return out


def test_signals_reach_the_worker_and_a_killed_caller_takes_it_along(root):
    cid = _dy(root, "run", "-d", "busybox", "sh", "-c", "while true; do echo tick; sleep 0.2; done"
              ).stdout.decode().strip()
    # Ctrl-C on a following `logs -f` ends it as it would end in-process
    # (SIGINT as in a terminal: a CI job may have it ignored, and then so would dockyard)
    p = subprocess.Popen([sys.executable, "-m", "tui.cli", "logs", "-f", cid], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=_env(root, True), cwd=ROOT,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert p.stdout.readline() == b"tick\n"
    assert _workers_of(root), "the command runs in a worker of the zygote"
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=30) == 130
    p.stdout.close()
    p.stderr.close()
    wait_for(lambda: not _workers_of(root), "the interrupted worker to end")
    # a caller killed outright (nothing to forward) takes its worker with it
    p = subprocess.Popen([sys.executable, "-m", "tui.cli", "logs", "-f", cid], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, env=_env(root, True), cwd=ROOT)
    assert p.stdout.readline() == b"tick\n"
    (worker,) = _workers_of(root)
    p.kill()  # the process this test started, by its pid
    p.wait()
    p.stdout.close()
    wait_for(lambda: not os.path.exists(f"/proc/{worker}"), "the worker of a killed caller to end")
    assert _dy(root, "rm", "-f", cid).returncode == 0


def test_the_zygote_s_fingerprint_covers_the_command_line_s_modules():
    # a zygote serves tui.cli.worker: a changed tui/cli/*.py must not be
    # served by a zygote that loaded the old one
    zygote.serve("tui.cli.worker")  # as the command line's call does
    path = os.path.join(ROOT, "tui", "cli", "usage.py")
    st = os.stat(path)
    before = zygote._compute_fingerprint()
    try:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
        assert zygote._compute_fingerprint() != before
    finally:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert zygote._compute_fingerprint() == before


def test_the_zygote_serves_only_the_modules_its_face_registered(root):
    """The command line names tui.cli.worker in its call (which registers it:
    zygote.serve) and the zygote it starts is told so (--serve); a call naming
    any other module is refused."""
    import socket
    assert _dy(root, "ps").returncode == 0
    (pid,) = [p for p, r in zygote.zygote_roots().items() if os.path.realpath(r) == os.path.realpath(root)]
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        argv = f.read().split(b"\0")
    assert argv[argv.index(b"--serve") + 1] == b"tui.cli.worker"
    rdir = zygote.run_dir(root)
    (name,) = [n for n in os.listdir(rdir) if n.endswith(".sock")]
    for module in (b"tui.cli", b"os", b"tui.cli.workerx", b"engine.runtime.monitor"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(os.path.join(rdir, name))
            s.sendall(b"call\0" + module + b"\0" + b"0\0")
            s.settimeout(10)
            assert s.recv(256).startswith(b"error: not a module the zygote serves"), module
        finally:
            s.close()
