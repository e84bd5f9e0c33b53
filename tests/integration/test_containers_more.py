"""More of the container lifecycle: reconcile after a monitor dies, restart,
ps flags, top, stats, logs flags, the same security probe in podman, and no
leaks over many cycles."""
import json
import os
import signal
import time

from engine import Engine
from tests.conftest import need_tool, wait_for
from tests.integration.test_containers import dy

_wait_for = wait_for


def test_engine_reconciles_a_container_whose_monitor_died(root):
    cid = dy(root, "run", "-d", "busybox", "sleep", "300").stdout.decode().strip()
    state = json.load(open(os.path.join(root, "containers", cid, "state.json")))
    os.kill(state["monitor_pid"], signal.SIGKILL)  # the monitor dies; its container goes with it
    _wait_for(lambda: not os.path.exists(f"/proc/{state['monitor_pid']}"))
    eng = Engine(root)
    try:
        c = eng.container(cid)
        assert c.status == "exited"
        from engine.runtime.cgroups import leftover_cgroups
        _wait_for(lambda: not [c for c in leftover_cgroups() if c.endswith(cid)])
    finally:
        eng.close()
    assert "Exited" in dy(root, "ps", "-a").stdout.decode()
    assert dy(root, "rm", cid).returncode == 0


def test_restart_ps_flags_top_stats(root):
    dy(root, "run", "-d", "--name", "web", "busybox", "sh", "-c", "echo x > /big; sleep 300")
    dy(root, "run", "--name", "done", "busybox", "true")
    ps = dy(root, "ps", "--format", "json").stdout.decode().splitlines()
    assert [json.loads(l)["Names"] for l in ps] == ["web"]
    assert dy(root, "ps", "-a", "-q", "--filter", "status=exited").stdout.decode().split() == \
        [dy(root, "inspect", "done").stdout and json.loads(dy(root, "inspect", "done").stdout)[0]["Id"][:12]]
    sized = dy(root, "ps", "-s").stdout.decode()
    assert "virtual" in sized
    top = dy(root, "top", "web").stdout.decode().splitlines()
    assert top[0].split()[:3] == ["UID", "PID", "PPID"] and any("sleep 300" in l for l in top[1:])
    stats = dy(root, "stats", "--no-stream", "web").stdout.decode().splitlines()
    assert stats[0].split()[:3] == ["CONTAINER", "ID", "NAME"] and stats[1].split()[1] == "web"
    before = json.loads(dy(root, "inspect", "web").stdout)[0]["State"]["Pid"]
    assert dy(root, "restart", "-t", "1", "web").returncode == 0
    after = json.loads(dy(root, "inspect", "web").stdout)[0]
    assert after["State"]["Running"] and after["State"]["Pid"] != before and after["RestartCount"] == 1
    dy(root, "rm", "-f", "web", "done")


