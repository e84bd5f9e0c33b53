"""engine.runtime.cgroups on the real host (root): limits read back from the kernel's
files, processes moved in, frozen, OOM-killed, fork-bombed and cleaned up. Written to
pass on v1, v2 and hybrid hosts: checks branch on where each controller lives."""
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from engine.errors import DockyardError
from engine.runtime import cgroups
from engine.runtime.cgroups import Cgroup, Layout, cgroup_path_for, detect, leftover_cgroups
from tests.conftest import need_root

MB = 1 << 20
GO = "import sys\nsys.stdin.readline()\n"       # children wait until they are in the cgroup


@pytest.fixture
def made():
    """Makes cgroups with unique ids and starts children in them; kills the children
    by pid and destroys the cgroups afterwards, then checks nothing is left."""
    need_root()

    class Made:
        def __init__(self):
            self.cgroups: list[Cgroup] = []
            self.procs: list[subprocess.Popen] = []

        def cgroup(self, resources=None, layout=None) -> Cgroup:
            cg = Cgroup.create(cgroup_path_for(uuid.uuid4().hex), resources, layout=layout)
            self.cgroups.append(cg)
            return cg

        def spawn(self, cg: Cgroup, code: str) -> subprocess.Popen:
            """A python child moved into `cg` before it runs `code`."""
            p = subprocess.Popen([sys.executable, "-c", GO + code], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            self.procs.append(p)
            cg.add(p.pid)
            p.stdin.write(b"go\n")
            p.stdin.close()
            p.stdin = None
            return p

        def sleeper(self, cg: Cgroup) -> subprocess.Popen:
            p = subprocess.Popen(["sleep", "30"])
            self.procs.append(p)
            cg.add(p.pid)
            return p

    m = Made()
    yield m
    for p in m.procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait(timeout=10)
    for cg in m.cgroups:
        cg.destroy()
    for cg in m.cgroups:
        left = [d for d in leftover_cgroups(layout=cg.layout) if d.endswith(cg.path)]
        assert not left, f"cgroup left behind: {left}"


def ctl(cg: Cgroup, controller: str, name: str) -> str | None:
    """Content of a control file of `cg` (None if the host lacks the controller)."""
    w = cg.layout.where(controller)
    if w is None:
        return None
    with open(os.path.join(w[1], cg.path[1:], name)) as f:
        return f.read().strip()


def version(controller: str) -> str | None:
    w = detect().where(controller)
    return w and w[0]


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])        # utime + stime


def proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_layout_matches_proc_cgroups():
    """Every controller the kernel has bound to a v1 hierarchy (/proc/cgroups) is found
    as v1; with /sys/fs/cgroup itself cgroup2 the host is pure v2."""
    lay = detect()
    with open("/proc/cgroups") as f:
        rows = [line.split() for line in f if not line.startswith("#")]
    for name, hierarchy, _, enabled in rows:
        if enabled == "1" and hierarchy != "0":
            assert name in lay.v1, f"{name} is in v1 hierarchy {hierarchy} but not found"
            assert os.path.isdir(lay.v1[name])
    with open("/proc/self/mountinfo") as f:
        v2_root = any(line.split(" - ")[1].startswith("cgroup2 ") and line.split()[4] == "/sys/fs/cgroup"
                      for line in f)
    if v2_root:
        assert lay.mode == "v2"
    if lay.v1 and lay.v2:
        assert lay.mode == "hybrid"
    assert detect() is lay                       # cached


