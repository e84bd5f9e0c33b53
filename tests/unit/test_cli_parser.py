"""The command line builds only the parser of the command it was given: the
result must be what the whole parser gives."""
import pytest

from tui.cli import _command_word
from tui.cli.parser import build_parser

ARGVS = [
    ["run", "--rm", "-it", "-e", "A=1", "--name", "x", "busybox", "sh", "-c", "echo hi"],
    ["--root", "/tmp/r", "ps", "-a", "--format", "json"],
    ["--root=/tmp/r", "images", "-q"],
    ["image", "ls", "-a"],
    ["image", "tree", "busybox", "--layer", "-1"],
    ["container", "rm", "-f", "a", "b"],
    ["volume", "create", "data"],
    ["system", "df", "-v"],
    ["build", "-t", "x:1", "--build-arg", "A=B", "."],
    ["exec", "-it", "-u", "0", "c", "sh"],
    ["commit", "-m", "msg", "c", "img:tag"],
    ["logs", "-f", "--tail", "5", "c"],
]


@pytest.mark.parametrize("argv", ARGVS, ids=lambda a: " ".join(a)[:40])
def test_only_the_commands_parser_parses_as_the_whole_one(argv):
    lazy = vars(build_parser(argv).parse_args(argv))
    full = vars(build_parser().parse_args(argv))
    assert lazy == full


def test_the_command_word():
    assert _command_word(["--root", "/x", "run", "busybox"]) == "run"
    assert _command_word(["--root=/x", "ps"]) == "ps"
    assert _command_word(["--help"]) is None
    assert _command_word([]) is None


def test_unknown_command_and_help_still_list_every_command(capsys):
    with pytest.raises(SystemExit):
        build_parser(["nosuch"]).parse_args(["nosuch"])
    err = capsys.readouterr().err
    assert "invalid choice: 'nosuch'" in err and "'build'" in err and "'volume'" in err
    with pytest.raises(SystemExit):
        build_parser(["--help"]).parse_args(["--help"])
    out = capsys.readouterr().out
    for cmd in ("images", "run", "ps", "commit", "build", "volume", "system"):
        assert f"    {cmd}" in out
