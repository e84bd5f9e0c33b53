"""BuildKit's own test data, run against our parser and word expansion.

The files under tests/unit/data/buildkit/ are copied unchanged from
github.com/moby/buildkit (Apache-2.0) at commit 73ed6825c4b7569379ef89df0aedcdbe64473d31:
- shell/envVarTest, shell/wordsTest: frontend/dockerfile/shell/, read as
  lex_test.go's TestShellParser4EnvVars and TestShellParser4Words do;
- parser/testfiles*/: frontend/dockerfile/parser/, read as parser_test.go's
  TestParseCases (each `result` is Node.Dump() of the parsed Dockerfile) and
  TestParseErrorCases.
The in-line tables below are ported from lex_test.go (TestProcessWithMatches,
TestShellParserMandatoryEnvVars, TestConvertShellPatternToRegex, TestReversePattern).

Deliberate differences, none of which a case here depends on:
- `${NAME` at the end reports "missing '}'" where BuildKit reports
  "unsupported modifier (\\ufffd)";
- ProcessWords in BuildKit shares one word buffer with nested `${v:-…}`
  expansions (a prefix before them is lost); ours keeps each word."""
import os

import pytest

from engine.build import expand
from engine.build.expand import Lexer
from engine.build.parser import DockerfileError, check, parse, split_command
from engine.errors import InvalidArgument

DATA = os.path.join(os.path.dirname(__file__), "data", "buildkit")


def _lines(path):
    with open(os.path.join(DATA, path), encoding="utf-8") as f:
        return f.read().split("\n")


# -- shell/envVarTest: "platform | source | expected" (U: unix, W: windows, A: all)

def _env_var_cases():
    out = []
    for n, line in enumerate(_lines("shell/envVarTest"), 1):
        if line.startswith("#") or not line.strip():
            continue
        platform, source, expected = (w.strip() for w in line.strip().split("|"))
        if platform in ("A", "U"):
            out.append(pytest.param(source, expected, id=f"envVarTest:{n}"))
    return out


ENV_VAR_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


@pytest.mark.parametrize("source,expected", _env_var_cases())
def test_env_var_test(source, expected):
    lex = Lexer("\\")
    if expected == "error":
        with pytest.raises(InvalidArgument):
            lex.process_word(source, ENV_VAR_ENV)
    else:
        assert lex.process_word(source, ENV_VAR_ENV) == expected


# -- shell/wordsTest: "ENV k=v" lines add to the env; "input | word,word"

def _words_cases():
    out, env = [], {}
    for n, line in enumerate(_lines("shell/wordsTest"), 1):
        if line.startswith("#") or not line:
            continue
        if line.startswith("ENV "):
            k, _, v = line[3:].lstrip(" ").partition("=")
            env[k] = v
            continue
        test, expected = line.split("|")
        out.append(pytest.param(test.strip(), expected.lstrip(" ").split(","), dict(env), id=f"wordsTest:{n}"))
    return out


@pytest.mark.parametrize("text,expected,env", _words_cases())
def test_words_test(text, expected, env):
    try:
        got = Lexer("\\").process_words(text, env)
    except InvalidArgument:
        got = ["error"]
    assert got == expected


# -- lex_test.go TestProcessWithMatches: (input, env, expected or ERROR, names looked up)

