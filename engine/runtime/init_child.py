"""The forked child's frame, shared by the container's init and an exec'd
process (init.py forks them): how a set-up step fails (`_Fail`, reported on
the error pipe as {"message", "exit_code"} by `_run_child`), default signals,
stdio and the kept fds, the wait for the monitor's cgroup move.

Standard library only; runs in the child, also after pivot_root."""
import fcntl
import os
import signal

from ..errors import DockyardError
from . import protocol as _protocol  # here, not lazily: the child reports errors after pivot_root
from . import rootfs

SETUP_FAILED, NOT_EXECUTABLE, NOT_FOUND = 125, 126, 127


def _dumps(obj) -> str:
    return _protocol.dumps(obj)


class _Fail(Exception):
    def __init__(self, message: str, code: int = SETUP_FAILED):
        super().__init__(message)
        self.message, self.code = message, code


def _report(error_w: int, message: str, code: int) -> None:
    try:
        os.write(error_w, _dumps({"message": message, "exit_code": code}).encode() + b"\n")
    except OSError:
        pass


def _describe(e: BaseException) -> str:
    if isinstance(e, OSError):
        msg = e.strerror or str(e)
        if e.filename is not None:
            msg = f"{e.filename}: {msg}"
        return msg
    if isinstance(e, (rootfs.SetupError, DockyardError)):
        return str(e)
    return f"{type(e).__name__}: {e}"


_error_fd = -1  # in a forked child: where _run_child reports (the fd moves in _take_fds)


def _run_child(error_w: int, main) -> None:
    """Run `main` in the forked child; whatever happens, the child ends here
    with os._exit and a message on the error pipe."""
    global _error_fd
    _error_fd = error_w
    code = SETUP_FAILED
    try:
        main()
        msg = "internal error: the container process returned instead of exec"
    except _Fail as e:
        msg, code = e.message, e.code
    except SystemExit as e:  # os._exit does not raise; a stray sys.exit does
        msg = f"internal error: exit {e.code}"
    except BaseException as e:
        msg = _describe(e)
    try:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        _report(_error_fd, msg, code)
    finally:
        os._exit(code)


def _reset_signals() -> None:
    """Default dispositions (the monitor's Python handlers must never run
    here), SIGPIPE ignored until execve (an error write must not kill us), an
    empty mask."""
    for s in signal.valid_signals():
        if s in (signal.SIGKILL, signal.SIGSTOP):
            continue
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _take_fds(stdio, keep: list[int]) -> list[int]:
    """stdio onto 0, 1, 2; every other fd closed except `keep` (moved above 2
    first, CLOEXEC); returns keep's new numbers."""
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in keep]
    std = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in stdio]
    for i, fd in enumerate(std):
        os.dup2(fd, i, inheritable=True)
    wanted = {0, 1, 2, *moved}
    for name in os.listdir("/proc/self/fd"):
        n = int(name)
        if n not in wanted:
            try:
                os.close(n)
            except OSError:
                pass
    return moved


def _wait_sync(sync_r: int) -> None:
    b = os.read(sync_r, 1)
    os.close(sync_r)
    if not b:  # the monitor gave up on us (cgroup.add failed): quietly
        os._exit(SETUP_FAILED)
