"""Shared fixtures. Tests use a temporary root each; as root the integration
tests run the real thing. Under CI=true nothing may skip: a missing tool or
missing root fails loudly. Every test is checked for leaks (mounts,
processes) left behind."""
import os
import shutil
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
IS_ROOT = os.geteuid() == 0


def skip_or_fail(reason: str):
    if IN_CI:
        pytest.fail(f"CI may not skip: {reason}")
    pytest.skip(reason)


def need_root():
    if not IS_ROOT:
        skip_or_fail("needs root (namespaces, mounts, devices, chown)")


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        skip_or_fail(f"needs {name} (scripts/setup.sh installs it)")
    return path


@pytest.fixture
def as_root():
    need_root()


@pytest.fixture
def engine(tmp_path):
    from engine import Engine
    eng = Engine(str(tmp_path / "root"))
    yield eng
    if _has_networks(eng.store.root):
        from engine.network.endpoint import remove_root_networks
        remove_root_networks(eng.store)
    eng.close()


@pytest.fixture
def starter(engine):
    need_root()
    need_tool("busybox")
    return engine.make_starter_image()


@pytest.fixture
def root(tmp_path, as_root):
    """A store root holding the starter image (localhost/busybox), for tests
    that drive the real command line; the containers a test leaves are
    removed through it afterwards, so that leaks show up as failures."""
    need_tool("busybox")
    r = str(tmp_path / "root")
    from engine import Engine
    eng = Engine(r)
    eng.make_starter_image()
    eng.close()
    yield r
    for cid in run_cli("ps", "-aq", "--no-trunc", root=r).stdout.decode().split():
        run_cli("rm", "-f", cid, root=r, check=False)
    remove_networks(r)


def _has_networks(root: str) -> bool:
    import sqlite3
    path = os.path.join(root, "db.sqlite3")
    if not os.path.exists(path):
        return False
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return bool(db.execute("SELECT 1 FROM networks").fetchone())
        finally:
            db.close()
    except sqlite3.Error:
        return False


def remove_networks(root: str) -> None:
    """The bridges (and their rules) a store made: a test's store is thrown away."""
    if not _has_networks(root):
        return
    from engine import Engine
    from engine.network.endpoint import remove_root_networks
    eng = Engine(root)
    try:
        remove_root_networks(eng.store)
    finally:
        eng.close()


def wait_for(probe, what: str = "the condition", seconds: float = 30):
    """probe()'s first true value, polled; fails naming `what` after `seconds`."""
    import time
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def _mounts() -> set[str]:
    with open("/proc/self/mounts") as f:
        return {line.split()[1] for line in f}


def _our_processes(under: str) -> set[int]:
    """Monitor, helper and DNS processes (python -m engine.runtime.…, engine.network.dns) working on a
    container directory under `under` (not a grep that mentions them, and not
    another test run's)."""
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        for i, arg in enumerate(argv[:-1]):
            # the monitors, their helpers, and a store's embedded DNS (engine.network.dns ROOT)
            if arg == b"-m" and argv[i + 1].startswith((b"engine.runtime", b"engine.network")):
                if any(a.startswith(under.encode()) for a in argv[i + 2:]):
                    found.add(int(pid))
    return found


def _cgroups() -> set[str]:
    try:
        from engine.runtime.cgroups import leftover_cgroups
        return set(leftover_cgroups())
    except Exception:  # no cgroup support here: nothing to leak
        return set()


def _containers_made_under(path: str) -> set[str]:
    """Ids of every container created in a store under `path` (the events
    table keeps them after the container is gone): only their cgroups are
    this test's business, whatever else runs on the machine."""
    import sqlite3
    ids = set()
    for dirpath, dirs, files in os.walk(path):
        if dirpath.count(os.sep) - path.count(os.sep) >= 3:
            dirs[:] = []
        if "db.sqlite3" in files:
            try:
                db = sqlite3.connect(f"file:{os.path.join(dirpath, 'db.sqlite3')}?mode=ro", uri=True)
                ids |= {r[0] for r in db.execute("SELECT id FROM events WHERE type = 'container' AND action = 'create'")}
                db.close()
            except sqlite3.Error:
                pass
        dirs[:] = [d for d in dirs if d not in ("layers", "blobs", "containers", "tmp", "volumes")]
    return ids


