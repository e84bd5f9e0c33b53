"""The Dockerfile grammar, table-driven (cases written from BuildKit's parser
reference and tests: directives, continuations, comments, exec/shell form,
heredocs, flags, errors with their line numbers)."""
import json

import pytest

from engine.build.builder import check_text
from engine.build.parser import DockerfileError, check, name_values, parse, split_words

# (Dockerfile, [(instruction, flags, arguments, form, start, end)])
CASES = [
    ("FROM busybox\n", [("from", [], "busybox", "shell", 1, 1)]),
    ("from busybox\nrun echo hi\n", [("from", [], "busybox", "shell", 1, 1), ("run", [], "echo hi", "shell", 2, 2)]),
    ("FROM a\nRuN   echo   hi  \n", [("from", [], "a", "shell", 1, 1), ("run", [], "echo   hi", "shell", 2, 2)]),
    ("FROM a\nRUN echo a \\\n  b\n", [("from", [], "a", "shell", 1, 1), ("run", [], "echo a   b", "shell", 2, 3)]),
    ("FROM a\nRUN echo a \\\n# comment\n\n  b\n", [("from", [], "a", "shell", 1, 1),
                                                  ("run", [], "echo a   b", "shell", 2, 5)]),
    ("# escape=`\nFROM a\nRUN echo a `\n  b\n", [("from", [], "a", "shell", 2, 2),
                                                ("run", [], "echo a   b", "shell", 3, 4)]),
    ("# escape=`\nFROM a\nRUN dir c:\\\n", [("from", [], "a", "shell", 2, 2), ("run", [], "dir c:\\", "shell", 3, 3)]),
    ("FROM a\nCMD [\"a\", \"b c\"]\n", [("from", [], "a", "shell", 1, 1), ("cmd", [], ["a", "b c"], "exec", 2, 2)]),
    ("FROM a\nCMD [\"a\", 'b']\n", [("from", [], "a", "shell", 1, 1), ("cmd", [], "[\"a\", 'b']", "shell", 2, 2)]),
    ("FROM a\nENTRYPOINT []\n", [("from", [], "a", "shell", 1, 1), ("entrypoint", [], [], "exec", 2, 2)]),
    ("FROM --platform=linux/amd64 a AS b\n", [("from", ["--platform=linux/amd64"], "a AS b", "shell", 1, 1)]),
    ("FROM a\nCOPY --from=b --chown=1:2 x y\n", [("from", [], "a", "shell", 1, 1),
                                                ("copy", ["--from=b", "--chown=1:2"], "x y", "shell", 2, 2)]),
    ("FROM a\nCOPY [\"x y\", \"/z/\"]\n", [("from", [], "a", "shell", 1, 1), ("copy", [], ["x y", "/z/"], "exec", 2, 2)]),
    ("\n\n# c\nFROM a\n\n\nUSER x\n", [("from", [], "a", "shell", 4, 4), ("user", [], "x", "shell", 7, 7)]),
    ("FROM a\r\nRUN x\r\n", [("from", [], "a", "shell", 1, 1), ("run", [], "x", "shell", 2, 2)]),
    ("\ufeffFROM a\n", [("from", [], "a", "shell", 1, 1)]),
    ("FROM a\nHEALTHCHECK --interval=5s CMD true\n", [("from", [], "a", "shell", 1, 1),
                                                     ("healthcheck", ["--interval=5s"], "CMD true", "shell", 2, 2)]),
    ("FROM a\nONBUILD RUN --mount=x echo\n", [("from", [], "a", "shell", 1, 1),
                                            ("onbuild", [], "RUN --mount=x echo", "shell", 2, 2)]),
    ("FROM a\n    RUN x\n", [("from", [], "a", "shell", 1, 1), ("run", [], "x", "shell", 2, 2)]),
    ("FROM a\nRUN a \\\n", [("from", [], "a", "shell", 1, 1), ("run", [], "a", "shell", 2, 2)]),
    ("FROM a\nRUN echo '#not a comment'\n", [("from", [], "a", "shell", 1, 1),
                                           ("run", [], "echo '#not a comment'", "shell", 2, 2)]),
    ("FROM a\nENV A=1 \\\n    B=2\n", [("from", [], "a", "shell", 1, 1), ("env", [], "A=1     B=2", "shell", 2, 3)]),
]


@pytest.mark.parametrize("text,expected", CASES)
def test_parse(text, expected):
    df = parse(text)
    got = [(i.instruction, i.flags, i.exec_form if i.exec_form is not None else i.arguments, i.form,
            i.start_line, i.end_line) for i in df.instructions]
    assert got == expected


