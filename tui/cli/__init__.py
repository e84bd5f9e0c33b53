"""dockyard's command line: docker's commands and flags over the same engine
the TUI uses. With no command it opens the TUI. Kept free of textual imports
so that scripted commands start fast."""
from __future__ import annotations

import os
import sys

from .. import CLI_WORKER as WORKER


def _command_word(argv: list[str]) -> str | None:
    """The command in argv (after the global --root), or None when there is
    none or an option such as --help comes first."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--root":
            i += 2
        elif a.startswith("--root="):
            i += 1
        elif a.startswith("-"):
            return None
        else:
            return a
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    code = _remote(argv)
    if code is not None:
        return code
    return main_local(argv)


def _remote(argv: list[str]) -> int | None:
    """Runs the command in a worker forked by the store's zygote (tui/cli/
    worker.py), which has everything loaded, with our stdio, working
    directory, environment and umask; forwards our signals to it; returns its
    exit code. None when there is no command (the TUI, --help) or no zygote
    can serve: then the command runs here."""
    word = _command_word(argv)
    if word is None or word == "tui":
        return None
    from engine import zygote_call, zygote_enabled
    if not zygote_enabled():
        return None
    root = _root_arg(argv) or os.environ.get("DOCKYARD_ROOT") or "/var/lib/dockyard"
    try:
        cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    umask = os.umask(0)
    os.umask(umask)
    from .worker_proto import encode_request
    try:
        got = zygote_call(os.path.abspath(root), WORKER, encode_request(argv, dict(os.environ), umask),
                          [0, 1, 2, cwd])
    finally:
        os.close(cwd)
    if got is None:
        return None
    sock, pid = got
    return _follow(sock, pid)


def _follow(sock, pid: int) -> int:
    """Waits for the worker's "exit CODE", passing it our signals meanwhile."""
    import _signal as signal  # the C module: signal.py loads enum (several ms)
    forwarded = []

    def forward(sig, _frame):
        forwarded.append(sig)
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGWINCH,
                signal.SIGUSR1, signal.SIGUSR2):
        if signal.getsignal(sig) != signal.SIG_IGN:  # ignored (a script's background job): stays so
            signal.signal(sig, forward)
    saved = None
    try:
        import termios
        saved = termios.tcgetattr(0) if os.isatty(0) else None
    except (OSError, ImportError):
        pass
    data = b""
    try:
        while True:
            try:
                chunk = sock.recv(64)
            except InterruptedError:
                continue
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    for line in data.split(b"\n"):
        if line.startswith(b"exit ") and line[5:].lstrip(b"-").isdigit():
            return int(line[5:])
    if saved is not None:  # the worker died holding the terminal (raw, for -it): give it back
        import termios
        termios.tcsetattr(0, termios.TCSADRAIN, saved)
    if forwarded:
        return 128 + forwarded[-1]
    print("Error: the command's worker ended without an exit status", file=sys.stderr)
    return 125


def _root_arg(argv: list[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "--root" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--root="):
            return a[len("--root="):]
        if not a.startswith("-"):
            return None
    return None


def main_local(argv: list[str]) -> int:
    """The command, in this process."""
    from .parser import build_parser
    args = build_parser(argv).parse_args(argv)
    root = args.root or os.environ.get("DOCKYARD_ROOT")
    func = getattr(args, "func", None)
    if func is None:
        return _tui(root)
    from engine import Engine
    from engine.errors import DockyardError
    try:
        eng = Engine(root)
    except DockyardError as e:
        print(f"Error: {e}", file=sys.stderr)
        return e.exit_code
    except PermissionError as e:
        print(f"Error: cannot open the state root: {e}; run as root or pass --root DIR", file=sys.stderr)
        return 125
    try:
        return func(eng, args) or 0
    except DockyardError as e:
        print(f"Error: {e}", file=sys.stderr)
        return e.exit_code
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        eng.close()


def _tui(root: str | None) -> int:
    from ..app import run_app
    return run_app(root)

