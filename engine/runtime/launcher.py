"""Starting a container's monitor from the CLI or the TUI.

`start(container_dir)` asks the store root's zygote (zygote.py) to fork the
monitor, starting the zygote if there is none; when no zygote can serve
(DOCKYARD_ZYGOTE=0, or it failed) it spawns

    python -m engine.runtime.monitor DIR --ready-fd N

(the interpreter is sys.executable; cwd is the directory holding the `engine`
package, so `-m` finds it) in a new session and waits for its one-line JSON
answer on the ready pipe: {"ok": true, "pid": …, "monitor_pid": …} once the
container's process has exec'd (or, with monitor.json's wait_attach, once it
waits for its first client), {"ok": false, "message": …, "exit_code": …} when
it could not start (→ ContainerStartError, exit code 125/126/127 as docker's).

The monitor forks once more and its first process exits at once (we reap
it): the monitor is no child of ours and outlives the CLI/TUI.
"""
import json
import os
import sys

from ..errors import DockyardError
from .ready import read_line

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = "engine.runtime.monitor"


class ContainerStartError(DockyardError):
    """The container's process could not be started (docker's 125/126/127)."""

    def __init__(self, message: str, exit_code: int = 125):
        super().__init__(message)
        self.exit_code = exit_code


def monitor_argv(container_dir: str, ready_fd: int) -> list[str]:
    """The monitor's command line; run it with cwd=PACKAGE_ROOT."""
    from .monitor_flags import FAST_FLAGS
    return [sys.executable, *FAST_FLAGS, "-m", MODULE, container_dir, "--ready-fd", str(ready_fd)]


def start(container_dir: str, timeout: float = 30) -> dict:
    """Starts the container of `container_dir` under a new monitor; returns the
    monitor's answer {"ok": True, "pid": <container pid>, "monitor_pid": …}."""
    container_dir = os.path.abspath(container_dir)
    if not os.path.isfile(os.path.join(container_dir, "config.json")):
        raise ContainerStartError(f"{container_dir} is not a container bundle: it has no config.json", 125)
    r, w = os.pipe2(os.O_CLOEXEC)
    status = None
    try:
        from . import zygote
        parent, name = os.path.split(container_dir)
        # Only a store's container (ROOT/containers/<id>) goes to its root's zygote.
        in_store = os.path.basename(parent) == "containers" and len(name) == 64
        if not (in_store and zygote.request(os.path.dirname(parent), container_dir, w)):
            status = _spawn(container_dir, w, timeout)
        os.close(w)
        w = -1
        line = read_line(r, timeout)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    if not line:
        pid = _monitor_pid(container_dir)
        if line is None and pid:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
            raise ContainerStartError(f"the container's monitor did not answer within {timeout:g} s", 125)
        how = f" (first process exit status {status})" if status is not None else ""
        raise ContainerStartError(f"the container's monitor exited before starting the container{how}", 125)
    try:
        answer = json.loads(line)
    except ValueError:
        raise ContainerStartError(f"the container's monitor answered nonsense: {line[:200]!r}", 125) from None
    if not answer.get("ok"):
        raise ContainerStartError(answer.get("message") or "the container could not be started",
                                  int(answer.get("exit_code") or 125))
    return answer


def _spawn(container_dir: str, w: int, timeout: float) -> int | None:
    """Runs the monitor as a process of its own (no zygote); returns the exit
    status of its first process, which forks the monitor and exits at once."""
    # The monitor must run from cached bytecode: compiling its source costs
    # ~3 MB of RSS that stays for the container's whole life.
    import subprocess
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    try:
        p = subprocess.Popen(monitor_argv(container_dir, w), pass_fds=(w,), start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             close_fds=True, cwd=PACKAGE_ROOT, env=env)
    except OSError as e:
        raise ContainerStartError(f"cannot start the container's monitor: {e}", 125) from None
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def _monitor_pid(container_dir: str) -> int | None:
    from .state import is_monitor_of, read_monitor_pid
    pid = read_monitor_pid(container_dir)
    if pid and is_monitor_of(pid, container_dir):
        return pid
    return None