DIRECTIVES = [
    ("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n", {"syntax": "docker/dockerfile:1", "escape": "`"}),
    ("#escape = `\nFROM a\n", {"escape": "`"}),
    ("# ESCAPE=`\nFROM a\n", {"escape": "`"}),
    ("# comment\n# escape=`\nFROM a\n", {}),          # not at the top
    ("\n# escape=`\nFROM a\n", {}),                    # a blank line ends the block
    ("FROM a\n# escape=`\n", {}),                      # after an instruction: a comment
    ("# unknown=x\n# escape=`\nFROM a\n", {}),         # an unknown directive ends the block
]


@pytest.mark.parametrize("text,expected", DIRECTIVES)
def test_directives(text, expected):
    df = parse(text)
    assert df.directives == expected
    assert df.escape == expected.get("escape", "\\")


HEREDOCS = [
    ("FROM a\nRUN <<EOF\necho hi\nEOF\n", [("EOF", "echo hi\n", True, False)], (2, 4)),
    ("FROM a\nRUN <<-EOF\n\techo hi\n\tEOF\n", [("EOF", "echo hi\n", True, True)], (2, 4)),
    ("FROM a\nRUN <<'EOF'\necho $x\nEOF\n", [("EOF", "echo $x\n", False, False)], (2, 4)),
    ("FROM a\nRUN <<\"EOF\"\necho $x\nEOF\n", [("EOF", "echo $x\n", False, False)], (2, 4)),
    ("FROM a\nRUN cat <<A - <<B\n1\nA\n2\nB\n", [("A", "1\n", True, False), ("B", "2\n", True, False)], (2, 6)),
    ("FROM a\nCOPY <<EOF /x\nhello\n\nworld\nEOF\n", [("EOF", "hello\n\nworld\n", True, False)], (2, 6)),
    ("FROM a\nADD <<one <<two /dest/\n1\none\n2\ntwo\n", [("one", "1\n", True, False), ("two", "2\n", True, False)],
     (2, 6)),
    ("FROM a\nRUN <<EOF\nEOF\n", [("EOF", "", True, False)], (2, 3)),
    ("FROM a\nRUN cat << EOF\nx\nEOF\n", [("EOF", "x\n", True, False)], (2, 4)),
    ("FROM a\nRUN cat <<E\"O\"F\n$x\nEOF\n", [("EOF", "$x\n", False, False)], (2, 4)),
    ("FROM a\nRUN 3<<EOF cat <&3\nx\nEOF\n", [("EOF", "x\n", True, False)], (2, 4)),
]


def test_quoted_heredoc_marker_is_no_heredoc():
    # as BuildKit: `<<` inside quotes opens nothing (it used to swallow the next lines)
    df = parse("FROM a\nRUN echo \"<<EOF\" '<<X'\nRUN true\n")
    assert [(i.instruction, i.heredocs) for i in df.instructions] == [("from", []), ("run", []), ("run", [])]


@pytest.mark.parametrize("text,docs,lines", HEREDOCS)
def test_heredocs(text, docs, lines):
    inst = parse(text).instructions[1]
    assert [(h.name, h.content, h.expand, h.chomp) for h in inst.heredocs] == docs
    assert (inst.start_line, inst.end_line) == lines


def test_heredoc_not_in_other_instructions_or_exec_form():
    df = parse("FROM a\nCMD <<EOF\nENV x=1\n")
    assert [i.instruction for i in df.instructions] == ["from", "cmd", "env"]
    df = parse('FROM a\nRUN ["cat", "<<EOF"]\nENV x=1\n')
    assert df.instructions[1].heredocs == [] and len(df.instructions) == 3