def test_limits_read_back(made):
    devices = [{"allow": False, "access": "rwm"},
               {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
               {"allow": True, "type": "c", "major": 136, "access": "rwm"}]
    quota, period = cgroups.cpus_to_quota(1.5)
    assert (quota, period) == (150000, 100000)
    cg = made.cgroup({"memory": {"limit": 64 * MB}, "cpu": {"quota": quota, "period": period, "shares": 512},
                      "pids": {"limit": 20}, "devices": devices})
    assert cg.exists()
    if version("memory") == "v1":
        assert ctl(cg, "memory", "memory.limit_in_bytes") == str(64 * MB)
        memsw = ctl(cg, "memory", "memory.memsw.limit_in_bytes") \
            if os.path.exists(os.path.join(cg.layout.v1["memory"], cg.path[1:], "memory.memsw.limit_in_bytes")) else None
        assert memsw in (None, str(128 * MB))      # docker's default: memory+swap = 2 x limit
    elif version("memory") == "v2":
        assert ctl(cg, "memory", "memory.max") == str(64 * MB)
    if version("cpu") == "v1":
        assert ctl(cg, "cpu", "cpu.cfs_quota_us") == "150000"
        assert ctl(cg, "cpu", "cpu.cfs_period_us") == "100000"
        assert ctl(cg, "cpu", "cpu.shares") == "512"
    elif version("cpu") == "v2":
        assert ctl(cg, "cpu", "cpu.max") == "150000 100000"
        assert ctl(cg, "cpu", "cpu.weight") == str(cgroups.shares_to_weight(512))
    if version("pids"):
        assert ctl(cg, "pids", "pids.max") == "20"
    if version("devices") == "v1":
        assert cg.devices_enforced
        assert ctl(cg, "devices", "devices.list").splitlines() == ["c 1:3 rwm", "c 136:* rwm"]
    else:
        assert not cg.devices_enforced
    s = cg.stats()
    assert s["memory_limit"] == (64 * MB if version("memory") else None)
    assert s["pids_limit"] == (20 if version("pids") else None)
    # open() sees the same cgroup and changes nothing
    again = Cgroup.open(cg.path)
    assert again.stats()["memory_limit"] == s["memory_limit"]


def test_memory_swap_write_order(made):
    """memory.limit_in_bytes may never exceed memory.memsw.limit_in_bytes: going up, memsw
    is raised first; coming down, the limit is lowered first. Both directions work."""
    cg = made.cgroup({"memory": {"limit": 64 * MB, "swap": 128 * MB}})
    for limit, swap in ((256 * MB, 512 * MB), (32 * MB, 64 * MB), (48 * MB, 48 * MB), (100 * MB, -1)):
        cg.update({"memory": {"limit": limit, "swap": swap}})
        if version("memory") == "v1":
            assert ctl(cg, "memory", "memory.limit_in_bytes") == str(limit)
            f = os.path.join(cg.layout.v1["memory"], cg.path[1:], "memory.memsw.limit_in_bytes")
            if os.path.exists(f):
                got = int(ctl(cg, "memory", "memory.memsw.limit_in_bytes"))
                assert got == swap if swap > 0 else got > 1 << 62
        elif version("memory") == "v2":
            assert ctl(cg, "memory", "memory.max") == str(limit)
            f = os.path.join(cg.layout.v2, cg.path[1:], "memory.swap.max")
            if os.path.exists(f):
                assert ctl(cg, "memory", "memory.swap.max") == (str(swap - limit) if swap > 0 else "max")


def test_add_process(made):
    cg = made.cgroup()
    p = made.sleeper(cg)
    assert cg.pids() == [p.pid]
    with open(f"/proc/{p.pid}/cgroup") as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f]
    lay = cg.layout
    for _, controllers, path in lines:
        names = set(controllers.split(",")) if controllers else set()
        if names & set(cgroups.V1_USED) and names & set(lay.v1):
            assert path == cg.path, (controllers, path)
        if not controllers and lay.v2 and os.path.isdir(os.path.join(lay.v2, cg.path[1:])):
            assert path == cg.path
    assert cg.stats()["pids_current"] == 1
    with pytest.raises(DockyardError, match="no such process"):
        cg.add(2 ** 22 + 12345)


