"""The engine's side of the embedded DNS (dns.py): started on the first
start of a container on a user network, told to bind the gateways of new
networks, stopped with the store's networks."""
import os
import socket
import sys
import time

from ..errors import DockyardError

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _call(store, cmd: bytes) -> bool:
    from .dns import control_address
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    s.settimeout(10)
    try:
        s.connect(control_address(store.root))
        s.sendall(cmd + b"\n")
        return s.recv(16).startswith(b"ok")
    except OSError:
        return False
    finally:
        s.close()


def ensure(store) -> None:
    """The store's DNS running and serving every user network's gateway."""
    if _call(store, b"rescan"):
        return
    import subprocess
    run = os.path.join(store.root, "run")
    os.makedirs(run, mode=0o700, exist_ok=True)
    with open(os.path.join(run, "dns.log"), "ab") as log:
        p = subprocess.Popen([sys.executable, "-m", "engine.network.dns", store.root], cwd=PACKAGE_ROOT,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, close_fds=True,
                             start_new_session=True)
    p.wait()   # its first process exits once the control socket listens (or another one serves)
    if not _call(store, b"rescan"):
        raise DockyardError(f"cannot start the embedded DNS of {store.root} (see {run}/dns.log)")


def refresh(store) -> None:
    """A network went or came: the DNS rebinds (and leaves when none is left)."""
    _call(store, b"rescan")


def stop(store, timeout: float = 10) -> None:
    pid = None
    try:
        with open(os.path.join(store.root, "run", "dns.pid")) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        pass
    if not _call(store, b"stop") or pid is None:
        return
    deadline = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return
        except OSError:
            return
        time.sleep(0.01)