ERRORS = [
    ("FROM a\nRUNN x\n", 2, "unknown instruction: RUNN"),
    ("FROM a\n\n\n\n\n\nfoo bar\n", 7, "unknown instruction: foo"),
    ("FROM a b\n", 1, "FROM requires either one or three arguments"),
    ("FROM a FOR b\n", 1, "FROM requires either one or three arguments"),
    ("FROM a AS 1b\n", 1, "invalid name for build stage"),
    ("FROM a\nCOPY x\n", 2, "COPY requires at least two arguments"),
    ("FROM a\nSHELL /bin/bash -c\n", 2, "SHELL requires the arguments to be in JSON form"),
    ("FROM a\nONBUILD FROM b\n", 2, "FROM isn't allowed as an ONBUILD trigger"),
    ("FROM a\nONBUILD ONBUILD RUN x\n", 2, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FROM a\nHEALTHCHECK FOO\n", 2, 'Unknown type "FOO" in HEALTHCHECK (try CMD)'),
    ("FROM a\nHEALTHCHECK NONE x\n", 2, "HEALTHCHECK NONE takes no arguments"),
    ("FROM a\nCOPY --bogus=1 a b\n", 2, "unknown flag: --bogus"),
    ("FROM a\nRUN <<EOF\necho\n", 2, "unterminated heredoc EOF"),
    ("# escape=x\nFROM a\n", 1, "invalid escape token"),
    ("# escape=`\n# escape=\\\nFROM a\n", 2, "only one escape parser directive"),
    ("RUN x\nFROM a\n", 1, "no build stage in current context"),
    ("ARG x\nENV y=1\nFROM a\n", 2, "no build stage in current context"),
    ("ARG x\n", 1, "dockerfile contains no stages to build"),
    ("FROM a AS b\nFROM c AS B\n", 2, "duplicate stage name"),
    ("FROM a\nENV x\n", 2, "ENV must have two arguments"),
    ("FROM a\nUSER\n", 2, "USER requires exactly one argument"),
]


@pytest.mark.parametrize("text,line,msg", ERRORS)
def test_errors(text, line, msg):
    with pytest.raises(DockerfileError) as ei:
        df = check_text(text, "Dockerfile")
        for i in df.instructions:
            if i.instruction in ("env", "label", "arg"):
                name_values(i, df.escape, df.filename)
    assert ei.value.line == line
    assert str(ei.value).startswith(f"Dockerfile:{line}: ")
    assert msg in str(ei.value)


def test_error_is_invalid_argument():
    from engine.errors import InvalidArgument
    with pytest.raises(InvalidArgument, match=r"^Dockerfile:2: unknown instruction: RUNN$"):
        parse("FROM a\nRUNN x\n")


NAME_VALUES = [
    ("ENV A=1", [("A", "1")]),
    ("ENV A=1 B=\"two words\"", [("A", "1"), ("B", "\"two words\"")]),
    ("ENV A two words", [("A", "two words")]),
    ("ENV A=a\\ b C=d", [("A", "a\\ b"), ("C", "d")]),
    ("LABEL \"com.x\"=\"y z\"", [("\"com.x\"", "\"y z\"")]),
    ("ARG A", [("A", None)]),
    ("ARG A=1 B", [("A", "1"), ("B", None)]),
]


@pytest.mark.parametrize("line,expected", NAME_VALUES)
def test_name_values(line, expected):
    inst = parse("FROM a\n" + line + "\n").instructions[1]
    assert name_values(inst, "\\", "Dockerfile") == expected


def test_split_words_keeps_quotes():
    assert split_words("a 'b c' \"d e\" f\\ g") == ["a", "'b c'", "\"d e\"", "f\\ g"]


def test_as_dict_is_json():
    df = parse("FROM a AS b\nRUN <<EOF\nx\nEOF\nCMD [\"y\"]\n")
    d = json.loads(json.dumps(df.as_dict()))
    assert [i["instruction"] for i in d["instructions"]] == ["FROM", "RUN", "CMD"]
    assert d["instructions"][1]["heredocs"][0]["name"] == "EOF"
    assert d["instructions"][2]["form"] == "exec" and d["instructions"][2]["arguments"] == ["y"]
    assert (d["instructions"][1]["start_line"], d["instructions"][1]["end_line"]) == (2, 4)


def test_check_passes_valid():
    check(parse("ARG V=1\nFROM a:${V}\nRUN x\n"))


# What `build --check` (check_text) refuses, as BuildKit does, with BuildKit's message.
CHECK_ERRORS = [
    ("FROM busybox\n\nENV PATH\n", 3, "ENV must have two arguments"),
    ("FROM a\nLABEL key\n", 2, "LABEL must have two arguments"),
    ("FROM a\nENV a=1 b\n", 2, "Syntax error - can't find = in \"b\". Must be of the form: name=value"),
    ("FROM a\nENV =1\n", 2, "ENV names can not be blank"),
    ("FROM a\nLABEL =1\n", 2, "LABEL names can not be blank"),
    ("FROM a\nENV\n", 2, "ENV requires at least one argument"),
    ("FROM a\nARG\n", 2, "ARG requires at least one argument"),
    ("FROM a\nARG =x\n", 2, "ARG names can not be blank"),
    ("FROM a\nONBUILD ENV x\n", 2, "ENV must have two arguments"),
    ("FROM a\nONBUILD\n", 2, "ONBUILD requires at least one argument"),
    ("FROM\n", 1, "FROM requires either one or three arguments"),
    ("FROM a AS 1b\n", 1, 'invalid name for build stage: "1b", name can\'t start with a number or contain symbols'),
    ("FROM a\nCMD [\"a\", 1]\n", 2, "when using JSON array syntax, arrays must be comprised of strings only"),
    ("FROM a\nCMD [ \"echo\", [ \"nested json\" ] ]\n", 2, "arrays must be comprised of strings only"),
    ("FROM a\nCOPY <<EOF\nx\nEOF\n", 2, "COPY requires at least two arguments"),
    ("FROM a\nCOPY x <<EOF\nx\nEOF\n", 2, "COPY cannot accept a heredoc as a destination"),
    ("FROM a\nVOLUME []\n", 2, "VOLUME requires at least one argument"),
    ("FROM a\nVOLUME [\" \"]\n", 2, "VOLUME specified can not be an empty string"),
    ("FROM a\nSHELL []\n", 2, "SHELL requires at least one argument"),
    ("FROM a\nEXPOSE\n", 2, "EXPOSE requires at least one argument"),
    ("FROM a\nWORKDIR\n", 2, "WORKDIR requires exactly one argument"),
    ("FROM a\nSTOPSIGNAL\n", 2, "STOPSIGNAL requires exactly one argument"),
    ("FROM a\nMAINTAINER\n", 2, "MAINTAINER requires exactly one argument"),
    ("FROM a\nHEALTHCHECK\n", 2, "HEALTHCHECK requires at least one argument"),
    ("FROM a\nHEALTHCHECK CMD []\n", 2, "Missing command after HEALTHCHECK CMD"),
    ("FROM a\nCOPY --link=maybe a b\n", 2, "expecting boolean value for flag --link, not: maybe"),
    ("FROM a\nCOPY --from a b\n", 2, "missing a value on flag: --from"),
    ("FROM a\nCOPY --from=x --from=y a b\n", 2, "duplicate flag specified: --from"),
    ("FROM a\nONBUILD --x RUN y\n", 2, "unknown flag: --x"),
    ("", 1, "file with no instructions"),
    ("# only\n# comments\n", 1, "file with no instructions"),
]


@pytest.mark.parametrize("text,line,msg", CHECK_ERRORS)
def test_check_text_refuses(text, line, msg):
    with pytest.raises(DockerfileError) as ei:
        check_text(text, "Dockerfile")
    assert str(ei.value) == f"Dockerfile:{line}: {msg}" or msg in str(ei.value)
    assert ei.value.line == line


CHECK_ACCEPTS = [
    "FROM a\nRUN\n",                      # BuildKit runs `sh -c ''`
    "FROM a\nCMD\nENTRYPOINT\n",
    "FROM a\nONBUILD FOO bar\n",          # triggers are checked where they run
    "FROM a\nUSER a b\n",                 # one argument: "a b"
    "FROM a\nARG --x y\nSTOPSIGNAL --x 9\n",  # BuildKit never reads their flags
    "FROM a\nCOPY --link --chown=\"a b\" x y\n",
    "FROM a\nHEALTHCHECK --bogus NONE\n",
    "FROM a\nLABEL \"a b\"=c\n",
]


@pytest.mark.parametrize("text", CHECK_ACCEPTS)
def test_check_text_accepts(text):
    check_text(text, "Dockerfile")


def test_flags_lose_their_quotes():
    inst = parse("FROM a\nCOPY --chown=\"a b\" --link -- --x y\n").instructions[1]
    assert inst.flags == ["--chown=a b", "--link"] and inst.arguments == "--x y"


# An escaped escape at the end of a line ends the line (BuildKit's lineContinuationRegex).
CONTINUATIONS = [
    ("FROM a\nENV C trailing\\\\backslash\\\\\nENV D next\n", [("env", "C trailing\\\\backslash\\\\"),
                                                             ("env", "D next")]),
    ("FROM a\nENV C a\\\\ \t\nENV D next\n", [("env", "C a\\\\"), ("env", "D next")]),
    ("FROM a\nENV C a \\\\\\\nENV D next\n", [("env", "C a \\\\\\"), ("env", "D next")]),  # as BuildKit
    ("FROM a\nENV E hello\\\n\\\nworld\n", [("env", "E helloworld")]),
    ("FROM a\nENV F hello\\\n \\\nworld\n", [("env", "F hello world")]),
    ("FROM a\nRUN a \\  \t\nb\n", [("run", "a b")]),
    ("# escape=`\nFROM a\nENV C a``\nENV D next\n", [("env", "C a``"), ("env", "D next")]),
    ("# escape=`\nFROM a\nENV C a\\\nENV D next\n", [("env", "C a\\"), ("env", "D next")]),
    ("# escape=`\nFROM a\nRUN a `\nb\n", [("run", "a b")]),
]


@pytest.mark.parametrize("text,expected", CONTINUATIONS)
def test_line_continuation(text, expected):
    df = parse(text)
    assert [(i.instruction, i.arguments) for i in df.instructions[1:]] == expected


def test_escaped_escape_value_keeps_one_backslash():
    from engine.build.expand import Lexer
    df = check_text("FROM a\nENV C trailing\\\\backslash\\\\\nENV D x\n")
    (k, v), = name_values(df.instructions[1], df.escape, df.filename)
    assert (k, Lexer(df.escape).process_word(v, {})) == ("C", "trailing\\backslash\\")