def test_freeze_and_thaw(made):
    cg = made.cgroup()
    sleeper = made.sleeper(cg)
    busy = made.spawn(cg, "while True: pass\n")
    time.sleep(0.2)
    assert cg.state() == "thawed"
    cg.freeze()
    assert cg.state() == "frozen"
    fz = version("freezer")
    if fz == "v1":
        assert ctl(cg, "freezer", "freezer.state") == "FROZEN"
        assert proc_state(sleeper.pid) == "D"          # frozen tasks show as D on v1
    else:
        with open(os.path.join(cg.layout.v2, cg.path[1:], "cgroup.events")) as f:
            assert "frozen 1" in f.read()
    t0 = cpu_ticks(busy.pid)
    time.sleep(0.4)
    assert cpu_ticks(busy.pid) == t0, "a frozen busy loop still ran"
    cg.freeze()                                        # again: no-op
    cg.thaw()
    assert cg.state() == "thawed"
    time.sleep(0.4)
    assert cpu_ticks(busy.pid) > t0
    assert proc_state(sleeper.pid) == "S"


def test_memory_hog_is_oom_killed(made):
    # memory+swap = limit too: swap may not let the hog survive
    cg = made.cgroup({"memory": {"limit": 50 * MB, "swap": 50 * MB}})
    assert cg.oom_kills() == 0
    hog = made.spawn(cg, "chunks = []\n"
                         "for i in range(200):\n"
                         "    chunks.append(b'x' * (1 << 20))\n"
                         "print('survived', flush=True)\n")
    out, _ = hog.communicate(timeout=60)
    assert hog.returncode == -signal.SIGKILL and b"survived" not in out
    assert cg.oom_kills() >= 1


def test_pids_limit_stops_fork_loop(made):
    cg = made.cgroup({"pids": {"limit": 20}})
    p = made.spawn(cg, "import os\n"
                       "r, w = os.pipe()\n"
                       "kids = []\n"
                       "while len(kids) < 200:\n"
                       "    try:\n"
                       "        pid = os.fork()\n"
                       "    except BlockingIOError:\n"
                       "        break\n"
                       "    if pid == 0:\n"
                       "        os.close(w)\n"
                       "        os.read(r, 1)\n"
                       "        os._exit(0)\n"
                       "    kids.append(pid)\n"
                       "print(len(kids), flush=True)\n"
                       "os.close(w)\n"
                       "for k in kids:\n"
                       "    os.waitpid(k, 0)\n")
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 0
    assert int(out) == 19            # 20 tasks: the parent and 19 children
    assert cg.pids() == []


def test_stats_are_sane(made):
    cg = made.cgroup({"memory": {"limit": 256 * MB}})
    p = made.spawn(cg, "import time\n"
                       "keep = b'x' * (20 << 20)\n"
                       "print('ready', flush=True)\n"
                       # CPU time, not wall time: a loaded machine must not make it fail
                       "t = time.process_time()\n"
                       "while time.process_time() - t < 0.5: pass\n"
                       "print('busy done', flush=True)\n"
                       "time.sleep(30)\n")
    assert p.stdout.readline() == b"ready\n"
    s1 = cg.stats()
    assert p.stdout.readline() == b"busy done\n"
    s2 = cg.stats()
    assert set(s2) == {"cpu_usage_ns", "memory_usage", "memory_limit", "memory_cache", "pids_current",
                       "pids_limit", "blkio_read_bytes", "blkio_write_bytes"}
    if version("memory"):
        assert s2["memory_usage"] >= 20 * MB
        assert s2["memory_limit"] == 256 * MB
        assert isinstance(s2["memory_cache"], int)
    assert s2["cpu_usage_ns"] - s1["cpu_usage_ns"] >= 300_000_000
    assert s2["pids_current"] == 1
    assert s2["pids_limit"] is None
    if version("blkio") or version("io"):
        # v1 throttle counters stay 0 on recent kernels unless a throttle rule exists
        assert s2["blkio_read_bytes"] >= 0 and s2["blkio_write_bytes"] >= 0


