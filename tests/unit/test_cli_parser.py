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


def test_help_still_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        build_parser(["--help"]).parse_args(["--help"])
    out = capsys.readouterr().out
    for cmd in ("images", "run", "ps", "commit", "build", "volume", "system"):
        assert f"    {cmd}" in out


def _dockyard(tmp_path, *argv):
    """The real command line, in the dockyard process (no store: usage errors
    come before it is opened)."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT
    env = dict(os.environ, DOCKYARD_ROOT=str(tmp_path / "no-store"), DOCKYARD_ZYGOTE="0", PYTHONPATH=ROOT)
    p = subprocess.run([sys.executable, "-m", "tui.cli", *argv], capture_output=True, text=True, env=env, cwd=ROOT,
                       check=False)
    return p.returncode, p.stdout, p.stderr


RUN_USAGE = "Usage:  dockyard run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'dockyard run --help' for more information\n"


def _case(argv, code, *lines):
    return pytest.param(argv, code, "".join(lines), id=" ".join(argv))


# What docker's CLI (cobra and pflag: cli/cobra.go FlagErrorFunc, cli/required.go,
# cmd/docker/docker.go) prints and exits with, docker's name replaced by ours.
USAGE_ERRORS = [
    # flags: pflag's message, the command's usage line, 125
    _case(["run", "--nosuchflag", "busybox"], 125, "unknown flag: --nosuchflag\n\n", RUN_USAGE),
    _case(["run", "--nosuchflag=1", "busybox"], 125, "unknown flag: --nosuchflag\n\n", RUN_USAGE),
    _case(["run", "-z", "busybox"], 125, "unknown shorthand flag: 'z' in -z\n\n", RUN_USAGE),
    _case(["run", "-itz", "busybox"], 125, "unknown shorthand flag: 'z' in -itz\n\n", RUN_USAGE),
    _case(["run", "--name"], 125, "flag needs an argument: --name\n\n", RUN_USAGE),
    _case(["run", "-e"], 125, "flag needs an argument: 'e' in -e\n\n", RUN_USAGE),
    _case(["run", "--cpus", "x", "busybox"], 125,
          'invalid argument "x" for "--cpus" flag: strconv.ParseFloat: parsing "x": invalid syntax\n\n', RUN_USAGE),
    _case(["run", "--rm=maybe", "busybox"], 125,
          'invalid argument "maybe" for "--rm" flag: strconv.ParseBool: parsing "maybe": invalid syntax\n\n',
          RUN_USAGE),
    _case(["stop", "-t", "soon", "c"], 125,
          'invalid argument "soon" for "-t, --time" flag: strconv.ParseInt: parsing "soon": invalid syntax\n\n',
          "Usage:  dockyard stop [OPTIONS] CONTAINER [CONTAINER...]\n\n",
          "Run 'dockyard stop --help' for more information\n"),
    _case(["container", "ls", "--bogus"], 125,
          "unknown flag: --bogus\n\n",
          "Usage:  dockyard container ls [OPTIONS]\n\n",
          "Run 'dockyard container ls --help' for more information\n"),
    _case(["--bogus", "ps"], 125,
          "unknown flag: --bogus\n\n",
          "Usage:  dockyard [OPTIONS] COMMAND [ARG...]\n\n",
          "Run 'dockyard --help' for more information\n"),
    _case(["--root"], 125,
          "flag needs an argument: --root\n\n",
          "Usage:  dockyard [OPTIONS] COMMAND [ARG...]\n\n",
          "Run 'dockyard --help' for more information\n"),
    # arguments: cli/required.go's messages, exit 1 (a plain error in docker)
    _case(["run"], 1,
          "dockyard: 'dockyard run' requires at least 1 argument\n\n",
          "Usage:  dockyard run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\n",
          "See 'dockyard run --help' for more information\n"),
    _case(["exec", "c"], 1,
          "dockyard: 'dockyard exec' requires at least 2 arguments\n\n",
          "Usage:  dockyard exec [OPTIONS] CONTAINER COMMAND [ARG...]\n\n",
          "See 'dockyard exec --help' for more information\n"),
    _case(["rename", "a"], 1,
          "dockyard: 'dockyard rename' requires 2 arguments\n\n",
          "Usage:  dockyard rename CONTAINER NEW_NAME\n\n",
          "Run 'dockyard rename --help' for more information\n"),
    _case(["rename", "a", "b", "c"], 1,
          "dockyard: 'dockyard rename' requires 2 arguments\n\n",
          "Usage:  dockyard rename CONTAINER NEW_NAME\n\n",
          "Run 'dockyard rename --help' for more information\n"),
    _case(["ps", "x"], 1,
          "dockyard: 'dockyard ps' accepts no arguments\n\n",
          "Usage:  dockyard ps [OPTIONS]\n\n",
          "Run 'dockyard ps --help' for more information\n"),
    _case(["ps", "--", "-x"], 1,
          "dockyard: 'dockyard ps' accepts no arguments\n\n",
          "Usage:  dockyard ps [OPTIONS]\n\n",
          "Run 'dockyard ps --help' for more information\n"),
    _case(["commit", "a", "b", "c"], 1,
          "dockyard: 'dockyard commit' requires at least 1 and at most 2 arguments\n\n",
          "Usage:  dockyard commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]\n\n",
          "Run 'dockyard commit --help' for more information\n"),
    _case(["images", "a", "b"], 1,
          "dockyard: 'dockyard images' requires at most 1 argument\n\n",
          "Usage:  dockyard images [OPTIONS] [REPOSITORY[:TAG]]\n\n",
          "Run 'dockyard images --help' for more information\n"),
    # commands
    _case(["nosuch"], 1,
          "dockyard: unknown command: dockyard nosuch\n\n",
          "Run 'dockyard --help' for more information\n"),
    _case(["image", "nosuch"], 1,
          "dockyard: unknown command: dockyard image nosuch\n\n",
          "Usage:  dockyard image COMMAND\n\n",
          "Run 'dockyard image --help' for more information\n"),
]


@pytest.mark.parametrize("argv,code,err", USAGE_ERRORS)
def test_usage_errors_are_docker_s(tmp_path, argv, code, err):
    got, out, stderr = _dockyard(tmp_path, *argv)
    assert (got, out, stderr) == (code, "", err)


def test_a_flag_after_the_image_is_the_command_s():
    args = build_parser(["run", "busybox", "--name"]).parse_args(["run", "busybox", "--name"])
    assert (args.image, args.command, args.name) == ("busybox", ["--name"], None)


def test_a_switch_takes_a_go_bool_as_pflag_does():
    argv = ["run", "--rm=false", "-d=true", "-i=0", "--read-only=True", "busybox"]
    args = build_parser(argv).parse_args(argv)
    assert (args.rm, args.detach, args.interactive, args.read_only) == (False, True, False, True)


def test_a_management_command_alone_shows_its_help(tmp_path):
    # docker image: the help, on stderr, exit 0 (command.ShowHelp)
    code, out, err = _dockyard(tmp_path, "image")
    assert code == 0 and out == ""
    assert err.startswith("usage: dockyard image") and "    ls" in err and "    history" in err


def test_flags_are_not_abbreviated(tmp_path):
    # pflag takes no prefixes: --na is not --name
    code, _, err = _dockyard(tmp_path, "run", "--na", "x", "busybox")
    assert code == 125 and err.startswith("unknown flag: --na\n")
