"""Security flags through the CLI: --cap-add/--cap-drop, --security-opt
seccomp=unconfined|FILE and no-new-privileges, --privileged, --network host;
and two CLIs creating containers at once."""
import json
import os
import subprocess
import sys

from tests.conftest import ROOT
from tests.integration.test_containers import DOCKER_CAPS, dy

STATUS = "grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status"


def _status(out: bytes) -> dict:
    return {k.strip(): v.strip() for k, v in (l.split(":", 1) for l in out.decode().splitlines() if ":" in l)}


def test_cap_add_and_drop(root):
    s = _status(dy(root, "run", "--rm", "--cap-drop", "NET_RAW", "--cap-drop", "chown", "busybox",
                   "sh", "-c", STATUS).stdout)
    dropped = int(DOCKER_CAPS, 16) & ~(1 << 13) & ~(1 << 0)
    assert int(s["CapEff"], 16) == dropped
    s = _status(dy(root, "run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", STATUS).stdout)
    assert int(s["CapEff"], 16) == int(DOCKER_CAPS, 16) | (1 << 21)
    p = dy(root, "run", "--rm", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c", "mkdir -p /m && mount -t tmpfs x /m && echo mounted")
    assert p.stdout == b"mounted\n", p.stderr
    p = dy(root, "run", "--rm", "--cap-add", "NOPE", "busybox", "true")
    assert p.returncode == 125 and b"unknown capability" in p.stderr


def test_seccomp_options_and_no_new_privileges(root, tmp_path):
    s = _status(dy(root, "run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "sh", "-c", STATUS).stdout)
    assert s["Seccomp"] == "0"
    s = _status(dy(root, "run", "--rm", "--security-opt", "no-new-privileges", "busybox", "sh", "-c", STATUS).stdout)
    assert s["NoNewPrivs"] == "1" and s["Seccomp"] == "2"
    # A profile of one's own: everything allowed but mkdir.
    prof = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
    (tmp_path / "p.json").write_text(json.dumps(prof))
    p = dy(root, "run", "--rm", "--security-opt", f"seccomp={tmp_path / 'p.json'}", "busybox", "sh", "-c",
           "mkdir /x 2>&1; echo done")
    assert b"Operation not permitted" in p.stdout and b"done" in p.stdout
    p = dy(root, "run", "--rm", "--security-opt", f"seccomp={tmp_path / 'missing.json'}", "busybox", "true")
    assert p.returncode == 125 and b"seccomp profile" in p.stderr


def test_privileged_lifts_the_defaults(root):
    out = dy(root, "run", "--rm", "--privileged", "busybox", "sh", "-c",
             STATUS + "; mkdir -p /m && mount -t tmpfs x /m && echo mounted").stdout
    s = _status(out)
    assert s["Seccomp"] == "0" and int(s["CapEff"], 16) > int(DOCKER_CAPS, 16)
    assert b"mounted" in out


def test_network_none_and_host(root):
    none = dy(root, "run", "--rm", "busybox", "sh", "-c", "ls /sys/class/net").stdout.split()
    assert none == [b"lo"]
    host = dy(root, "run", "--rm", "--network", "host", "busybox", "sh", "-c", "ls /sys/class/net").stdout.split()
    assert sorted(host) == sorted(n.encode() for n in os.listdir("/sys/class/net"))
    p = dy(root, "run", "--rm", "--network", "nosuch", "busybox", "true")   # (bridge: test_network.py)
    assert p.returncode == 125 and b"network 'nosuch' not found" in p.stderr, p.stderr


def test_two_clis_at_once(root):
    env = dict(os.environ, DOCKYARD_ROOT=root, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([sys.executable, "-m", "tui.cli", "run", "--name", f"par{i}", "busybox", "true"],
                              env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(6)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    names = dy(root, "ps", "-a", "--format", "json").stdout.decode().splitlines()
    assert sorted(json.loads(l)["Names"] for l in names) == [f"par{i}" for i in range(6)]
    from engine import Engine
    eng = Engine(root)
    try:
        assert eng.check().ok
    finally:
        eng.close()
    for i in range(6):
        dy(root, "rm", f"par{i}")


def test_device_nodes_from_a_layer_are_unusable(root):
    """A layer may carry device nodes; the container cannot open them (the
    device cgroup's allow-list), as with docker."""
    import io
    import tarfile

    from engine import Engine
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, kind, major, minor in (("mymem", tarfile.CHRTYPE, 1, 1), ("mydisk", tarfile.BLKTYPE, 253, 0)):
            ti = tarfile.TarInfo(name)
            ti.type, ti.devmajor, ti.devminor, ti.mode = kind, major, minor, 0o666
            t.addfile(ti)
    eng = Engine(root)
    try:
        eng.import_image(io.BytesIO(buf.getvalue()), "devs:1")
    finally:
        eng.close()
    p = dy(root, "run", "--rm", "-v", "/bin/busybox:/bin/busybox:ro", "-v", "/bin/busybox:/bin/sh:ro", "devs:1",
           "/bin/sh", "-c", "busybox head -c 1 /mymem; busybox head -c 1 /mydisk; busybox head -c 1 /dev/null && echo ok")
    assert p.stderr.count(b"Operation not permitted") == 2 and p.stdout == b"ok\n", (p.stdout, p.stderr)
