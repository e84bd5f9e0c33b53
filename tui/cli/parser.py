"""The argparse parser of the command line, built for the one command asked
for (building all ~70 costs every start several milliseconds), with docker's
answers to usage errors (tui/cli/usage.py)."""
from __future__ import annotations

import os

from . import _command_word

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up cost)
if TYPE_CHECKING:
    import argparse

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



def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given argv, only the parser of its command
    (all of them when it has none, or one dockyard does not know)."""
    if _built is not None:
        return _built
    from .commands import add_commands
    _cache_gettext()
    wanted = _command_word(argv) if argv is not None else None
    p = _top_parser()
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    if wanted is not None:
        only = _OnlyCommand(sub, wanted)
        add_commands(only)
        if wanted in only.seen:
            return p
        p = _top_parser()
        sub = p.add_subparsers(dest="command", metavar="COMMAND")
    add_commands(sub)
    return p


def _parser_class():
    """argparse's parser with docker's answers to usage errors (usage.py),
    and a help formatter that gets the width from _help_width, so that building the parsers does not import shutil
    (for get_terminal_size), which loads bz2 and lzma: 3 ms of every command.
    The subparsers are of this class too (add_subparsers uses type(self)).
    Made on first use: `dockyard` itself, which hands the command to its
    worker (_remote), never loads argparse."""
    global _Parser
    if _Parser is None:
        import argparse

        from .usage import DockerUsage

        class Parser(DockerUsage, argparse.ArgumentParser):
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