def test_logs_tail_since_timestamps(root):
    dy(root, "run", "--name", "talk", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; done")
    assert dy(root, "logs", "--tail", "2", "talk").stdout == b"line4\nline5\n"
    ts = dy(root, "logs", "-t", "talk").stdout.decode().splitlines()
    assert len(ts) == 5 and ts[0].split()[0].endswith("Z") and ts[0].split()[1] == "line1"
    assert dy(root, "logs", "--since", "1h", "talk").stdout.count(b"line") == 5
    assert dy(root, "logs", "--since", str(time.time() + 60), "talk").stdout == b""
    # --until: the entries up to a time (here: the third line's own time stamp)
    from engine.runtime.state import parse_rfc3339
    third = ts[2].split()[0]
    upto = [line.split()[1] for line in ts if parse_rfc3339(line.split()[0]) <= parse_rfc3339(third)]
    assert dy(root, "logs", "--until", third, "talk").stdout.decode().split() == upto and "line3" in upto
    assert dy(root, "logs", "--until", "1h", "talk").stdout == b""
    dy(root, "rm", "talk")


PROBE = ("grep -E '^(CapEff|CapBnd|CapPrm|Seccomp|NoNewPrivs):' /proc/self/status; "
         "mount -t tmpfs x /tmp 2>/dev/null && echo mount=ok || echo mount=refused; "
         "echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo procsys=rw || echo procsys=ro; "
         "cat /proc/timer_list /proc/keys 2>/dev/null | wc -c | sed 's/^/masked=/'; "
         "ls /dev | sort | tr '\\n' ' ' | sed 's/^/dev=/'; echo; "
         "hostname >/dev/null; id -u | sed 's/^/uid=/'; "
         "ls /proc | grep -cE '^[0-9]+$' | sed 's/^/fewpids=/'")


def test_same_security_probe_as_podman(root, tmp_path):
    """The same probe in podman (with Docker's capability set) and in dockyard,
    on the same image: the same answers."""
    need_tool("podman")
    from tests.integration.test_archive_interop import ULIMITS, Podman
    mine = dy(root, "run", "--rm", "busybox", "sh", "-c", PROBE).stdout.decode()
    eng = Engine(root)
    try:
        with open(tmp_path / "img.tar", "wb") as f:
            eng.save(["busybox"], f)
    finally:
        eng.close()
    import shutil
    import tempfile
    base = tempfile.mkdtemp(prefix="dy-pm-")  # podman refuses a runroot over 50 characters
    try:
        pm = Podman(base)
        pm.podman("load", "-i", str(tmp_path / "img.tar"))
        theirs = pm.podman("run", "--rm", *ULIMITS, "--network", "none", "--cap-add=MKNOD,NET_RAW,AUDIT_WRITE",
                           "localhost/busybox:latest", "sh", "-c", PROBE)
    finally:
        shutil.rmtree(base)

    def fields(out):
        d = dict(l.split(":", 1) if ":" in l else l.split("=", 1) for l in out.splitlines() if l.strip())
        d = {k.strip(): v.strip() for k, v in d.items()}
        d["fewpids"] = str(int(d["fewpids"]) < 10)
        # podman adds /dev/console only with a tty and names its own devices the same
        d["dev"] = " ".join(sorted(set(d["dev"].split()) - {"console", "core"}))
        return d
    assert fields(mine) == fields(theirs)


def test_no_leaks_over_many_cycles(root):
    eng = Engine(root)
    from engine.containers.options import RunOptions
    try:
        ids = []
        for _ in range(200):
            cid = eng.create_container(RunOptions(image="busybox", command=["true"]))
            eng.start_container(cid)
            assert eng.wait_container(cid, 30) == 0
            eng.remove_container(cid)
            ids.append(cid)
        assert eng.containers() == []
        assert os.listdir(os.path.join(root, "containers")) == []
        from engine.runtime.cgroups import leftover_cgroups
        assert not [c for c in leftover_cgroups() if os.path.basename(c) in ids]
    finally:
        eng.close()


def test_info_and_version(root):
    cid = dy(root, "run", "-d", "busybox", "sleep", "300").stdout.decode().strip()
    dy(root, "create", "busybox", "true")
    i = json.loads(dy(root, "info", "--format", "json").stdout)
    assert (i["Containers"], i["ContainersRunning"], i["ContainersStopped"], i["Images"]) == (2, 1, 1, 1)
    assert i["DockerRootDir"] == root and i["Driver"] == "overlay" and i["CgroupDriver"] == "cgroupfs"
    assert i["CgroupMode"] in ("v1", "v2", "hybrid") and i["NCPU"] >= 1 and i["MemTotal"] > 0
    assert i["Zygote"] and i["Zygote"]["Pid"] > 0   # the run above started it
    text = dy(root, "system", "info").stdout.decode()
    assert " Containers: 2\n  Running: 1\n" in text and f"Docker Root Dir: {root}" in text
    assert dy(root, "version").stdout.decode().startswith("Client: dockyard\n Version: ")
    dy(root, "rm", "-f", cid)


def test_format_templates_as_docker(root):
    cid = dy(root, "run", "-d", "--name", "web", "busybox", "sleep", "300").stdout.decode().strip()
    dy(root, "create", "--name", "idle", "busybox", "true")
    assert dy(root, "ps", "-a", "--format", "{{.Names}}\\t{{.State}}").stdout.decode().splitlines() == \
        ["idle\tcreated", "web\trunning"]
    lines = dy(root, "ps", "--format", "table {{.ID}}\\t{{.Names}}").stdout.decode().splitlines()
    assert lines[0].split() == ["CONTAINER", "ID", "NAMES"] and lines[1].split() == [cid[:12], "web"]
    assert dy(root, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout.decode().split() == \
        ["localhost/busybox:latest"]
    pid = dy(root, "inspect", "-f", "{{.State.Pid}}", "web").stdout.decode().strip()
    assert int(pid) > 1 and os.path.exists(f"/proc/{pid}")
    assert dy(root, "inspect", "--format", "{{json .Config.Cmd}} {{.Name}}", "web", "idle").stdout.decode() \
        .splitlines() == ['["sleep","300"] /web', '["true"] /idle']
    assert dy(root, "image", "inspect", "-f", "{{.Os}}/{{.Architecture}}", "busybox").stdout.decode().strip() \
        .startswith("linux/")
    bad = dy(root, "ps", "--format", "{{.Names")
    assert bad.returncode == 125 and b"template parsing error: unclosed action" in bad.stderr
    dy(root, "rm", "-f", "web", "idle")


def test_rename_and_more_ps_filters(root):
    dy(root, "run", "--name", "first", "busybox", "sh", "-c", "exit 3")
    dy(root, "create", "--name", "second", "busybox", "true")
    dy(root, "create", "--name", "third", "busybox", "true")
    assert dy(root, "rename", "second", "middle").returncode == 0
    names = lambda *f: dy(root, "ps", "-a", "--format", "{{.Names}}", *f).stdout.decode().split()
    assert names() == ["third", "middle", "first"]
    assert names("--filter", "exited=3") == ["first"] and names("--filter", "exited=0") == []
    assert names("--filter", "before=middle") == ["first"] and names("--filter", "since=middle") == ["third"]
    assert names("--filter", "ancestor=busybox") == ["third", "middle", "first"]
    assert names("--filter", "ancestor=localhost/busybox:latest", "--filter", "name=i") == ["third", "middle", "first"]
    assert names("--filter", "ancestor=nosuchimage") == []
    taken = dy(root, "rename", "middle", "first")
    assert taken.returncode == 125 and b'the container name "/first" is already in use' in taken.stderr
    assert dy(root, "rename", "middle", "bad name").returncode == 125
    assert dy(root, "rename", "nosuch", "x").returncode != 0
    dy(root, "rm", "first", "middle", "third")


def test_a_log_follower_can_be_told_to_stop(root):
    """A reader following a quiet container's log ends when it says so, not
    at the container's next line (the TUI's logs tab when it is closed)."""
    import threading
    eng = Engine(root)
    try:
        cid = dy(root, "run", "-d", "busybox", "sh", "-c", "echo once; sleep 300").stdout.decode().strip()
        stop = threading.Event()
        got = []

        def follow():
            for _, _, data in eng.logs(cid, follow=True, poll=0.05, stop=stop.is_set):
                got.append(data)

        t = threading.Thread(target=follow, daemon=True)
        t.start()
        wait_for(lambda: got == [b"once\n"], "the first line")
        assert t.is_alive() and eng.container(cid).status == "running"
        stop.set()
        t.join(timeout=30)
        assert not t.is_alive() and eng.container(cid).status == "running"
        dy(root, "rm", "-f", cid)
    finally:
        eng.close()


def test_events_as_docker(root):
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT
    t0 = time.time()
    assert dy(root, "run", "--name", "ev", "busybox", "sh", "-c", "exit 3").returncode == 3
    dy(root, "rm", "ev")
    cid2 = dy(root, "run", "--rm", "-d", "--name", "ev2", "busybox", "true").stdout.decode().strip()
    wait_for(lambda: "destroy" in dy(root, "events", "--since", str(t0), "--until", str(time.time() + 1),
                                      "--filter", "container=ev2").stdout.decode(), "the --rm container's destroy")
    lines = dy(root, "events", "--since", str(t0), "--until", str(time.time())).stdout.decode().splitlines()
    ev = [l.split()[1:3] for l in lines if "name=ev)" in l or "name=ev," in l]
    assert ev == [["container", "create"], ["container", "start"], ["container", "die"],
                  ["container", "destroy"]], lines
    assert "exitCode=3" in next(l for l in lines if " die " in l and "name=ev" in l)
    dies = dy(root, "events", "--since", str(t0), "--until", str(time.time()), "--filter", "event=die",
              "--format", "{{.Actor.Attributes.name}}={{.Actor.Attributes.exitCode}}").stdout.decode().split()
    assert dies == ["ev=3", "ev2=0"]
    js = [json.loads(l) for l in dy(root, "events", "--since", str(t0), "--until", str(time.time()),
                                    "--filter", f"container={cid2[:12]}", "--format", "json").stdout.splitlines()]
    assert [j["Action"] for j in js] == ["create", "start", "die", "destroy"] and js[0]["Actor"]["ID"] == cid2
    # without --until it follows, as docker's
    env = dict(os.environ, DOCKYARD_ROOT=root, PYTHONPATH=ROOT)
    p = subprocess.Popen([sys.executable, "-m", "tui.cli", "events", "--filter", "event=start"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    cid = dy(root, "run", "-d", "busybox", "sleep", "60").stdout.decode().strip()
    assert cid in p.stdout.readline().decode()
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=30) in (0, 130)
    p.stdout.close()
    dy(root, "rm", "-f", cid)
