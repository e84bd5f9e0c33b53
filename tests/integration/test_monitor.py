"""The per-container monitor for real (root): bundles built as the engine
builds them (spec.build_spec over a busybox lower dir), started with
launcher.start, driven through MonitorClient."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import ROOT, need_root, need_tool

BUSYBOX_LINKS = ("sh", "echo", "cat", "sleep", "stty", "ls", "true", "tr", "head", "yes", "wc", "printf")


@pytest.fixture(scope="module")
def lower(tmp_path_factory):
    need_root()
    bb = need_tool("busybox")
    d = tmp_path_factory.mktemp("busybox-lower")
    os.makedirs(d / "bin")
    os.makedirs(d / "etc")
    shutil.copy2(bb, d / "bin" / "busybox")
    for name in BUSYBOX_LINKS:
        os.symlink("busybox", d / "bin" / name)
    (d / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (d / "etc" / "group").write_text("root:x:0:\n")
    (d / "etc" / "hostname").write_text("")
    return str(d)


class Bundles:
    """Makes container directories; on teardown makes sure nothing is left:
    no monitor, no container process, no cgroup (killing only what it started)."""

    def __init__(self, tmp_path, lower):
        self.tmp = tmp_path
        self.lower = lower
        self.made: list[tuple[str, str]] = []     # (dir, cgroups path)
        self.pids: set[int] = set()               # monitors and containers' pid 1 we started
        self.inits: set[int] = set()

    def make(self, command, *, tty=False, open_stdin=False, wait_attach=False, autoremove=False,
             log_max_size=10 << 20, log_max_files=3, tty_size=None, hostname="moncontainer", memory=None) -> str:
        from engine.containers.options import RunOptions
        from engine.containers.spec import build_spec, capabilities
        from engine.runtime import seccomp
        cid = uuid.uuid4().hex + uuid.uuid4().hex
        cdir = self.tmp / "root" / "containers" / cid
        for sub in ("rootfs", "upper", "work"):
            os.makedirs(cdir / sub)
        (cdir / "hostname").write_text(hostname + "\n")
        opts = RunOptions(image="busybox", command=list(command), tty=tty, interactive=open_stdin, memory=memory)
        cg_path = f"/dockyard/{uuid.uuid4().hex}"
        binds = [{"destination": "/etc/hostname", "type": "bind", "source": str(cdir / "hostname"),
                  "options": ["rbind", "rprivate"]}]
        spec = build_spec(container_id=cid, image_cfg={"Env": ["PATH=/bin"]}, opts=opts,
                          user={"uid": 0, "gid": 0}, hostname=hostname, lowerdirs=[self.lower],
                          upperdir=str(cdir / "upper"), workdir=str(cdir / "work"), binds=binds,
                          seccomp=seccomp.render_for_spec(set(capabilities(opts))), cgroups_path=cg_path)
        (cdir / "config.json").write_text(json.dumps(spec))
        (cdir / "monitor.json").write_text(json.dumps({
            "id": cid, "name": "t-" + cid[:6], "open_stdin": open_stdin, "wait_attach": wait_attach,
            "autoremove": autoremove, "log_max_size": log_max_size, "log_max_files": log_max_files,
            "tty_size": tty_size}))
        self.made.append((str(cdir), cg_path))
        return str(cdir)

    def start(self, cdir, **kw) -> dict:
        """launcher.start, remembering the pids to check (and kill) at the end."""
        from engine.runtime import launcher
        ans = launcher.start(cdir, **kw)
        self.pids.update(p for p in (ans.get("pid"), ans.get("monitor_pid")) if p)
        if ans.get("pid"):
            self.inits.add(ans["pid"])
        return ans

    def cleanup(self):
        from engine.runtime.cgroups import Cgroup
        from engine.runtime.state import is_monitor_of, read_monitor_pid
        problems = []
        for cdir, _ in self.made:
            pid = read_monitor_pid(cdir)
            if pid:
                self.pids.add(pid)
        # monitors of our bundles that never answered (a failed start): exiting now
        for name in os.listdir("/proc"):
            if name.isdigit() and any(is_monitor_of(int(name), cdir) for cdir, _ in self.made):
                self.pids.add(int(name))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(_alive(p) for p in self.pids):
            time.sleep(0.05)
        for p in self.inits:    # a test that failed half-way: end its container, the monitor cleans up
            if _alive(p):
                problems.append(f"container process {p} still running")
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in self.pids):
            time.sleep(0.05)
        for p in self.pids:
            if _alive(p):
                problems.append(f"process {p} still running")
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        for _cdir, cg_path in self.made:
            cg = Cgroup(cg_path)
            if cg.exists():
                problems.append(f"cgroup {cg_path} left behind")
                try:
                    cg.destroy()
                except Exception:
                    pass
        assert not problems, problems


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            st = f.read()
        return st[st.rindex(b")") + 2:st.rindex(b")") + 3] != b"Z"
    except (OSError, ValueError):
        return False


@pytest.fixture
def bundles(tmp_path, lower):
    need_root()
    b = Bundles(tmp_path, lower)
    yield b
    b.cleanup()


def wait_exited(cdir, timeout=15.0) -> dict:
    from engine.runtime.state import read_state
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = read_state(cdir)
        if st.get("status") == "exited" and not os.path.exists(os.path.join(cdir, "monitor.pid")):
            return st
        time.sleep(0.02)
    raise AssertionError(f"container did not exit: {read_state(cdir)}")


def read_until(client, needle: bytes, timeout=10.0) -> bytes:
    """Reads STDOUT/STDERR frames until `needle` shows up; returns all output."""
    import select

    from engine.runtime import protocol as P
    buf = b""
    deadline = time.monotonic() + timeout
    while needle not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"never saw {needle!r}; got {buf[-2000:]!r}"
        r, _, _ = select.select([client], [], [], 0 if client.has_pending() else left)
        if not r and not client.has_pending():
            continue
        frames = client.read_frames()
        assert frames is not None, f"monitor hung up before {needle!r}; got {buf!r}"
        for t, p in frames:
            if t in (P.STDOUT, P.STDERR):
                buf += p
    return buf


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


# -- tests ----------------------------------------------------------------------------------

def test_streams_log_and_exit_code(bundles):
    from engine.runtime.logs import read_logs
    cdir = bundles.make(["sh", "-c", "echo out; echo err >&2; exit 3"])
    ans = bundles.start(cdir)
    assert ans["ok"] and ans["pid"] > 1 and ans["monitor_pid"] != os.getpid()
    st = wait_exited(cdir)
    assert st["exit_code"] == 3 and st["oom_killed"] is False and st["error"] is None
    assert st["started_at"].endswith("Z") and st["finished_at"] >= st["started_at"]
    entries = [(s, d) for s, _, d in read_logs(cdir)]
    assert sorted(entries) == [("stderr", b"err\n"), ("stdout", b"out\n")]
    with open(os.path.join(cdir, "container.log")) as f:
        line = json.loads(f.readline())
    assert set(line) == {"log", "stream", "time"}
    assert not os.path.exists(os.path.join(cdir, "attach.sock"))


def test_missing_command_is_127_with_dockers_message(bundles):
    from engine.runtime.launcher import ContainerStartError
    cdir = bundles.make(["nosuchcommand"])
    with pytest.raises(ContainerStartError) as ei:
        bundles.start(cdir)
    assert ei.value.exit_code == 127
    assert 'exec: "nosuchcommand": executable file not found in $PATH' in str(ei.value)
    st = wait_exited(cdir)
    assert st["exit_code"] == 127 and "executable file not found" in st["error"]


def test_not_executable_is_126(bundles):
    from engine.runtime.launcher import ContainerStartError
    cdir = bundles.make(["/etc/passwd"])
    with pytest.raises(ContainerStartError) as ei:
        bundles.start(cdir)
    assert ei.value.exit_code == 126


def test_tty_attach_type_resize_detach_replay(bundles):
    from engine.runtime.client import MonitorClient
    cdir = bundles.make(["sh"], tty=True, open_stdin=True, tty_size=[30, 90])
    ans = bundles.start(cdir)
    import stat
    assert stat.S_IMODE(os.stat(os.path.join(cdir, "attach.sock")).st_mode) == 0o600
    c = MonitorClient(cdir)
    info = c.attach(stdin=True, replay=True)
    assert info["tty"] is True and info["pid"] == ans["pid"]
    c.send_stdin(b"stty size\n")
    read_until(c, b"30 90")
    c.send_stdin(b"echo hel''lo\n")
    read_until(c, b"hello")
    c.resize(40, 100)
    c.send_stdin(b"stty size\n")
    read_until(c, b"40 100")
    c.close()   # detach
    time.sleep(0.2)
    c2 = MonitorClient(cdir)
    c2.attach(stdin=True, replay=True)
    replayed = read_until(c2, b"40 100")
    assert b"hello" in replayed
    c2.send_stdin(b"exit 7\n")
    assert c2.wait() == 7
    c2.close()
    assert wait_exited(cdir)["exit_code"] == 7
    from engine.runtime.logs import read_logs
    logged = b"".join(d for _, _, d in read_logs(cdir))
    assert b"hello\r\n" in logged and b"40 100" in logged


def test_monitor_survives_its_launcher(bundles):
    from engine.runtime.client import MonitorClient
    cdir = bundles.make(["sh", "-c", "echo ready; read line; echo got $line"], open_stdin=True)
    code = (f"import sys, json; sys.path.insert(0, {ROOT!r})\n"
            "from engine.runtime import launcher\n"
            f"print(json.dumps(launcher.start({cdir!r})))\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err.decode()
    ans = json.loads(out)
    bundles.pids.update((ans["pid"], ans["monitor_pid"]))
    assert _alive(ans["monitor_pid"])
    with open(f"/proc/{ans['monitor_pid']}/stat") as f:
        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    assert ppid not in (p.pid, os.getpid())
    c = MonitorClient(cdir)
    c.attach(stdin=True, replay=True)
    read_until(c, b"ready")
    c.send_stdin(b"world\n")
    assert b"got world" in read_until(c, b"got world")
    assert c.wait() == 0
    c.close()
    wait_exited(cdir)


def test_signal_kill_is_137(bundles):
    from engine.runtime.client import MonitorClient
    cdir = bundles.make(["sleep", "1000"])
    bundles.start(cdir)
    c = MonitorClient(cdir)
    c.signal(9)
    assert c.wait() == 137
    c.close()
    st = wait_exited(cdir)
    assert st["exit_code"] == 137


def test_exec_in_running_container(bundles):
    from engine.runtime.client import ExecError, MonitorClient
    cdir = bundles.make(["sleep", "1000"], hostname="exechost")
    ans = bundles.start(cdir)
    c = MonitorClient(cdir)
    proc = {"args": ["cat", "/etc/hostname"], "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 0}}
    sess = c.exec(proc, tty=False)
    assert sess.pid and sess.pid != ans["pid"]
    out, err = sess.output()
    assert out == b"exechost\n" and err == b""
    assert sess.wait() == 0
    sess.close()
    # stdin, stderr and an exit code through an exec
    sess = c.exec(dict(proc, args=["sh", "-c", "read x; echo $x; echo e >&2; exit 4"]), tty=False)
    sess.write(b"piped\n")
    sess.close_stdin()
    out, err = sess.output()
    assert (out, err, sess.wait()) == (b"piped\n", b"e\n", 4)
    sess.close()
    # a tty exec
    sess = c.exec(dict(proc, args=["sh", "-c", "stty size"]), tty=True, size=(33, 77))
    out, _ = sess.output()
    assert b"33 77" in out and sess.wait() == 0
    sess.close()
    with pytest.raises(ExecError) as ei:
        c.exec(dict(proc, args=["nosuchcommand"]))
    assert ei.value.exit_code == 127
    c.signal(9)
    assert c.wait() == 137
    c.close()
    wait_exited(cdir)


def test_monitor_rss_and_abrupt_clients(bundles):
    import socket

    from engine.runtime.client import MonitorClient
    cdir = bundles.make(["sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.01; done"])
    ans = bundles.start(cdir)
    mpid = ans["monitor_pid"]
    # The monitor answers from its first stage and then re-executes itself into
    # the lean second: its command line is briefly empty while it does.
    import time
    for _ in range(200):
        with open(f"/proc/{mpid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        if b"--resume" in argv:
            break
        time.sleep(0.01)
    assert b"engine.runtime.monitor" in argv and cdir.encode() in argv
    # Clients that vanish without a word, and one that never reads.
    for _ in range(5):
        c = MonitorClient(cdir)
        c.attach()
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
    lazy = MonitorClient(cdir)
    lazy.attach()
    c = MonitorClient(cdir)
    c.attach()
    read_until(c, b"line 30")
    rss = rss_kb(mpid)
    print(f"\nmonitor RSS: {rss} kB ({rss / 1024:.1f} MB)")
    assert rss < 14 * 1024, f"monitor RSS {rss} kB"
    c.signal(15)
    c.signal(9)
    assert c.wait() == 137
    c.close()
    lazy.close()
    wait_exited(cdir)
    from engine.runtime.logs import read_logs
    nums = [int(d.split()[1]) for _, _, d in read_logs(cdir)]
    assert nums == list(range(len(nums))) and len(nums) > 30   # complete, in order


def test_wait_attach_holds_the_start(bundles):
    from engine.runtime.client import MonitorClient
    from engine.runtime.state import read_state
    cdir = bundles.make(["sh", "-c", "echo first"], wait_attach=True)
    ans = bundles.start(cdir)
    assert ans["ok"] and ans.get("waiting")
    time.sleep(0.3)
    assert read_state(cdir)["status"] == "running"
    c = MonitorClient(cdir)
    c.attach()
    assert read_until(c, b"first") == b"first\n"
    assert c.wait() == 0
    c.close()
    wait_exited(cdir)


def test_wait_attach_start_failure_reaches_the_client(bundles):
    from engine.runtime import protocol as P
    from engine.runtime.client import MonitorClient
    cdir = bundles.make(["nosuchcommand"], wait_attach=True)
    bundles.start(cdir)
    c = MonitorClient(cdir)
    c.attach()
    frames = list(c.frames())
    assert frames[-1][0] == P.EXIT and c.exit_code == 127 and "not found" in c.exit_info["error"]
    c.close()
    wait_exited(cdir)


def test_log_rotation_under_the_monitor(bundles):
    from engine.runtime.logs import log_files, read_logs
    cdir = bundles.make(["sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line $i; i=$((i+1)); done"],
                        log_max_size=4096, log_max_files=3)
    bundles.start(cdir)
    wait_exited(cdir)
    files = log_files(cdir)
    assert len(files) == 3 and all(os.path.getsize(f) <= 4096 for f in files)
    nums = [int(d.split()[1]) for _, _, d in read_logs(cdir)]
    assert nums == list(range(nums[0], 400))
    assert [d for _, _, d in read_logs(cdir, tail=2)] == [b"line 398\n", b"line 399\n"]


def test_autoremove(bundles):
    cdir = bundles.make(["true"], autoremove=True)
    os.makedirs(os.path.join(os.path.dirname(os.path.dirname(cdir)), "tmp"), exist_ok=True)
    from engine.runtime.client import MonitorClient
    bundles.start(cdir)
    deadline = time.monotonic() + 10
    while os.path.exists(cdir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(cdir)
    from engine.runtime.client import ContainerNotRunning
    with pytest.raises(ContainerNotRunning):
        MonitorClient(cdir)


def test_not_running_error(tmp_path):
    from engine.runtime.client import ContainerNotRunning, MonitorClient
    d = tmp_path / ("a" * 64)
    d.mkdir()
    with pytest.raises(ContainerNotRunning, match="container aaaaaaaaaaaa is not running"):
        MonitorClient(str(d))


def test_tty_output_is_drained_at_exit(bundles):
    from engine.runtime.logs import read_logs
    cdir = bundles.make(["sh", "-c", "echo tty-out; printf 'no newline'"], tty=True)
    bundles.start(cdir)
    assert wait_exited(cdir)["exit_code"] == 0
    assert b"".join(d for _, _, d in read_logs(cdir)) == b"tty-out\r\nno newline"


def test_a_client_that_never_reads_blocks_nothing(bundles):
    """8 MB of output with an attached client that reads nothing until the
    end: the container runs to its end, the log is complete, and the client,
    still connected, gets the newest output and the exit (it lost the oldest
    it had not read, in whole frames: 64 KiB reads, not lines)."""
    from engine.runtime.client import MonitorClient
    from engine.runtime.logs import read_logs
    cdir = bundles.make(["sh", "-c", "yes $(printf '%01000d' 7) | head -n 8000; echo done"], wait_attach=True,
                        log_max_size=100 << 20)
    bundles.start(cdir)
    lazy = MonitorClient(cdir)
    lazy.attach()          # starts the container; not read from until it has exited
    st = wait_exited(cdir, timeout=60)
    assert st["exit_code"] == 0
    entries = [d for _, _, d in read_logs(cdir)]
    assert len(entries) == 8001 and entries[-1] == b"done\n" and entries[0] == b"0" * 999 + b"7\n"
    got, code = b"", None
    for ftype, payload in lazy.frames():
        if ftype == 4:
            got += payload
        elif ftype == 9:
            code = int.from_bytes(payload[:4], "big", signed=True)
    assert code == 0, "the slow client was disconnected instead of told the exit"
    assert got.endswith(b"done\n") and len(got) < len(b"".join(entries))
    assert set(got) <= set(b"07\ndone")  # what was skipped went in whole frames (the stream is intact)
    lazy.close()


def test_run_attached_without_tty(bundles):
    from engine import Session
    from tui.terminal import run_attached
    cdir = bundles.make(["sh", "-c", "read x; echo got $x; echo err >&2; exit 5"], open_stdin=True, wait_attach=True)
    bundles.start(cdir)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    os.write(in_w, b"hi\n")
    os.close(in_w)
    c = Session.connect(cdir)
    try:
        code = run_attached(c, tty=False, stdin=True, stdin_fd=in_r, stdout_fd=out_w, stderr_fd=err_w)
    finally:
        c.close()
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    with os.fdopen(out_r, "rb") as f:
        out = f.read()
    with os.fdopen(err_r, "rb") as f:
        err = f.read()
    assert (code, out, err) == (5, b"got hi\n", b"err\n")
    wait_exited(cdir)


def test_run_attached_tty_detach_keys(bundles):
    """A local pty as the user's terminal: typed input reaches the shell, the
    window size is passed on, ctrl-p ctrl-q detaches (None), the container runs on."""
    import termios
    import threading

    from engine import Session
    from tui.terminal import run_attached
    cdir = bundles.make(["sh"], tty=True, open_stdin=True)
    ans = bundles.start(cdir)
    m, s = os.openpty()
    import fcntl
    import struct
    fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", 25, 81, 0, 0))
    before = termios.tcgetattr(s)
    c = Session.connect(cdir)
    result = {}
    t = threading.Thread(target=lambda: result.update(code=run_attached(c, tty=True, stdin=True, stdin_fd=s,
                                                                         stdout_fd=s, stderr_fd=s)))
    t.start()
    seen = b""
    os.write(m, b"stty size\r")
    deadline = time.monotonic() + 10
    while b"25 81" not in seen and time.monotonic() < deadline:
        import select
        if select.select([m], [], [], 0.2)[0]:
            seen += os.read(m, 65536)
    assert b"25 81" in seen, seen
    os.write(m, b"\x10\x11")
    t.join(10)
    assert not t.is_alive() and result["code"] is None
    assert termios.tcgetattr(s) == before      # the local terminal is restored
    c.close()
    os.close(m)
    os.close(s)
    assert _alive(ans["pid"])
    c = Session.connect(cdir)
    c.signal(9)
    assert c.wait() == 137
    c.close()
    wait_exited(cdir)


def test_oom_kill_is_reported(bundles):
    cdir = bundles.make(["sh", "-c", "x=$(yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx | head -c 300000000); echo survived"],
                        memory=32 << 20)
    bundles.start(cdir)
    st = wait_exited(cdir, timeout=60)
    assert st["oom_killed"] is True and st["exit_code"] == 137, st


def test_run_exec_piped_and_detached(bundles):
    from engine import Session
    from tui.terminal import run_exec
    cdir = bundles.make(["sleep", "1000"])
    bundles.start(cdir)
    proc = {"args": ["sh", "-c", "echo started > /flag"], "env": ["PATH=/bin"], "cwd": "/",
            "user": {"uid": 0, "gid": 0}}
    c = Session.connect(cdir)
    assert run_exec(c, proc, tty=False, stdin=False, detach=True) == 0
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    os.write(in_w, b"through cat\n")
    os.close(in_w)
    deadline = time.monotonic() + 10
    while True:   # the detached exec has written its flag by now, or soon
        sess = c.exec(dict(proc, args=["cat", "/flag"]))
        out, _ = sess.output()
        sess.close()
        if out == b"started\n" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert out == b"started\n"
    code = run_exec(c, dict(proc, args=["sh", "-c", "cat; exit 2"]), tty=False, stdin=True, stdin_fd=in_r,
                    stdout_fd=out_w, stderr_fd=out_w)
    os.close(in_r)
    os.close(out_w)
    with os.fdopen(out_r, "rb") as f:
        assert f.read() == b"through cat\n"
    assert code == 2
    c.signal(9)
    assert c.wait() == 137
    c.close()
    wait_exited(cdir)
