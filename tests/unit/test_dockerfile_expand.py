"""BuildKit's word processing (shell/lex), table-driven."""
import re

import pytest

from engine.build.expand import Lexer
from engine.errors import InvalidArgument

ENV = {"PWD": "/home", "SHELL": "bash", "EMPTY": "", "FILE": "archive.tar.gz", "PATH": "/usr/bin:/bin",
       "ONE": "1", "SPACED": "a b", "STARS": "xx**"}

WORDS = [
    ("hello", "hello"),
    ("$PWD", "/home"),
    ("${PWD}", "/home"),
    ("he$PWD", "he/home"),
    ("$PWD/x", "/home/x"),
    ("${PWD}x", "/homex"),
    ("$UNSET", ""),
    ("${UNSET}", ""),
    ("$", "$"),
    ("a$", "a$"),
    ("$1x", "x"),
    ("\\$PWD", "$PWD"),
    ("'$PWD'", "$PWD"),
    ("\"$PWD\"", "/home"),
    ("\"\\$PWD\"", "$PWD"),
    ("\"a\\b\"", "a\\b"),
    ("\"a\\\"b\"", "a\"b"),
    ("'a\\b'", "a\\b"),
    ("a\\ b", "a b"),
    ("${UNSET:-def}", "def"),
    ("${EMPTY:-def}", "def"),
    ("${EMPTY-def}", ""),
    ("${UNSET-def}", "def"),
    ("${PWD:-def}", "/home"),
    ("${PWD:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${UNSET:-$PWD}", "/home"),
    ("${UNSET:-${SHELL}x}", "bashx"),
    ("${UNSET:-'a b'}", "a b"),
    ("${FILE#*.}", "tar.gz"),
    ("${FILE##*.}", "gz"),
    ("${FILE%.*}", "archive.tar"),
    ("${FILE%%.*}", "archive"),
    ("${FILE#nomatch}", "archive.tar.gz"),
    ("${PATH/bin/sbin}", "/usr/sbin:/bin"),
    ("${PATH//bin/sbin}", "/usr/sbin:/sbin"),
    ("${PATH//:/ }", "/usr/bin /bin"),
    ("${PWD:?must be set}", "/home"),
    ("\"${SPACED}\"", "a b"),
    ("$ONE$ONE", "11"),
    # issue 11, defect 5: as BuildKit's shell lexer
    ("hello\\", "hello"),                  # a trailing escape is dropped
    ("\"a\\\"", None),                    # … but not inside an open quote: error
    ("$999", ""), ("$999x", "x"), ("${999}", ""), ("${999:-x}", "x"), ("${10:+y}", ""),
    ("$@$*$#$?$-$$$!$0", ""), ("${@}${*}${#}${?}${-}${$}${!}${0}", ""),
    ("${@:-a}${#:-b}${$:-c}${!:+d}", "abc"), ("$@@", "@"),
    ("${STARS%%\\**}", "xx"), ("${STARS#xx\\*}", "*"),
    ("${PATH//\\//|}", "|usr|bin:|bin"),    # \/ is a slash of the pattern
    ("${PATH/\\/usr/~}", "~/bin:/bin"),
    ("${PATH//:/\\:}", "/usr/bin\\:/bin"),  # the replacement keeps its escapes
    ("${PWD/#/x}", "/home"), ("${PWD//}", None),
    ("${FILE/$EMPTY/x}", "xarchive.tar.gz"),  # an empty pattern matches at the start
    ("${FILE//$EMPTY/-}", "-a-r-c-h-i-v-e-.-t-a-r-.-g-z-"),
    ("${FILE//*/x}", "x"),                   # no second, empty match at the end
    ("${FILE#}", "archive.tar.gz"), ("${FILE%}", "archive.tar.gz"),
]


@pytest.mark.parametrize("word,expected", WORDS)
def test_process_word(word, expected):
    if expected is None:
        with pytest.raises(InvalidArgument):
            Lexer().process_word(word, ENV)
    else:
        assert Lexer().process_word(word, ENV) == expected


SPLIT = [
    ("a b  c", ["a", "b", "c"]),
    ("'a b' c", ["a b", "c"]),
    ("\"a $PWD\" c", ["a /home", "c"]),
    ("$SPACED c", ["a", "b", "c"]),
    ("\"$SPACED\" c", ["a b", "c"]),
    ("x$EMPTY y", ["x", "y"]),
    ("", []),
    ("a\\ b c", ["a b", "c"]),
]


@pytest.mark.parametrize("text,expected", SPLIT)
def test_process_words(text, expected):
    assert Lexer().process_words(text, ENV) == expected


def test_backtick_escape():
    lex = Lexer("`")
    assert lex.process_word("c:\\dir`$PWD", ENV) == "c:\\dir$PWD"
    assert lex.process_word("\"a`\"b\"", ENV) == "a\"b"


ERRORS = [
    ("${UNSET:?is required}", "UNSET: is required"),
    ("${UNSET?}", "UNSET"),
    ("'open", "single-quote"),
    ("\"open", "double-quote"),
    ("${PWD", "missing '}'"),
    ("${}", "bad substitution"),
    ("${PWD:x}", "unsupported modifier"),
    ("${FOO//}", "missing '/' in ${}"),
    ("${FOO/x}", "missing '/' in ${}"),
    ("${FILE%%\\.*}", "invalid escape"),
    ("${FILE:#x}", "unsupported modifier (:#)"),
]


@pytest.mark.parametrize("word,msg", ERRORS)
def test_errors(word, msg):
    with pytest.raises(InvalidArgument, match=re.escape(msg)):
        Lexer().process_word(word, ENV)


def test_used_names_are_recorded():
    used = set()
    Lexer().process_word("$A ${B:-x} '$C'", {}, used)
    assert used == {"A", "B"}
