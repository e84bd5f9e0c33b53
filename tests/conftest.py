"""Shared fixtures. Tests use a temporary root each; as root the integration
tests run the real thing. Under CI=true nothing may skip: a missing tool or
missing root fails loudly. Every test is checked for leaks (mounts,
processes) left behind."""
import os
import shutil
import subprocess
import sys

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
    eng.close()


@pytest.fixture
def starter(engine):
    need_root()
    need_tool("busybox")
    return engine.make_starter_image()


def _mounts() -> set[str]:
    with open("/proc/self/mounts") as f:
        return {line.split()[1] for line in f}


def _our_processes() -> set[int]:
    """Monitor processes: python -m engine.runtime.… (not a grep that mentions it)."""
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
            if arg == b"-m" and argv[i + 1].startswith(b"engine.runtime"):
                found.add(int(pid))
    return found


@pytest.fixture(autouse=True)
def no_leaks(tmp_path):
    """Fails a test that leaves a mount under its temp dir or a monitor process."""
    before_procs = _our_processes()
    yield
    leaked = [m for m in _mounts() if m.startswith(str(tmp_path))]
    procs = _our_processes() - before_procs
    assert not leaked, f"test left mounts: {leaked}"
    assert not procs, f"test left dockyard processes: {procs}"


def run_cli(*args, root: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """The real command line, in a child process, as a user would run it."""
    env = dict(os.environ, DOCKYARD_ROOT=root, PYTHONPATH=ROOT)
    p = subprocess.run([sys.executable, "-m", "tui.cli", *args], input=input, capture_output=True, env=env, cwd=ROOT)
    if check and p.returncode != 0:
        raise AssertionError(f"dockyard {' '.join(args)} exited {p.returncode}: {p.stderr.decode()}")
    return p