def _links() -> dict[str, str]:
    """{name: ifalias} of the host's network links (sysfs: no pyroute2 here)."""
    out = {}
    for name in os.listdir("/sys/class/net"):
        try:
            with open(f"/sys/class/net/{name}/ifalias") as f:
                out[name] = f.read().strip()
        except OSError:
            out[name] = ""
    return out


def _network_leaks(tmp_path: str, ours: set[str]) -> list[str]:
    """Veths of this test's containers, bridges of its stores (their ifalias
    names the store root), and iptables rules whose comment names either."""
    links = _links()
    bridges = {n for n, a in links.items() if a.startswith(f"dockyard {tmp_path}")}
    # dy + 12 hex of the id for eth0, the same and a digit for eth1… (network connect)
    found = [f"veth {n}" for n in links if n.startswith("dy") and any(n[:14] == "dy" + c[:12] for c in ours)]
    found += [f"bridge {b}" for b in sorted(bridges)]
    if shutil.which("iptables-save") and (ours or bridges):
        rules = subprocess.run(["iptables-save"], capture_output=True, text=True).stdout.splitlines()
        tags = [f'"dockyard ctr {c}"' for c in ours] + [f'"dockyard net {b}"' for b in bridges]
        found += [f"rule {r}" for r in rules if r.startswith("-A ") and any(t in r for t in tags)]
    return found


def _settle(probe, tries: int = 50):
    """A monitor may still be finishing its exit: give it a moment."""
    found = probe()
    for _ in range(tries):
        if not found:
            break
        time.sleep(0.1)
        found = probe()
    return found


@pytest.fixture(autouse=True)
def no_leaks(tmp_path):
    """Fails a test that leaves a mount under its temp dir, a monitor process
    for one of its containers, or a container cgroup."""
    yield
    # A store's zygote (engine/runtime/zygote.py) outlives the commands that
    # started it by design; end those of this test's stores.
    from engine.runtime import zygote
    for root in {r for r in zygote.zygote_roots().values() if r.startswith(str(tmp_path))}:
        zygote.stop(root)
    leaked = [m for m in _mounts() if m.startswith(str(tmp_path))]
    assert not leaked, f"test left mounts: {leaked}"
    procs = _settle(lambda: _our_processes(str(tmp_path)))
    assert not procs, f"test left dockyard processes: {procs}"
    if IS_ROOT:
        ours = _containers_made_under(str(tmp_path))
        if ours:
            new = _settle(lambda: {c for c in _cgroups() if os.path.basename(c) in ours})
            ids = sorted({os.path.basename(c) for c in new})
            assert not new, f"test left the cgroups of {len(ids)} containers: {', '.join(i[:12] for i in ids[:5])}"
        # a veth goes with its namespace, which the kernel frees a moment after the last process
        net = _settle(lambda: _network_leaks(str(tmp_path), ours))
        assert not net, f"test left network links or rules: {net[:5]}"


def run_cli(*args, root: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """The real command line, in a child process, as a user would run it."""
    env = dict(os.environ, DOCKYARD_ROOT=root, PYTHONPATH=ROOT)
    p = subprocess.run([sys.executable, "-m", "tui.cli", *args], input=input, capture_output=True, env=env, cwd=ROOT)
    if check and p.returncode != 0:
        raise AssertionError(f"dockyard {' '.join(args)} exited {p.returncode}: {p.stderr.decode()}")
    return p


# The runtime's shared parent cgroups (ROOT of every hierarchy/dockyard) are made
# by the first container and kept, as docker keeps its own; those the suite made
# go with it when empty (a container's own cgroup left in them is a leak, above).
_parents_before: set[str] = set()


def _cgroup_parents() -> list[str]:
    try:
        from engine.runtime.cgroups_layout import prefix_dirs
        return prefix_dirs()
    except Exception:  # no cgroup support here
        return []


def pytest_sessionstart(session):
    _parents_before.update(d for d in _cgroup_parents() if os.path.isdir(d))


def pytest_sessionfinish(session, exitstatus):
    for d in _cgroup_parents():
        if d not in _parents_before and os.path.isdir(d):
            try:
                os.rmdir(d)
            except OSError:
                pass   # not empty (a leak the tests reported) or in use by a container still running