def test_kill_all(made):
    cg = made.cgroup()
    a, b = made.sleeper(cg), made.sleeper(cg)
    cg.kill_all(signal.SIGTERM)
    assert a.wait(5) == -signal.SIGTERM and b.wait(5) == -signal.SIGTERM
    c = made.sleeper(cg)
    cg.freeze()
    cg.kill_all(signal.SIGKILL)                        # a frozen cgroup too
    assert c.wait(5) == -signal.SIGKILL
    assert cg.pids() == []


def test_destroy_kills_thaws_removes_and_is_idempotent(made):
    cg = made.cgroup({"memory": {"limit": 64 * MB}, "pids": {"limit": 50}})
    p = made.sleeper(cg)
    sub = os.path.join(cg.dirs()[0], "nested")        # a cgroup the container made inside
    os.mkdir(sub)
    cg.freeze()
    cg.destroy()
    assert p.wait(5) == -signal.SIGKILL
    assert not cg.exists()
    assert not [d for d in leftover_cgroups() if cg.path in d]
    cg.destroy()                                       # again: nothing to do
    with pytest.raises(DockyardError, match="does not exist"):
        Cgroup.open(cg.path)
    with pytest.raises(DockyardError, match="does not exist"):
        cg.stats()


def test_create_removes_what_it_made_on_error(made, monkeypatch):
    real = cgroups._write

    def failing(path, value):
        if path.endswith("pids.max"):
            raise OSError(22, "Invalid argument", path)
        return real(path, value)

    monkeypatch.setattr(cgroups, "_write", failing)
    path = cgroup_path_for(uuid.uuid4().hex)
    with pytest.raises(DockyardError, match="cannot set pids limit 20: .*pids.max"):
        Cgroup.create(path, {"memory": {"limit": 64 * MB}, "pids": {"limit": 20}})
    assert not Cgroup(path).exists()
    assert not [d for d in leftover_cgroups() if path in d]


def test_memory_limit_below_usage(made):
    """v1 refuses a limit below what the cgroup uses (EBUSY): the error names the value
    and the file. v2 accepts it and OOM-kills instead."""
    cg = made.cgroup({"memory": {"limit": 128 * MB}})
    p = made.spawn(cg, "import time\nkeep = b'x' * (40 << 20)\nprint('ready', flush=True)\ntime.sleep(30)\n")
    assert p.stdout.readline() == b"ready\n"
    if version("memory") == "v1":
        with pytest.raises(DockyardError, match=r"cannot set memory limit 8MB: .*memory.limit_in_bytes"):
            cg.update({"memory": {"limit": 8 * MB, "swap": 8 * MB}})
        assert p.poll() is None
    elif version("memory") == "v2":
        cg.update({"memory": {"limit": 8 * MB, "swap": 8 * MB}})
        assert p.wait(30) == -signal.SIGKILL


def test_v2_core_features_on_the_unified_hierarchy(made):
    """The v2 paths (cgroup.freeze, cgroup.events, cgroup.kill, cpu.stat) on this host's
    cgroup2 mount, seen as if it were a pure v2 host (on a hybrid host it holds none of
    our controllers, so no limits here)."""
    host = detect()
    if not host.v2:
        pytest.skip("no cgroup2 mount on this host")
    lay = Layout(v2=host.v2, v2_controllers=host.v2_controllers)
    assert lay.mode == "v2"
    cg = made.cgroup(layout=lay)
    assert cg.dirs() == [os.path.join(host.v2, cg.path[1:])]
    assert not cg.devices_enforced
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    made.procs.append(busy)
    cg.add(busy.pid)
    assert cg.pids() == [busy.pid]
    time.sleep(0.2)
    cg.freeze()
    assert cg.state() == "frozen"
    t0 = cpu_ticks(busy.pid)
    time.sleep(0.3)
    assert cpu_ticks(busy.pid) == t0
    cg.thaw()
    assert cg.state() == "thawed"
    assert cg.stats()["cpu_usage_ns"] > 0
    cg.destroy()
    assert busy.wait(5) == -signal.SIGKILL
    assert not [d for d in leftover_cgroups(layout=lay) if cg.path in d]
