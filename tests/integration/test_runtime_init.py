"""The container init (engine/runtime/init.py) for real, as root: namespaces,
the overlay, mounts, /dev, pivot_root, capabilities, seccomp, user, exec.

Each test builds a bundle in its tmp_path (a busybox lower dir, an upper and a
work dir, config.json from build_spec) and spawns from a forked "monitor"
process (the monitor's pid namespace juggling must never happen in pytest's
own process); the monitor reaps what it started and reports back as JSON."""
import json
import os
import select
import shutil
import signal
import subprocess
import time
import traceback

import pytest

from tests.conftest import need_root, need_tool

BUSYBOX = "/bin/busybox"
DOCKER_CAPS = "00000000a80425fb"
HOSTNAME = "dockyard-test"


def _applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    return [a for a in out if a and "/" not in a and a != "busybox"]


def make_lower(path, *, proc_symlink: str | None = None) -> str:
    os.makedirs(path)
    for d in ("bin", "etc", "dev", "sys", "mnt", "tmp", "root", "var"):
        os.makedirs(os.path.join(path, d))
    if proc_symlink:
        os.symlink(proc_symlink, os.path.join(path, "proc"))
    else:
        os.makedirs(os.path.join(path, "proc"))
    os.chmod(os.path.join(path, "tmp"), 0o1777)
    shutil.copy2(BUSYBOX, os.path.join(path, "bin", "busybox"))
    for a in _applets():
        os.symlink("busybox", os.path.join(path, "bin", a))
    with open(os.path.join(path, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    with open(os.path.join(path, "etc", "group"), "w") as f:
        f.write("root:x:0:\nnogroup:x:65534:\n")
    return str(path)


@pytest.fixture(scope="module")
def lower(tmp_path_factory):
    need_root()
    if not os.path.exists(BUSYBOX):
        pytest.fail("needs busybox-static (/bin/busybox)")
    return make_lower(tmp_path_factory.mktemp("img") / "lower")


def _seccomp(caps):
    try:
        from engine.runtime.seccomp import render_for_spec
    except ImportError:
        return None
    return render_for_spec(caps)


def make_bundle(tmp_path, lower, args, *, user=None, lowers=None, **opts):
    from engine.containers.options import RunOptions
    from engine.containers.spec import build_spec, capabilities
    ro = RunOptions(image="busybox", command=list(args), **opts)
    upper, work, bundle = tmp_path / "upper", tmp_path / "work", tmp_path / "bundle"
    for d in (upper, work, bundle / "rootfs"):
        os.makedirs(d)
    spec = build_spec(container_id="c0ffee", image_cfg={"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}, opts=ro,
                      user=user or {"uid": 0, "gid": 0}, hostname=HOSTNAME, lowerdirs=lowers or [lower],
                      upperdir=str(upper), workdir=str(work), binds=[], seccomp=_seccomp(capabilities(ro)),
                      cgroups_path="/dockyard/c0ffee")
    with open(bundle / "config.json", "w") as f:
        json.dump(spec, f)
    return str(bundle), spec


# ------------------------------------------------------------------ the "monitor"

def in_monitor(fn, timeout: float = 60):
    """fn() in a forked child (the monitor); its JSON-able result."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover
        try:
            os.close(r)
            try:
                res = {"ok": fn()}
            except BaseException:
                res = {"error": traceback.format_exc()}
            os.write(w, json.dumps(res).encode())
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("the monitor helper timed out")
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    res = json.loads(data)
    if "error" in res:
        pytest.fail("in the monitor helper:\n" + res["error"])
    return res["ok"]


def _drain(fds: dict[str, int], timeout: float, on_timeout) -> dict[str, str]:
    out = {k: b"" for k in fds}
    open_ = dict(fds)
    deadline = time.monotonic() + timeout
    while open_:
        left = deadline - time.monotonic()
        ready = select.select(list(open_.values()), [], [], max(left, 0))[0] if left > 0 else []
        if not ready:
            on_timeout()
            deadline = time.monotonic() + 10
            continue
        for k, fd in list(open_.items()):
            if fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: a pty whose slave is closed everywhere
                    chunk = b""
                if chunk:
                    out[k] += chunk
                else:
                    os.close(fd)
                    del open_[k]
    return {k: v.decode(errors="replace") for k, v in out.items()}


def _reap(pid: int) -> int:
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def run(bundle, spec, *, cgroup=None, during=None, timeout: float = 30, tty: bool = False, stdin: bytes = b""):
    """Spawn, start, collect. In the monitor: returns error, exit code, out, err
    and what `during(pid)` returned (called while the container runs)."""
    from engine.runtime.init import read_error, spawn_container
    if tty:
        master, slave = os.openpty()
        sp = spawn_container(bundle, spec, (slave, slave, slave), tty=True, cgroup=cgroup)
        os.close(slave)
        in_w, fds = None, {"out": master}
    else:
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        sp = spawn_container(bundle, spec, (in_r, out_w, err_w), tty=False, cgroup=cgroup)
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        fds = {"out": out_r, "err": err_r}
    os.write(sp.start_w, b"\0")
    os.close(sp.start_w)
    error = read_error(sp.error_r)
    if in_w is not None:
        if stdin:
            os.write(in_w, stdin)
        os.close(in_w)
    info = None
    try:
        if during is not None:
            info = during(sp.pid)
        got = _drain(fds, timeout, lambda: os.kill(sp.pid, signal.SIGKILL))
    finally:
        code = _reap(sp.pid)
    return {"error": error, "code": code, "out": got.get("out", ""), "err": got.get("err", ""), "during": info}


def run_in_monitor(bundle, spec, **kw):
    return in_monitor(lambda: run(bundle, spec, **kw))


def _mounts() -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f]


# ------------------------------------------------------------------ tests

def test_annotations_match_spec_builder():
    from engine.containers import spec
    from engine.runtime import init
    assert (init.ANN_LOWER, init.ANN_UPPER, init.ANN_WORK, init.ANN_INIT) == \
           (spec.ANN_LOWER, spec.ANN_UPPER, spec.ANN_WORK, spec.ANN_INIT)


def test_caps_table():
    from engine.containers.spec import ALL_CAPS, DEFAULT_CAPS
    from engine.runtime import caps
    assert f"{caps.mask(DEFAULT_CAPS):016x}" == DOCKER_CAPS
    assert caps.mask(ALL_CAPS) == (1 << 41) - 1
    with pytest.raises(ValueError):
        caps.mask(["CAP_NOPE"])


def test_secure_join_stays_inside(tmp_path):
    from engine.runtime.rootfs import secure_join
    root = tmp_path / "r"
    os.makedirs(root / "etc")
    os.symlink("/etc", root / "abs")
    os.symlink("../../../../etc", root / "rel")
    os.symlink("/", root / "slash")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    r = str(root)
    assert secure_join(r, "/abs") == f"{r}/etc"
    assert secure_join(r, "/rel/x") == f"{r}/etc/x"
    assert secure_join(r, "/slash/../../proc") == f"{r}/proc"
    assert secure_join(r, "../../../tmp") == f"{r}/tmp"
    with pytest.raises(Exception, match="symbolic links"):
        secure_join(r, "/loop1")


def test_exit_codes(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["sh", "-c", "exit 3"])
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None and res["code"] == 3
    spec["process"]["args"] = ["true"]
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None and res["code"] == 0


def test_missing_and_unexecutable_commands(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["nosuchcmd", "x"])
    res = run_in_monitor(bundle, spec)
    assert res["error"] == {"message": 'exec: "nosuchcmd": executable file not found in $PATH', "exit_code": 127}
    assert res["code"] == 127
    spec["process"]["args"] = ["/etc/passwd"]
    res = run_in_monitor(bundle, spec)
    assert res["error"]["exit_code"] == 126 and "permission denied" in res["error"]["message"]
    assert res["code"] == 126
    spec["process"]["args"] = ["/etc"]
    res = run_in_monitor(bundle, spec)
    assert res["error"] == {"message": 'exec: "/etc": is a directory', "exit_code": 126}
    spec["process"]["args"] = ["/nope/sh"]
    res = run_in_monitor(bundle, spec)
    assert res["error"]["exit_code"] == 127 and res["code"] == 127


def test_stdout_stderr_and_stdin_apart(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["sh", "-c", "echo out; echo err >&2; read x; echo got:$x"])
    res = run_in_monitor(bundle, spec, stdin=b"hello\n")
    assert res["error"] is None and res["code"] == 0
    assert res["out"] == "out\ngot:hello\n"
    assert res["err"] == "err\n"


def _status(text: str) -> dict:
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if k}


def test_docker_capabilities_nnp_and_seccomp(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["cat", "/proc/self/status"])
    assert spec["linux"].get("seccomp"), "the seccomp module should render Docker's profile"
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None and res["code"] == 0, res
    st = _status(res["out"])
    assert st["CapEff"] == DOCKER_CAPS and st["CapPrm"] == DOCKER_CAPS and st["CapBnd"] == DOCKER_CAPS
    assert st["CapInh"] == "0" * 16 and st["CapAmb"] == "0" * 16
    assert st["NoNewPrivs"] == "0"
    assert st["Seccomp"] == "2"


def test_no_new_privileges(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["cat", "/proc/self/status"],
                               security_opt=["no-new-privileges"])
    res = run_in_monitor(bundle, spec)
    st = _status(res["out"])
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2" and st["CapEff"] == DOCKER_CAPS


def test_user_nobody(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["sh", "-c", "id; cat /proc/self/status; echo HOME=$HOME"],
                               user={"uid": 65534, "gid": 65534})
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None and res["code"] == 0, res
    assert "uid=65534" in res["out"] and "gid=65534" in res["out"]
    st = _status(res["out"])
    assert st["CapEff"] == "0" * 16 and st["CapPrm"] == "0" * 16
    assert st["CapBnd"] == DOCKER_CAPS
    assert st["Groups"] == ""
    assert "HOME=/nonexistent" in res["out"]


def test_only_the_containers_pids(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower,
                               ["sh", "-c", "echo self=$$; ls /proc; echo comm=$(cat /proc/1/comm); ps -o pid,comm"])
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None and res["code"] == 0, res
    lines = res["out"].splitlines()
    assert "self=1" in lines and "comm=sh" in lines
    pids = {int(x) for x in res["out"].split() if x.isdigit()}
    assert 1 in pids and max(pids) < 10, pids


def test_mount_refused_and_proc_protected(tmp_path, lower):
    script = ("mount -t tmpfs x /mnt; echo mount=$?; "
              "echo 1 > /proc/sys/kernel/domainname; echo sysctl=$?; "
              "grep ' /proc/sys ' /proc/mounts; "
              "for p in /proc/kcore /proc/keys /proc/timer_list /proc/interrupts; do "
              "  if [ -e $p ]; then echo $p=$(wc -c < $p); else echo $p=absent; fi; done; "
              "ls /sys/firmware | wc -l")
    bundle, spec = make_bundle(tmp_path, lower, ["sh", "-c", script])
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None, res
    out = res["out"].splitlines()
    assert "mount=0" not in out and any(line.startswith("mount=") for line in out)
    assert "permission denied" in res["err"].lower() or "not permitted" in res["err"].lower()
    assert "sysctl=1" in out and "read-only file system" in res["err"].lower()
    procsys = [line for line in out if " /proc/sys " in line]
    assert procsys and procsys[0].split()[3].split(",")[0] == "ro"
    for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list"):
        expect = "0" if os.path.exists(p) else "absent"  # this kernel may lack /proc/kcore
        assert f"{p}={expect}" in out, (p, out)
    assert f"/proc/interrupts={'0' if os.path.exists('/proc/interrupts') else 'absent'}" in out
    assert out[-1] == "0"  # /sys/firmware: an empty tmpfs


def test_hostname_devices_and_mounts(tmp_path, lower):
    script = ("hostname; cat /proc/sys/kernel/hostname; ls -l /dev; cat /proc/self/mountinfo; "
              "cat /sys/class/net/lo/flags; "
              "cat /proc/sys/net/ipv4/ip_unprivileged_port_start")
    bundle, spec = make_bundle(tmp_path, lower, ["sh", "-c", script])
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None and res["code"] == 0, res
    out = res["out"].splitlines()
    assert out[0] == HOSTNAME and out[1] == HOSTNAME
    dev = res["out"]
    for name, majmin in (("null", "1,   3"), ("zero", "1,   5"), ("full", "1,   7"), ("random", "1,   8"),
                         ("urandom", "1,   9"), ("tty", "5,   0")):
        line = next(li for li in out if li.endswith(f" {name}"))
        assert line.startswith("crw-rw-rw-") and majmin in line, line
    for link, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")):
        assert f" {link} -> {target}" in dev
    assert " core -> " not in dev
    mi = [line.split() for line in out if " - " in line]
    by_mp = {f[4]: f for f in mi}
    assert by_mp["/"][by_mp["/"].index("-") + 1] == "overlay"
    root_super = by_mp["/"][-1]
    assert "redirect_dir=off" in root_super or "redirect_dir" not in root_super
    for mp, fstype in (("/proc", "proc"), ("/dev", "tmpfs"), ("/dev/pts", "devpts"), ("/sys", "sysfs"),
                       ("/sys/fs/cgroup", "tmpfs"), ("/dev/mqueue", "mqueue"), ("/dev/shm", "tmpfs")):
        f = by_mp[mp]
        assert f[f.index("-") + 1] == fstype, (mp, f)
    assert by_mp["/sys"][5].split(",")[0] == "ro"
    assert by_mp["/sys/fs/cgroup"][5].split(",")[0] == "ro"
    assert out[-2] == "0x9"  # lo: IFF_UP | IFF_LOOPBACK
    assert out[-1] == "0"  # the sysctl of the spec was written


def test_cgroup_joined_before_its_namespace(tmp_path, lower):
    """The monitor's cgroup.add(pid) happens before the child unshares its
    cgroup namespace: the container sees its own cgroup as "/", and its
    /sys/fs/cgroup/<controller> is that cgroup, read-only."""
    pids_root = "/sys/fs/cgroup/pids"
    if not os.path.isdir(pids_root) or not os.path.exists(f"{pids_root}/cgroup.procs"):
        pytest.fail("this test expects the v1 pids hierarchy of this host (see /work/shared/peers.md)")
    cg_dir = f"{pids_root}/dockyard-inittest-{os.getpid()}"
    os.mkdir(cg_dir)

    class FakeCgroup:
        def add(self, pid):
            with open(f"{cg_dir}/cgroup.procs", "w") as f:
                f.write(str(pid))

    script = ("grep pids /proc/self/cgroup; ls /sys/fs/cgroup; cat /sys/fs/cgroup/pids/cgroup.procs; "
              "mkdir /sys/fs/cgroup/pids/sub; echo mkdir=$?; touch /sys/fs/cgroup/x; echo touch=$?")
    bundle, spec = make_bundle(tmp_path, lower, ["sh", "-c", script])
    try:
        res = run_in_monitor(bundle, spec, cgroup=FakeCgroup())
    finally:
        os.rmdir(cg_dir)
    assert res["error"] is None, res
    out = res["out"].splitlines()
    assert out[0].endswith(":pids:/"), out
    names = set(out[1:out.index("1")])
    assert {"pids", "memory", "cpu", "unified"} <= names, names
    procs = out[out.index("1"):out.index("mkdir=1")]
    assert procs[0] == "1" and all(int(p) < 10 for p in procs), procs
    assert "mkdir=1" in out and "touch=1" in out


def test_writes_land_in_upper_only(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["sh", "-c", "echo hi > /newfile; mkdir -p /a/b; echo x > /a/b/f; "
                                                            "echo more >> /etc/passwd; rm /bin/wget"])
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None and res["code"] == 0, res
    upper = tmp_path / "upper"
    assert (upper / "newfile").read_text() == "hi\n"
    assert (upper / "a" / "b" / "f").read_text() == "x\n"
    assert (upper / "etc" / "passwd").read_text().endswith("more\n")
    wh = os.stat(upper / "bin" / "wget", follow_symlinks=False)  # a whiteout: char device 0:0
    assert os.major(wh.st_rdev) == 0 and os.minor(wh.st_rdev) == 0
    assert not os.path.exists(os.path.join(lower, "newfile"))
    assert not open(os.path.join(lower, "etc", "passwd")).read().endswith("more\n")
    assert os.path.lexists(os.path.join(lower, "bin", "wget"))
    assert os.listdir(tmp_path / "bundle" / "rootfs") == []
    # nothing but plain files and whiteouts: no redirect/metacopy xattrs, no index dir use
    for dirpath, dirnames, filenames in os.walk(upper):
        for n in dirnames + filenames:
            names = os.listxattr(os.path.join(dirpath, n), follow_symlinks=False)
            assert not [x for x in names if "redirect" in x or "metacopy" in x], (n, names)


def test_overlay_invisible_to_host_and_gone_after(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["sleep", "30"])
    rootfs = os.path.join(bundle, "rootfs")

    def during(pid):
        host = [m for m in _mounts() if m.startswith(str(tmp_path))]
        with open(f"/proc/{pid}/mountinfo") as f:
            inside = f.read()
        os.kill(pid, signal.SIGKILL)
        return {"host": host, "inside_has_overlay": " overlay " in inside,
                "inside_has_host_root": f" {rootfs} " in inside}

    res = run_in_monitor(bundle, spec, during=during)
    assert res["error"] is None
    assert res["during"]["host"] == []
    assert res["during"]["inside_has_overlay"] and not res["during"]["inside_has_host_root"]
    assert res["code"] == -signal.SIGKILL
    assert not [m for m in _mounts() if m.startswith(str(tmp_path))]


def test_proc_symlink_in_image_stays_inside(tmp_path):
    need_root()
    evil = make_lower(tmp_path / "evil", proc_symlink="/etc")
    host_etc_before = os.listdir("/etc")
    bundle, spec = make_bundle(tmp_path, evil, ["sh", "-c", "test -e /etc/self/status && echo proc-in-etc; "
                                                            "readlink /proc; echo done"])
    res = run_in_monitor(bundle, spec)
    if res["error"] is not None:  # refusing is also fine, if it says why
        assert "proc" in res["error"]["message"] and res["code"] == 125
    else:
        assert res["out"].splitlines() == ["proc-in-etc", "/etc", "done"], res
    assert os.listdir("/etc") == host_etc_before
    assert "/etc" not in _mounts()


def test_symlink_mount_target_outside_rootfs(tmp_path, lower):
    """A tmpfs destination through a symlink that points at the host's /tmp
    lands inside the rootfs."""
    evil = make_lower(tmp_path / "evil2")
    os.symlink("/../../../../../..", os.path.join(evil, "escape"))
    bundle, spec = make_bundle(tmp_path, evil, ["sh", "-c", "grep ' /tmp/inner ' /proc/mounts | wc -l"],
                               tmpfs=["/escape/tmp/inner"])
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None and res["out"].strip() == "1", res
    assert not os.path.exists("/tmp/inner")


def test_monitor_fds_do_not_leak(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["ls", "/proc/self/fd"])

    def go():
        leak = os.open("/dev/null", os.O_RDONLY)  # no O_CLOEXEC
        os.set_inheritable(leak, True)
        r, w = os.pipe()
        os.set_inheritable(w, True)
        res = run(bundle, spec)
        # the monitor's own later children stay in its pid namespace
        res["pid_ns_back"] = os.readlink("/proc/self/ns/pid_for_children") == os.readlink("/proc/self/ns/pid")
        return res

    res = in_monitor(go)
    assert res["error"] is None, res
    assert res["pid_ns_back"]
    fds = sorted(int(x) for x in res["out"].split())
    assert fds[:3] == [0, 1, 2] and len(fds) == 4, fds  # the 4th is ls's own directory fd


def test_tty(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower,
                               ["sh", "-c", "test -t 0 && echo istty; test -c /dev/console && echo console; "
                                            "cat /proc/self/stat | cut -d' ' -f7"], tty=True)
    res = run_in_monitor(bundle, spec, tty=True)
    assert res["error"] is None and res["code"] == 0, res
    out = res["out"].replace("\r", "").splitlines()
    assert out[:2] == ["istty", "console"]
    assert int(out[2]) != 0  # a controlling terminal


def test_init_reaper_forwards_and_reaps(tmp_path, lower):
    script = "echo pid=$$; sh -c 'sleep 0.2 & exit 0'; sleep 0.5; grep -l zombie /proc/[0-9]*/status | wc -l; exit 7"
    bundle, spec = make_bundle(tmp_path, lower, ["sh", "-c", script], init=True)
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None, res
    assert res["out"].splitlines() == ["pid=2", "0"]
    assert res["code"] == 7

    bundle2, spec2 = make_bundle(tmp_path / "b", lower, ["sleep", "30"], init=True)

    def during(pid):
        time.sleep(0.3)
        os.kill(pid, signal.SIGTERM)  # to the reaper: forwarded to sleep
        return None

    res = run_in_monitor(bundle2, spec2, during=during)
    assert res["error"] is None and res["code"] == 128 + signal.SIGTERM, res


def test_init_reaper_reports_missing_command(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["nosuchcmd"], init=True)
    res = run_in_monitor(bundle, spec)
    assert res["error"]["exit_code"] == 127 and res["code"] == 127


def _layers(parent, n: int, name_len: int) -> list[str]:
    layers = []
    for i in range(n):
        d = parent / f"{i:0{name_len}x}" / "diff"
        os.makedirs(d)
        (d / f"file{i}").write_text(str(i))
        layers.append(str(d))
    return layers


def test_many_layers_use_relative_paths(tmp_path, lower):
    """A layer list longer than a page: relative paths from the common parent."""
    store = tmp_path / ("store-with-a-long-name-" + "s" * 150)
    layers = _layers(store, 45, 64)  # like <sha256 hex>/diff
    base = make_lower(store / ("f" * 64) / "diff")
    assert len(":".join(layers + [base])) > 4096
    assert len(":".join(os.path.relpath(x, store) for x in layers + [base])) < 3500
    bundle, spec = make_bundle(tmp_path, base, ["sh", "-c", "cat /file0 /file44"], lowers=layers + [base])
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None and res["out"] == "044", res


def test_very_many_layers_use_the_new_mount_api(tmp_path, lower):
    """Too long even relative: one fsconfig("lowerdir+") per layer (Linux 6.8+)."""
    if tuple(int(x) for x in os.uname().release.split(".")[:2]) < (6, 8):
        pytest.fail("this test expects Linux 6.8+ (lowerdir+)")
    layers = _layers(tmp_path / "store", 120, 64)
    bundle, spec = make_bundle(tmp_path, lower, ["sh", "-c", "cat /file0 /file119"], lowers=layers + [lower])
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None and res["out"] == "0119", res


def test_bind_mounts_and_workdir(tmp_path, lower):
    host_dir = tmp_path / "shared"
    host_dir.mkdir()
    host_file = tmp_path / "conf.txt"
    host_file.write_text("from the host\n")
    binds = [{"destination": "/data", "type": "bind", "source": str(host_dir), "options": ["rbind", "rw"]},
             {"destination": "/etc/app/conf.txt", "type": "bind", "source": str(host_file),
              "options": ["rbind", "ro", "nosuid", "nodev"]}]
    bundle, spec = make_bundle(tmp_path, lower, ["sh", "-c", "pwd; echo hi > /data/x; cat /etc/app/conf.txt; "
                                                            "echo no >> /etc/app/conf.txt; echo append=$?"],
                               workdir="/srv/app/dir")
    spec["mounts"] += binds
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None and res["code"] == 0, res
    assert res["out"].splitlines() == ["/srv/app/dir", "from the host", "append=1"]
    assert (host_dir / "x").read_text() == "hi\n"
    assert host_file.read_text() == "from the host\n"
    assert (tmp_path / "upper" / "srv" / "app" / "dir").is_dir()


def test_rlimits_and_oom_score(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["sh", "-c", "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj"])
    spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]
    spec["process"]["oomScoreAdj"] = 300
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None and res["out"].split() == ["512", "1024", "300"], res


def test_read_only_root(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["sh", "-c", "touch /x; echo root=$?; touch /tmp/y; echo tmp=$?"],
                               read_only=True, tmpfs=["/tmp"])
    res = run_in_monitor(bundle, spec)
    assert res["error"] is None
    assert res["out"].splitlines() == ["root=1", "tmp=0"], res


def test_setup_failure_is_reported(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["true"])
    spec["annotations"]["org.dockyard.overlay.upperdir"] = str(tmp_path / "missing-upper")
    res = run_in_monitor(bundle, spec)
    assert res["code"] == 125 and res["error"]["exit_code"] == 125
    assert "overlay" in res["error"]["message"]


def test_spawn_exec_into_running_container(tmp_path, lower):
    bundle, spec = make_bundle(tmp_path, lower, ["sh", "-c", "hostname > /etc/hostname; exec sleep 30"])
    upper_file = tmp_path / "upper" / "etc" / "hostname"

    def during(pid):
        from engine.runtime.init import read_error, spawn_exec
        deadline = time.monotonic() + 10
        while not upper_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        process = dict(spec["process"], args=["sh", "-c", "cat /etc/hostname; hostname; echo $$; ls /proc; id -u"],
                       cwd="/root")
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        null = os.open("/dev/null", os.O_RDONLY)
        sp = spawn_exec(pid, spec, process, (null, out_w, err_w), tty=False)
        for fd in (null, out_w, err_w):
            os.close(fd)
        os.write(sp.start_w, b"\0")
        os.close(sp.start_w)
        error = read_error(sp.error_r)
        got = _drain({"out": out_r, "err": err_r}, 20, lambda: os.kill(sp.pid, signal.SIGKILL))
        code = _reap(sp.pid)
        os.kill(pid, signal.SIGKILL)
        back = os.readlink("/proc/self/ns/pid_for_children") == os.readlink("/proc/self/ns/pid")
        return {"error": error, "code": code, "pid_ns_back": back, **got}

    res = run_in_monitor(bundle, spec, during=during)
    ex = res["during"]
    assert ex["error"] is None and ex["code"] == 0, ex
    assert ex["pid_ns_back"]
    lines = ex["out"].splitlines()
    assert lines[0] == HOSTNAME and lines[1] == HOSTNAME
    mypid = int(lines[2])
    pids = {int(x) for x in lines[3:-1] if x.isdigit()}
    assert 1 in pids and mypid in pids and max(pids) < 10, lines
    assert lines[-1] == "0"


def test_spawn_exec_not_running():
    need_root()
    from engine.errors import DockyardError
    from engine.runtime.init import spawn_exec

    def go():
        p = subprocess.Popen(["true"])
        p.wait()
        try:
            spawn_exec(p.pid, {}, {"args": ["true"]}, (0, 1, 2), tty=False)
        except DockyardError as e:
            return str(e)
        return "no error"

    assert "is not running" in in_monitor(go)


def test_cgroup_view_computed_before_the_move_is_the_one_after(tmp_path):
    """The monitor tells the container's init in advance what /proc/self/cgroup
    will say once it is in its cgroup (so that /sys/fs/cgroup is mounted while
    the move is under way): a child really moved there reads the same."""
    from engine.runtime import rootfs
    from engine.runtime.cgroups import Cgroup
    cg = Cgroup.create(f"/dockyard-viewtest-{os.getpid()}", {"pids": {"limit": 50}})
    try:
        predicted = rootfs.cgroup_view_for(cg.dirs())
        r, w = os.pipe()
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover (child)
            os.close(r)
            os.read(go_r, 1)
            os.write(w, repr(rootfs.cgroup_view()[0]).encode())
            os._exit(0)
        os.close(w)
        cg.add(pid)
        os.write(go_w, b"x")
        got = b""
        while chunk := os.read(r, 65536):
            got += chunk
        os.waitpid(pid, 0)
        os.close(r)
        assert eval(got.decode()) == predicted[0]
        assert any(p.endswith(f"dockyard-viewtest-{os.getpid()}") for p in predicted[0].values())
    finally:
        cg.destroy()


def test_container_sees_its_own_limits_under_sys_fs_cgroup(tmp_path):
    from engine import Engine
    from engine.containers.options import RunOptions
    need_tool("busybox")
    eng = Engine(str(tmp_path / "root"))
    try:
        eng.make_starter_image()
        cid = eng.create_container(RunOptions(image="busybox", network="none", pids_limit=77, memory=64 << 20,
                                              command=["sh", "-c", "cat /sys/fs/cgroup/pids/pids.max "
                                                       "/sys/fs/cgroup/memory/memory.limit_in_bytes; "
                                                       "grep pids /proc/self/cgroup"]))
        eng.start_container(cid)
        assert eng.wait_container(cid) == 0
        from engine.runtime.logs import read_logs
        out = [d.decode().strip() for _, _, d in read_logs(eng.container_dir(cid))]
        assert out[:2] == ["77", str(64 << 20)] and out[2].endswith(":pids:/"), out
        eng.remove_container(cid)
    finally:
        eng.close()