ERROR = object()
MATCHES = [
    ("x", {"DUMMY": "dummy"}, "x", set()),
    ("x ${UNUSED}", {"DUMMY": "dummy"}, "x ", {"UNUSED"}),
    ("x ${FOO}", {"FOO": "y"}, "x y", {"FOO"}),
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc", {"FOO", "BAR", "BAZ"}),
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx bbb ccc", {"FOO", "BAR", "BAZ"}),
    ("${FOO:-}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}),
    ("${FOO:-}", {}, "", {"FOO"}),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb ", {"FOO", "BAR", "BAZ"}),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  ", {"FOO", "BAR", "BAZ"}),
    ("${FOO?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}),
    ("${BAR?bbb}", {"FOO": "xxx", "BAR": ""}, "", {"BAR"}),
    ("${BAZ?ccc}", {"FOO": "xxx", "BAR": ""}, ERROR, None),
    ("${FOO:?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}),
    ("${BAR:?bbb}", {"FOO": "xxx", "BAR": ""}, ERROR, None),
    ("${BAZ:?ccc}", {"FOO": "xxx", "BAR": ""}, ERROR, None),
    ("${BAZ:?}", {"FOO": "xxx", "BAR": ""}, ERROR, None),
    ("${FOO=aaa}", {"FOO": "xxx", "BAR": ""}, ERROR, None),
    ("${FOO=:aaa}", {"FOO": "xxx", "BAR": ""}, ERROR, None),
    ("${FOO=}", {}, ERROR, None),
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x", {"FOO"}),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx", {"FOO"}),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y", {"FOO"}),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy", {"FOO", "BAR"}),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy", {"FOO"}),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y", {"FOO"}),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy.", {"FOO", "ABC"}),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a", {"FOO"}),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}),
    ("${FOO:#}", {}, ERROR, None),
    ("${FOO:##}", {}, ERROR, None),
    ("${FOO:%}", {}, ERROR, None),
    ("${FOO:%%}", {}, ERROR, None),
    ("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
     "/foo.*/*.txt - /foo..*.txt", {"FOO", "NEEDLE"}),
    ("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
     "/tmp/bar.txt - /bar.txt", {"FOO", "NEEDLE"}),
    ("${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
     {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"}, "/foo/b/c.txt - /foo/c.txt",
     {"FOO", "NEEDLE", "REPLACEMENT"}),
    ("${FOO/$NEEDLE/$REPLACEMENT}", {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
     "https://google.de", {"FOO", "NEEDLE", "REPLACEMENT"}),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt", {"FOO"}),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy", {"FOO", "BAR"}),
    ("${FOO//ww}", {"FOO": "xxyy"}, ERROR, None),
    ("${FOO//}", {"FOO": "xxyy"}, ERROR, None),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO///}", {}, "", {"FOO"}),
    # TestProcessWithMatchesPlatform
    ("something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
     {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm", "TARGETVARIANT": "v7"},
     "something-v1.2.3.linux-arm-v7.tar.gz", None),
    ("something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
     {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm64", "TARGETVARIANT": ""},
     "something-v1.2.3.linux-arm64.tar.gz", None),
    ("something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz",
     {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm64"},
     "something-v1.2.3.linux-arm64.tar.gz", None),
]


@pytest.mark.parametrize("word,env,expected,names", MATCHES, ids=[f"{m[0]}|{sorted(m[1])}" for m in MATCHES])
def test_process_with_matches(word, env, expected, names):
    used = set()
    if expected is ERROR:
        with pytest.raises(InvalidArgument):
            Lexer().process_word(word, env, used)
        return
    assert Lexer().process_word(word, env, used) == expected
    if names is not None:
        assert used == names  # BuildKit's matches and unmatched, together


@pytest.mark.parametrize("env,expected", [
    ({"VAR": "plain", "ARG": "x"}, ("plain", "plain")),
    ({"VAR": "", "ARG": "x"}, ("message herex", "")),
    ({"ARG": "x"}, ("message herex", "message herex")),
])
def test_mandatory_env_vars(env, expected):
    # TestShellParserMandatoryEnvVars: ${VAR:?…} refuses empty and unset, ${VAR?…} unset only
    for word, want in zip(("${VAR:?message here$ARG}", "${VAR?message here$ARG}"), expected):
        if want.startswith("message"):
            with pytest.raises(InvalidArgument, match=want):
                Lexer().process_word(word, env)
        else:
            assert Lexer().process_word(word, env) == want


def test_shell_pattern_to_regex():
    cases = {"*": "^.*", "?": "^.", "\\*": "^\\*",
             "(()[]{\\}^$.\\*\\?|\\\\": "^\\(\\(\\)\\[\\]\\{\\}\\^\\$\\.\\*\\?\\|\\\\"}
    for pattern, want in cases.items():
        assert expand._pattern_re(pattern, True, True).pattern == want
    for bad in ("\\", "\\x", "\\\\\\"):
        with pytest.raises(expand._Error):
            expand._pattern_re(bad, True, True)


def test_reverse_pattern():
    cases = {"a\\*c": "c\\*a", "\\\\\\ab": "b\\a\\\\", "ab\\": "\\ba", "👽\\🚀🖖": "🖖\\🚀👽", "\\\\b": "b\\\\"}
    for pattern, want in cases.items():
        assert expand._reverse_pattern(pattern) == want


# -- parser/testfiles: Node.Dump() of each parsed Dockerfile

def _go_quote(s: str) -> str:
    """Go's strconv.Quote."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
             '"': '\\"', "\\": "\\\\"}
    out = []
    for c in s:
        if c in named:
            out.append(named[c])
        elif c.isprintable():
            out.append(c)
        elif ord(c) < 0x80:
            out.append(f"\\x{ord(c):02x}")
        else:
            out.append(f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


def _dump_node(word: str, flags: list, args: list) -> str:
    s = word.lower()
    if flags:
        s += " [" + " ".join(_go_quote(f) for f in flags) + "]"
    return s + "".join(" " + _go_quote(a) for a in args)


def _dump(inst, escape) -> str:
    word = inst.original.split(None, 1)[0]
    if inst.instruction == "onbuild" and inst.args:
        sub_word, sub_flags, _ = split_command(inst.arguments, escape)
        return _dump_node(word, inst.flags, []) + " (" + _dump_node(sub_word, sub_flags, inst.args[1:]) + ")"
    return _dump_node(word, inst.flags, inst.args)


def _testfiles(kind):
    base = os.path.join(DATA, "parser", kind)
    return sorted(os.listdir(base))


@pytest.mark.parametrize("name", _testfiles("testfiles"))
def test_parse_cases(name):
    base = os.path.join(DATA, "parser", "testfiles", name)
    with open(os.path.join(base, "Dockerfile"), "rb") as f:
        df = parse(f.read(), validate=False)
    with open(os.path.join(base, "result"), encoding="utf-8") as f:
        want = f.read()
    assert "".join(f"({_dump(i, df.escape)})\n" for i in df.instructions) == want


@pytest.mark.parametrize("name", _testfiles("testfiles-negative"))
def test_parse_error_cases(name):
    with open(os.path.join(DATA, "parser", "testfiles-negative", name, "Dockerfile"), "rb") as f:
        text = f.read()
    with pytest.raises(DockerfileError):
        check(parse(text, validate=False))
