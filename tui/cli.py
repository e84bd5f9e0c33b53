"""dockyard's command line: docker's commands and flags over the same engine
the TUI uses. With no command it opens the TUI. Kept free of textual imports
so that scripted commands start fast."""
from __future__ import annotations

import os
import sys

# The commands' modules (loaded by load_commands, when a parser is built):
# `dockyard` first asks the store's zygote to run the command (_remote), and
# must not pay for loading them itself.
cc = ct = cli_cp = im = None


def load_commands() -> None:
    global cc, ct, cli_cp, im
    from . import cli_commit, cli_containers, cli_images
    from . import cli_cp as cp
    cc, ct, cli_cp, im = cli_commit, cli_containers, cp, cli_images


def _image_parsers(sub, prefix: bool) -> None:
    """The image commands, both as `dockyard images|rmi|…` and `dockyard image ls|rm|…`."""
    names = {"ls": "images", "rm": "rmi", "import": "import", "load": "load", "save": "save", "tag": "tag",
             "inspect": "inspect", "history": "history", "prune": None}
    def name(n):
        return n if prefix else names[n]

    p = sub.add_parser(name("ls"), help="list images", aliases=["list"] if prefix else [])
    p.add_argument("filter_ref", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-a", "--all", action="store_true", help="show all images")
    p.add_argument("-q", "--quiet", action="store_true", help="only show image ids")
    p.add_argument("--digests", action="store_true", help="show digests")
    p.add_argument("--format", help="json, table TEMPLATE, or a Go template: '{{.Repository}}:{{.Tag}}'")
    p.set_defaults(func=im.images)

    p = sub.add_parser(name("rm"), help="remove images")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-f", "--force", action="store_true", help="remove an image with several tags or used by a container")
    p.set_defaults(func=im.rmi)

    p = sub.add_parser(name("import"), help="make a one-layer image from a rootfs tar")
    p.add_argument("file", metavar="FILE|-")
    p.add_argument("ref", nargs="?", metavar="REPOSITORY[:TAG]")
    p.add_argument("-m", "--message", help="commit message for the imported image")
    p.set_defaults(func=im.import_)

    p = sub.add_parser(name("load"), help="load images from a docker-archive or OCI archive")
    p.add_argument("-i", "--input", help="read from a file instead of standard input")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress the load progress")
    p.set_defaults(func=im.load)

    p = sub.add_parser(name("save"), help="save images to an archive (docker-archive by default)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("-o", "--output", help="write to a file instead of standard output")
    p.add_argument("--format", default="docker-archive", choices=["docker-archive", "oci", "oci-archive"])
    p.set_defaults(func=im.save)

    p = sub.add_parser(name("tag"), help="give an image another name")
    p.add_argument("source", metavar="SOURCE_IMAGE[:TAG]")
    p.add_argument("target", metavar="TARGET_IMAGE[:TAG]")
    p.set_defaults(func=im.tag)

    p = sub.add_parser(name("inspect"), help="show details as JSON" if not prefix else "show an image's details as JSON")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("-f", "--format", help="a Go template: '{{.Id}}', '{{json .Config}}'")
    if prefix:
        p.set_defaults(func=ct.inspect, type="image")
    else:
        p.add_argument("--type", choices=["container", "image"])
        p.set_defaults(func=ct.inspect)

    p = sub.add_parser(name("history"), help="show an image's layers and how they were made")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=im.history)

    if prefix:
        p = sub.add_parser("prune", help="remove dangling images (-a: every unused image)")
        p.add_argument("-a", "--all", action="store_true")
        p.add_argument("-f", "--force", action="store_true", help="do not ask")
        p.set_defaults(func=im.prune)


def _container_parsers(sub, prefix: bool) -> None:
    """The container commands, as `dockyard ps|rm|…` and `dockyard container ls|rm|…`."""
    p = sub.add_parser("run", help="create and start a container", add_help=False)
    p.add_argument("--help", action="help")
    ct.add_run_flags(p)
    p.set_defaults(func=ct.run)
    p = sub.add_parser("create", help="create a container", add_help=False)
    p.add_argument("--help", action="help")
    ct.add_run_flags(p)
    p.set_defaults(func=ct.create)

    p = sub.add_parser("ls" if prefix else "ps", help="list containers", aliases=["list", "ps"] if prefix else [])
    p.add_argument("-a", "--all", action="store_true", help="show all containers (default shows just running)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-s", "--size", action="store_true", help="show the writable layer's size and the virtual size")
    p.add_argument("--no-trunc", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[],
                   help="status=, name=, id=, ancestor=, exited=, before=, since=")
    p.add_argument("--format", help="json, table TEMPLATE, or a Go template: '{{.ID}}\\t{{.Names}}'")
    p.set_defaults(func=ct.ps)

    p = sub.add_parser("rename", help="rename a container")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("new_name", metavar="NEW_NAME")
    p.set_defaults(func=ct.rename)

    p = sub.add_parser("start", help="start stopped containers")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.add_argument("-a", "--attach", action="store_true")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("--detach-keys")
    p.set_defaults(func=ct.start)
    for name, func, help_ in (("stop", ct.stop, "stop running containers (SIGTERM, SIGKILL after -t)"),
                              ("restart", ct.restart, "restart containers")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.add_argument("-t", "--time", "--timeout", type=int, default=None)
        if name == "stop":
            p.add_argument("-s", "--signal")
        p.set_defaults(func=func)
    p = sub.add_parser("kill", help="send a signal (KILL by default)")
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.add_argument("-s", "--signal", default="KILL")
    p.set_defaults(func=ct.kill)
    for name, func in (("pause", ct.pause), ("unpause", ct.unpause), ("wait", ct.wait)):
        p = sub.add_parser(name, help=f"{name} containers")
        p.add_argument("containers", nargs="+", metavar="CONTAINER")
        p.set_defaults(func=func)
    p = sub.add_parser("rm" if prefix else "rm", help="remove containers", aliases=["remove"] if prefix else [])
    p.add_argument("containers", nargs="+", metavar="CONTAINER")
    p.add_argument("-f", "--force", action="store_true", help="kill a running container first")
    p.add_argument("-v", "--volumes", action="store_true")
    p.set_defaults(func=ct.rm)
    p = sub.add_parser("logs", help="show a container's output")
    p.add_argument("container")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-n", "--tail")
    p.add_argument("--since", help="a time (RFC3339, unix seconds) or a duration before now (10m)")
    p.add_argument("--until", help="the same: entries up to then")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.set_defaults(func=ct.logs)
    p = sub.add_parser("attach", help="attach to a running container (detach: ctrl-p ctrl-q)")
    p.add_argument("container")
    p.add_argument("--no-stdin", action="store_true")
    p.add_argument("--detach-keys")
    p.set_defaults(func=ct.attach)
    p = sub.add_parser("exec", help="run a command in a running container")
    p.add_argument("-i", "--interactive", action="store_true")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-w", "--workdir")
    p.add_argument("-u", "--user")
    p.add_argument("--privileged", action="store_true")
    p.add_argument("container")
    p.add_argument("cmd")
    p.add_argument("args", nargs="...")
    p.set_defaults(func=ct.exec_)
    cli_cp.add_parser(sub)
    p = sub.add_parser("top", help="show a container's processes")
    p.add_argument("container")
    p.set_defaults(func=ct.top)
    p = sub.add_parser("stats", help="show containers' resource use")
    p.add_argument("containers", nargs="*")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--no-stream", action="store_true")
    p.set_defaults(func=ct.stats)
    if prefix:
        p = sub.add_parser("prune", help="remove all stopped containers")
        p.add_argument("-f", "--force", action="store_true")
        p.set_defaults(func=ct.prune)
        p = sub.add_parser("inspect", help="show a container's details as JSON")
        p.add_argument("names", nargs="+")
        p.add_argument("-f", "--format", help="a Go template: '{{.State.Pid}}'")
        p.set_defaults(func=ct.inspect, type="container")


def _cache_gettext() -> None:
    """argparse looks up the translation of each of its ~200 message strings
    in the locale directories as the parser is built (12 ms of every command
    start); the answer cannot change within one process."""
    import argparse
    import functools
    lookup = getattr(argparse, "_", None)
    if callable(lookup) and not hasattr(lookup, "cache_info"):
        argparse._ = functools.lru_cache(maxsize=None)(lookup)


class _Ignored:
    """Stands in for the parser of a command that was not asked for: building
    all ~70 of them costs every command start several milliseconds."""

    def add_argument(self, *args, **kwargs):
        return None

    def set_defaults(self, **kwargs):
        return None

    def add_mutually_exclusive_group(self, **kwargs):
        return self

    def add_argument_group(self, *args, **kwargs):
        return self

    def add_subparsers(self, **kwargs):
        return self

    def add_parser(self, *args, **kwargs):
        return self


class _OnlyCommand:
    """The top level's subparsers, building only `wanted`'s parser (found by
    its name or an alias); `seen` collects every name, so that an unknown
    command can still be told apart."""

    def __init__(self, real, wanted: str):
        self.real, self.wanted, self.seen = real, wanted, set()

    def add_parser(self, name, **kwargs):
        names = {name, *kwargs.get("aliases", ())}
        self.seen |= names
        return self.real.add_parser(name, **kwargs) if self.wanted in names else _Ignored()


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


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given argv, only the parser of its command
    (all of them when it has none, or one dockyard does not know)."""
    if _built is not None:
        return _built
    _cache_gettext()
    wanted = _command_word(argv) if argv is not None else None
    p = _top_parser()
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    if wanted is not None:
        only = _OnlyCommand(sub, wanted)
        _add_commands(only)
        if wanted in only.seen:
            return p
        p = _top_parser()
        sub = p.add_subparsers(dest="command", metavar="COMMAND")
    _add_commands(sub)
    return p


def _parser_class():
    """argparse's parser with one change: its help formatter gets the width
    from _help_width, so that building the parsers does not import shutil
    (for get_terminal_size), which loads bz2 and lzma: 3 ms of every command.
    The subparsers are of this class too (add_subparsers uses type(self)).
    Made on first use: `dockyard` itself, which hands the command to its
    worker (_remote), never loads argparse."""
    global _Parser
    if _Parser is None:
        import argparse

        class Parser(argparse.ArgumentParser):
            def _get_formatter(self):
                return self.formatter_class(prog=self.prog, width=_help_width())

        _Parser = Parser
    return _Parser


_Parser = None


def _help_width() -> int:
    """What shutil.get_terminal_size gives, less 2, as argparse does."""
    try:
        cols = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        cols = 0
    if cols <= 0:
        try:
            cols = os.get_terminal_size(1).columns  # fd 1: in a worker, the caller's stdout
        except (AttributeError, ValueError, OSError):
            cols = 80
    return max(cols - 2, 11)


_built = None  # the whole parser, when made in advance (prebuild)


def prebuild() -> None:
    """Makes the whole parser once and keeps it: the zygote does this, so that
    its workers parse without building (parsing does not change a parser)."""
    global _built
    _built = build_parser()


def _top_parser() -> argparse.ArgumentParser:
    p = _parser_class()(prog="dockyard", description="A terminal UI for containers, with its own engine. "
                                "With no command, opens the TUI.")
    p.add_argument("--root", default=None, help="state root (default $DOCKYARD_ROOT or /var/lib/dockyard)")
    return p


def _add_commands(sub) -> None:
    load_commands()
    _image_parsers(sub, prefix=False)
    img = sub.add_parser("image", help="manage images")
    img_sub = img.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    _image_parsers(img_sub, prefix=True)
    cc.add_image_parsers(img_sub)

    _container_parsers(sub, prefix=False)
    cc.add_container_parsers(sub)
    cont = sub.add_parser("container", help="manage containers")
    cont_sub = cont.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    _container_parsers(cont_sub, prefix=True)
    cc.add_container_parsers(cont_sub)

    vol = sub.add_parser("volume", help="manage named volumes")
    vs = vol.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    v = vs.add_parser("create")
    v.add_argument("name", nargs="?")
    v.set_defaults(func=ct.volume_create)
    v = vs.add_parser("ls", aliases=["list"])
    v.add_argument("-q", "--quiet", action="store_true")
    v.set_defaults(func=ct.volume_ls)
    v = vs.add_parser("rm", aliases=["remove"])
    v.add_argument("names", nargs="+")
    v.add_argument("-f", "--force", action="store_true")
    v.set_defaults(func=ct.volume_rm)

    system = sub.add_parser("system", help="manage dockyard")
    ss = system.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    df = ss.add_parser("df", help="show disk usage")
    df.add_argument("-v", "--verbose", action="store_true")
    df.set_defaults(func=im.system_df)

    from . import cli_build, cli_events
    cli_build.add_parsers(sub)
    cli_events.add_parsers(sub)

    for s, name in ((sub, "info"), (ss, "info")):
        i = s.add_parser(name, help="show the engine's and the host's set-up")
        i.add_argument("-f", "--format", help="json, or a Go template: '{{.ServerVersion}}'")
        i.set_defaults(func=im.info)
    v = sub.add_parser("version", help="show dockyard's version")
    v.set_defaults(func=im.version)

    c = sub.add_parser("check", help="verify the whole store")
    c.add_argument("--repair", action="store_true", help="remove what cannot be trusted")
    c.set_defaults(func=im.check)

    t = sub.add_parser("tui", help="open the TUI (the default)")
    t.set_defaults(func=None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    code = _remote(argv)
    if code is not None:
        return code
    return main_local(argv)


def _remote(argv: list[str]) -> int | None:
    """Runs the command in a worker forked by the store's zygote (tui/
    cli_worker.py), which has everything loaded, with our stdio, working
    directory, environment and umask; forwards our signals to it; returns its
    exit code. None when there is no command (the TUI, --help) or no zygote
    can serve: then the command runs here."""
    word = _command_word(argv)
    if word is None or word == "tui":
        return None
    from engine.runtime import zygote
    if not zygote.enabled():
        return None
    root = _root_arg(argv) or os.environ.get("DOCKYARD_ROOT") or "/var/lib/dockyard"
    try:
        cwd = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None
    umask = os.umask(0)
    os.umask(umask)
    from .cli_worker_proto import encode_request
    try:
        got = zygote.call(os.path.abspath(root), "tui.cli_worker", encode_request(argv, dict(os.environ), umask),
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
    from .app import run_app
    return run_app(root)


if __name__ == "__main__":
    sys.exit(main())
