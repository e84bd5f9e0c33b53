"""The command line, run by a worker the store's zygote forks (see
engine/runtime/zygote.py, `call`): the zygote has this module, and through it
the command line and the engine, imported already, so a command costs a fork
instead of an interpreter start and ~40 ms of imports.

The `dockyard` process (tui/cli/__init__.py, `_remote`) sends its argv, environment
and umask, and passes its stdin, stdout, stderr and working directory as
file descriptors; the worker takes them over, answers "ok PID" (so that the
caller can forward signals to it), runs the command exactly as the caller
would have, and answers "exit CODE"."""
import os
import site
import sys

# The zygote runs without site (python -S: its monitors need only the
# standard library); the commands need the venv's packages (psutil,
# zstandard, yaml...).
if not any(p.endswith("site-packages") for p in sys.path):
    site.main()  # what a normal start does: the venv (pyvenv.cfg), its site-packages, .pth files

from . import main_local
from .worker_proto import decode_request


def warm() -> None:
    """What most commands load, loaded once in the zygote."""
    from .commands import load_commands
    from .parser import prebuild
    load_commands()
    prebuild()
    import engine
    engine.preload()
    from .. import terminal  # noqa: F401


warm()


def serve_forked(conn, payload: bytes, fds: list[int]) -> int:
    argv, env, umask = decode_request(payload)
    stdin, stdout, stderr, cwd = fds[:4]
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(fd, target)  # dup2's copy is inheritable, as stdio should be
        os.close(fd)
    os.fchdir(cwd)
    os.close(cwd)
    os.environ.clear()
    os.environ.update(env)
    os.umask(umask)
    sys.argv = ["dockyard", *argv]
    _reopen_stdio()
    # The zygote may have been started with SIGINT ignored (a background job
    # of a script), and then Python installs no KeyboardInterrupt handler;
    # a worker gets only the SIGINTs its caller forwards, which it did not ignore.
    import signal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    conn.sendall(b"ok %d\n" % os.getpid())
    _end_with(conn)
    code = 125
    try:
        code = main_local(argv)
    except SystemExit as e:  # argparse: --help, a bad flag
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
    except KeyboardInterrupt:
        code = 130
    except Exception:
        import traceback
        traceback.print_exc()
        code = 1
    finally:
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except (OSError, ValueError):
                pass
    try:
        conn.sendall(b"exit %d\n" % code)
    except OSError:
        pass
    return code


def _reopen_stdio() -> None:
    """sys.stdin/stdout/stderr on the caller's descriptors, buffered as
    Python would have set them up for that process (line buffered on a tty)."""
    enc = "utf-8"
    sys.stdin = open(0, encoding=enc, errors="surrogateescape", closefd=False)
    sys.stdout = open(1, "w", encoding=enc, errors="surrogateescape", closefd=False,
                      buffering=1 if os.isatty(1) else -1)
    sys.stderr = open(2, "w", encoding=enc, errors="backslashreplace", closefd=False, buffering=1)


def _end_with(conn) -> None:
    """The caller sends nothing more; if its end of the connection closes
    before we are done, it was killed (SIGKILL: nothing to forward): we go
    too, as the command would have with it."""
    import signal
    import threading

    def watch():
        try:
            while conn.recv(1):
                pass
        except OSError:
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="caller-watch", daemon=True).start()
