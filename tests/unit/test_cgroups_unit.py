"""engine.runtime.cgroups without touching the host: the mountinfo parser on pure v1,
pure v2 and hybrid layouts, resource checks, what gets written where, and the parsers
of the kernel's stat files."""
import os

import pytest

from engine.errors import InvalidArgument
from engine.runtime import cgroups, cgroups_resources
from engine.runtime.cgroups import (
    Cgroup,
    Layout,
    cgroup_path_for,
    check_resources,
    cpus_to_quota,
    leftover_cgroups,
    parse_mountinfo,
    shares_to_weight,
)

MB = 1 << 20

# CentOS 7 / Debian 9 style: v1 only, cpu+cpuacct and net_cls+net_prio co-mounted.
PURE_V1 = """\
21 1 253:0 / / rw,relatime shared:1 - xfs /dev/mapper/root rw,attr2
24 21 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
25 24 0:21 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:7 - tmpfs tmpfs ro,mode=755
26 25 0:22 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
28 25 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
29 25 0:25 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,net_cls,net_prio
30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,memory
31 25 0:27 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,pids
32 25 0:28 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,freezer
33 25 0:29 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,devices
34 25 0:30 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,blkio
35 25 0:31 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset
36 25 0:32 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,hugetlb
37 25 0:33 / /sys/fs/cgroup/perf_event rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,perf_event
"""

