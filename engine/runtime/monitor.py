"""The per-container monitor: `python -m engine.runtime.monitor DIR --ready-fd N`
(launcher.start runs it; see there for the exact command line).

One monitor a container, like conmon. It

- forks once (its first process exits, so the monitor is nobody's child and
  outlives the CLI/TUI; launcher.start runs it in a session of its own);
- sets up (stage 1): monitor.pid, the cgroup, the container's stdio (a pty
  whose master it keeps, or pipes) and init.spawn_container, which forks the
  container's pid 1 (of a new pid namespace) as its direct child;
- re-executes itself (stage 2, same pid, same children, fds inherited) into a
  lean interpreter that imports only C modules and protocol/logs/state: the
  set-up code (ctypes, dataclasses, cgroups, seccomp…) is paid once, at start,
  not for the whole life of the container;
- answers the ready pipe once the container's execve is known to have
  succeeded or failed, and writes state.json (state.py);
- runs a single-threaded epoll loop: container output goes to the json-file
  log (logs.py), to a 64 KiB replay ring and to attached clients; clients
  connect to attach.sock (protocol.py) to attach, send stdin, resize, signal,
  exec and wait;
- when pid 1 exits: exit code (signal N → 128+N), OOM kill from the cgroup,
  output drained, leftovers killed, cgroup removed, final state.json,
  autoremove for --rm, EXIT to every client, and exits.

The parts: this module (the entry: arguments, the fork, stage 1 to stage 2),
monitor_setup (stage 1, never loaded by the lean stage 2), monitor_loop (the
loop, output, the lean re-exec), monitor_clients (clients and their
requests, pause), monitor_exec (exec), monitor_exit (the end), and
monitor_base (what they share).
"""
import os
import sys

from .monitor_base import MODULE, PACKAGE_ROOT, PID_FILE, _answer, _handoff_fds, _listen, _message, _unlink

__all__ = ["MODULE", "main", "run_forked"]


def _parse_args(argv: list[str]) -> tuple[str, int, str | None]:
    args = list(argv)
    cdir, ready_fd, resume = None, -1, None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--ready-fd":
            ready_fd = int(args[i + 1])
            i += 2
        elif a == "--resume":
            resume = args[i + 1]
            i += 2
        elif cdir is None:
            cdir = a
            i += 1
        else:
            raise SystemExit(f"monitor: unexpected argument {a!r}")
    if cdir is None:
        raise SystemExit("usage: python -m engine.runtime.monitor CONTAINER_DIR [--ready-fd N]")
    return cdir, ready_fd, resume


def main(argv: list[str] | None = None) -> int:
    cdir, ready_fd, resume = _parse_args(sys.argv[1:] if argv is None else argv)
    if resume is not None:
        from .monitor_loop import Monitor
        from .protocol import loads
        return Monitor(cdir, ready_fd, loads(resume)).run()
    if not _enter(cdir, ready_fd):
        return 1
    # Double fork: our parent (the launcher) reaps this first process at once;
    # the monitor lives on in the child, in the launcher's new session but not
    # its leader (so it never gets a controlling terminal back).
    pid = os.fork()
    if pid:
        os._exit(0)
    return _serve(cdir, ready_fd, reexec=True)


def run_forked(cdir: str, ready_fd: int) -> int:
    """The monitor in a process forked by the zygote (zygote.py): the modules
    are loaded already, so no re-exec."""
    if not _enter(cdir, ready_fd):
        return 1
    return _serve(cdir, ready_fd, reexec=False)


def _enter(cdir: str, ready_fd: int) -> bool:
    """chdir into the container directory, or tell the launcher why not."""
    try:
        os.chdir(cdir)
        return True
    except OSError as e:
        _answer(ready_fd, {"ok": False, "message": f"cannot enter the container directory {cdir}: {e.strerror}",
                           "exit_code": 125})
        return False


def _serve(cdir: str, ready_fd: int, reexec: bool) -> int:
    from .monitor_setup import _setup
    try:
        handoff = _setup(cdir)
    except BaseException as e:
        code = getattr(e, "exit_code", 125)
        msg = _message(e)
        _fail_state(msg, code if isinstance(code, int) else 125)
        _answer(ready_fd, {"ok": False, "message": msg, "exit_code": code})
        os._exit(1)
    if handoff.get("running"):
        # Clients may connect as soon as the launcher hears from us: the socket first.
        handoff["lsock"] = _listen()
        from .state import rfc3339_nano, write_state
        write_state(".", {"status": "running", "pid": handoff["pid"], "monitor_pid": os.getpid(),
                          "started_at": rfc3339_nano(handoff["started_ns"]), "finished_at": None,
                          "exit_code": None, "oom_killed": False, "error": None}, durable=False)
        ready_fd = _answer(ready_fd, {"ok": True, "pid": handoff["pid"], "monitor_pid": os.getpid()})
    cdir = os.getcwd()
    from .monitor_loop import Monitor
    if not reexec:
        handoff["forked"] = True
        return Monitor(cdir, ready_fd, handoff).run()
    # Stage 2: the same process, re-executed lean (from the directory that
    # holds `engine`, for -m; Monitor.run goes back). On failure, run here.
    for fd in _handoff_fds(handoff) + ([ready_fd] if ready_fd >= 0 else []):
        os.set_inheritable(fd, True)
    from .monitor_flags import FAST_FLAGS
    from .protocol import dumps
    argv2 = [sys.executable, *FAST_FLAGS, "-m", MODULE, cdir, "--ready-fd", str(ready_fd),
             "--resume", dumps(handoff)]
    try:
        os.chdir(PACKAGE_ROOT)
        os.execv(sys.executable, argv2)
    except OSError:
        pass
    return Monitor(cdir, ready_fd, handoff).run()


def _fail_state(msg: str, code: int) -> None:
    from .state import rfc3339_nano, write_state
    try:
        now = rfc3339_nano()
        write_state(".", {"status": "exited", "pid": 0, "monitor_pid": os.getpid(), "started_at": None,
                          "finished_at": now, "exit_code": code, "oom_killed": False, "error": msg})
        _unlink(PID_FILE)
    except OSError:
        pass



if __name__ == "__main__":
    sys.exit(main())