# Debian 12 / Fedora: the unified hierarchy at /sys/fs/cgroup.
PURE_V2 = """\
22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
23 22 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 23 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""
PURE_V2_CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma misc\n"

# Ubuntu 20.04 (systemd hybrid): v1 controllers, cgroup2 at unified holding none.
SYSTEMD_HYBRID = PURE_V1.replace(
    "26 25 0:22 / /sys/fs/cgroup/systemd",
    "27 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:19 - cgroup2 cgroup2 rw,nsdelegate\n"
    "26 25 0:22 / /sys/fs/cgroup/systemd")

# This machine: every v1 controller in its own hierarchy, hugetlb left to v2.
THIS_HOST = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_pure_v1():
    lay = parse_mountinfo(PURE_V1)
    assert lay.mode == "v1"
    assert lay.v2 is None and lay.v2_controllers == frozenset()
    assert lay.v1["cpu"] == lay.v1["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct"
    assert lay.v1["memory"] == "/sys/fs/cgroup/memory"
    assert lay.v1["net_prio"] == "/sys/fs/cgroup/net_cls,net_prio"
    assert "name=systemd" not in lay.v1 and "systemd" not in lay.v1 and "xattr" not in lay.v1
    assert lay.where("memory") == ("v1", "/sys/fs/cgroup/memory")
    assert lay.where("io") is None and lay.where("rdma") is None
    # one directory per hierarchy: cpu and cpuacct share one
    assert lay.v1_mounts() == ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/pids",
                               "/sys/fs/cgroup/freezer", "/sys/fs/cgroup/devices", "/sys/fs/cgroup/blkio"]
    assert not lay.v2_required()
    cg = Cgroup("/dockyard/abc", lay)
    assert cg.dirs() == [m + "/dockyard/abc" for m in lay.v1_mounts()]
    assert cg.devices_enforced


def test_pure_v2():
    lay = parse_mountinfo(PURE_V2, PURE_V2_CONTROLLERS)
    assert lay.mode == "v2"
    assert lay.v1 == {}
    assert lay.v2 == "/sys/fs/cgroup"
    assert lay.v2_controllers >= {"memory", "cpu", "io", "pids"}
    assert lay.where("memory") == ("v2", "/sys/fs/cgroup")
    assert lay.where("freezer") is None            # the v2 freezer is core, not a controller
    assert lay.v2_required()
    cg = Cgroup("/dockyard/abc", lay)
    assert cg.dirs() == ["/sys/fs/cgroup/dockyard/abc"]
    assert not cg.devices_enforced                 # would need eBPF


def test_systemd_hybrid():
    lay = parse_mountinfo(SYSTEMD_HYBRID, "")
    assert lay.mode == "hybrid"
    assert lay.v2 == "/sys/fs/cgroup/unified"
    assert lay.v2_controllers == frozenset()
    assert lay.where("memory")[0] == "v1"
    assert not lay.v2_required()                   # the v2 directory is best effort there
    cg = Cgroup("/dockyard/abc", lay)
    assert cg.dirs()[-1] == "/sys/fs/cgroup/unified/dockyard/abc"
    assert len(cg.dirs()) == 7


def test_this_hosts_hybrid():
    lay = parse_mountinfo(THIS_HOST, "hugetlb\n")
    assert lay.mode == "hybrid"
    assert lay.v1["cpu"] == "/sys/fs/cgroup/cpu" and lay.v1["cpuacct"] == "/sys/fs/cgroup/cpuacct"
    assert set(lay.v1) == {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"}
    assert lay.v2_controllers == {"hugetlb"}
    assert lay.where("hugetlb") == ("v2", "/sys/fs/cgroup/unified")
    assert lay.where("pids") == ("v1", "/sys/fs/cgroup/pids")
    assert len(lay.v1_mounts()) == 7
    assert not lay.v2_required()


def test_hybrid_with_a_controller_on_v2():
    """A hybrid host where pids was left to v2: pids resolves to v2 and the v2 directory
    becomes required (controllers still bound to v1 never count as v2's)."""
    text = THIS_HOST.replace("39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n", "")
    lay = parse_mountinfo(text, "memory pids hugetlb\n")
    assert lay.v2_controllers == {"pids", "hugetlb"}
    assert lay.where("pids") == ("v2", "/sys/fs/cgroup/unified")
    assert lay.where("memory")[0] == "v1"
    assert lay.v2_required()


def test_container_view_and_escapes():
    """Inside a container: hierarchies mounted from a sub-cgroup, a bind mount of the
    root seen later wins; escaped spaces in mount points."""
    text = (
        "100 90 0:40 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n"
        "101 90 0:40 / /mnt/all\\040memory rw - cgroup cgroup rw,memory\n"
        "102 90 0:41 /docker/abc /sys/fs/cgroup/pids ro - cgroup cgroup rw,pids\n"
        "103 90 0:42 / /weird\\040place rw - cgroup2 cgroup2 rw\n"
        "garbage line without separator\n")
    lay = parse_mountinfo(text, "")
    assert lay.v1["memory"] == "/mnt/all memory"
    assert lay.v1["pids"] == "/sys/fs/cgroup/pids"
    assert lay.v2 == "/weird place"


def test_v2_mount_preference_and_empty():
    text = ("1 0 0:1 / /other rw - cgroup2 cgroup2 rw\n"
            "2 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n")
    assert parse_mountinfo(text, "memory").v2 == "/sys/fs/cgroup"
    assert parse_mountinfo("", "").mode == "none"
    assert parse_mountinfo("1 0 0:1 / /x rw - cgroup2 cgroup2 rw\n", None).v2_controllers == frozenset()


def test_check_resources():
    check_resources(None)
    check_resources({})
    check_resources({"memory": {"limit": 6 * MB}, "cpu": {"quota": 150000, "period": 100000, "shares": 1024},
                     "pids": {"limit": -1}, "devices": [{"allow": False, "access": "rwm"}],
                     "blockIO": {}, "hugepageLimits": []})
    bad = [
        ({"memory": {"limit": 4 * MB}}, "Minimum memory limit allowed is 6MB"),
        ({"memory": {"limit": 64 * MB, "swap": 32 * MB}}, "larger than memory limit"),
        ({"memory": {"swap": 64 * MB}}, "always set the Memory limit"),
        ({"memory": {"limit": "64m"}}, "must be an integer"),
        ({"memory": {"limit": True}}, "must be an integer"),
        ({"memory": {"limit": 8 * MB, "reservation": 16 * MB}}, "reservation"),
        ({"cpu": {"quota": 500}}, "less than 1ms"),
        ({"cpu": {"period": 2_000_000}}, "1 second"),
        ({"cpu": {"cpus": "0-1"}}, r"cpu\.cpus is not supported"),
        ({"blockIO": {"weight": 500}}, "blockIO is not supported"),
        ({"pids": {"limit": -5}}, "invalid pids limit"),
        ({"devices": [{"type": "c", "major": 1}]}, "allow"),
        ({"devices": [{"allow": True, "type": "x"}]}, "type"),
        ({"devices": [{"allow": True, "access": "rwx"}]}, "access"),
        ({"devices": {"allow": True}}, "must be a list"),
    ]
    for res, msg in bad:
        with pytest.raises(InvalidArgument, match=msg):
            check_resources(res)


def test_create_checks_before_making_anything(tmp_path):
    lay = Layout(v1={"memory": str(tmp_path / "memory")})
    os.mkdir(tmp_path / "memory")
    with pytest.raises(InvalidArgument, match="6MB"):
        Cgroup.create("/dockyard/x", {"memory": {"limit": 4 * MB}}, layout=lay)
    assert os.listdir(tmp_path / "memory") == []


def test_memory_writes_v1_order():
    w = cgroups._memory_writes
    # new cgroup (memsw unlimited): limit, then memsw at docker's default 2 x limit
    assert w({"limit": 64 * MB}, False, True, 2 ** 63 - 4096) == [
        ("memory.limit_in_bytes", str(64 * MB), "memory limit"),
        ("memory.memsw.limit_in_bytes", str(128 * MB), "memory+swap limit")]
    # raising above the current memsw: memsw first
    assert [f for f, _, _ in w({"limit": 256 * MB, "swap": 512 * MB}, False, True, 128 * MB)] == [
        "memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    assert [f for f, _, _ in w({"limit": 256 * MB, "swap": -1}, False, True, 128 * MB)] == [
        "memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
    # lowering: limit first
    assert [f for f, _, _ in w({"limit": 32 * MB, "swap": 64 * MB}, False, True, 512 * MB)] == [
        "memory.limit_in_bytes", "memory.memsw.limit_in_bytes"]
    # no memsw file (swap accounting off): the swap value is skipped
    assert w({"limit": 64 * MB, "swap": 128 * MB}, False, False, None) == [
        ("memory.limit_in_bytes", str(64 * MB), "memory limit")]
    assert w({"limit": 64 * MB, "reservation": 32 * MB}, False, False, None)[-1][0] == "memory.soft_limit_in_bytes"


def test_memory_writes_v2():
    w = cgroups._memory_writes
    assert w({"limit": 64 * MB}, True, True, None) == [
        ("memory.max", str(64 * MB), "memory limit"), ("memory.swap.max", str(64 * MB), "memory+swap limit")]
    assert w({"limit": 64 * MB, "swap": 64 * MB}, True, True, None)[1][1] == "0"
    assert w({"limit": 64 * MB, "swap": -1}, True, True, None)[1][1] == "max"
    assert w({"limit": -1}, True, False, None) == [("memory.max", "max", "memory limit")]
    assert w({"limit": 64 * MB, "reservation": 8 * MB}, True, False, None)[-1] == (
        "memory.low", str(8 * MB), "memory reservation")


def test_cpu_and_pids_writes():
    assert cpus_to_quota(1.5) == (150000, 100000)
    assert cpus_to_quota(0.01) == (1000, 100000)
    with pytest.raises(InvalidArgument):
        cpus_to_quota(0)
    c = {"quota": 150000, "period": 100000, "shares": 512}
    assert cgroups._cpu_writes(c, False) == [("cpu.shares", "512", "cpu shares"),
                                             ("cpu.cfs_period_us", "100000", "cpu period"),
                                             ("cpu.cfs_quota_us", "150000", "cpu quota")]
    assert cgroups._cpu_writes(c, True) == [("cpu.weight", str(shares_to_weight(512)), "cpu shares"),
                                            ("cpu.max", "150000 100000", "cpu quota")]
    assert cgroups._cpu_writes({"quota": -1}, True) == [("cpu.max", "max 100000", "cpu quota")]
    assert cgroups._cpu_writes({"quota": 50000}, True) == [("cpu.max", "50000 100000", "cpu quota")]
    assert cgroups._cpu_writes({"quota": -1}, False) == [("cpu.cfs_quota_us", "-1", "cpu quota")]
    assert cgroups._pids_writes({"limit": 20}) == [("pids.max", "20", "pids limit")]
    assert cgroups._pids_writes({"limit": -1}) == [("pids.max", "max", "pids limit")]
    assert cgroups._pids_writes({"limit": 0}) == []
    assert [shares_to_weight(s) for s in (0, 2, 1024, 262144)] == [0, 1, 100, 10000]
    assert 1 <= shares_to_weight(512) < 100 < shares_to_weight(4096) <= 10000


def test_device_rules():
    r = cgroups._device_rule
    assert r({"allow": False, "access": "rwm"}) == ("devices.deny", "a *:* rwm")
    assert r({"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"}) == ("devices.allow", "c 1:3 rwm")
    assert r({"allow": True, "type": "c", "major": 136, "access": "rwm"}) == ("devices.allow", "c 136:* rwm")
    assert r({"allow": True, "type": "b", "major": -1, "minor": -1, "access": "m"}) == ("devices.allow", "b *:* m")


def test_stat_parsers():
    blk = "254:0 Read 4096\n254:0 Write 8192\n254:0 Sync 12288\n254:0 Total 12288\n" \
          "8:0 Read 100\n8:0 Write 1\nTotal 12389\n"
    assert cgroups.parse_blkio(blk) == (4196, 8193, True)
    assert cgroups.parse_blkio("Total 0\n") == (0, 0, False)
    io = "254:0 rbytes=1000 wbytes=2000 rios=3 wios=4 dbytes=0 dios=0\n8:0 rbytes=5 wbytes=6 rios=1 wios=1\n"
    assert cgroups.parse_io_stat(io) == (1005, 2006)
    assert cgroups_resources._limit("max\n") is None
    assert cgroups_resources._limit("9223372036854771712\n") is None
    assert cgroups_resources._limit("52428800\n") == 50 * MB
    assert cgroups._kv("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n")["oom_kill"] == 3
    assert cgroups.human_size(4 * MB) == "4MB"
    assert cgroups.human_size(1536 * 1024) == "1.5MB"
    assert cgroups.human_size(100) == "100B"


def test_paths():
    assert cgroup_path_for("a" * 64) == "/dockyard/" + "a" * 64
    for bad in ("", "../x", "a/b", ".hidden", "x\0y"):
        with pytest.raises(InvalidArgument):
            cgroup_path_for(bad)
    for bad in ("dockyard/x", "/", "/dockyard/../x", "/dockyard//x", "/dockyard/x/", "//x", "/./x"):
        with pytest.raises(InvalidArgument):
            Cgroup(bad, Layout(v1={"memory": "/nonexistent"}))


def test_leftover_cgroups_walks_every_hierarchy(tmp_path):
    for m in ("memory", "cpu", "unified"):
        os.makedirs(tmp_path / m / "dockyard")
    os.makedirs(tmp_path / "memory" / "dockyard" / "a" / "nested")
    os.makedirs(tmp_path / "unified" / "dockyard" / "b")
    os.makedirs(tmp_path / "memory" / "other" / "c")
    lay = Layout(v1={"memory": str(tmp_path / "memory"), "cpu": str(tmp_path / "cpu")},
                 v2=str(tmp_path / "unified"))
    assert leftover_cgroups(layout=lay) == sorted([
        str(tmp_path / "memory" / "dockyard" / "a"), str(tmp_path / "memory" / "dockyard" / "a" / "nested"),
        str(tmp_path / "unified" / "dockyard" / "b")])
    assert leftover_cgroups("/other", layout=lay) == [str(tmp_path / "memory" / "other" / "c")]
