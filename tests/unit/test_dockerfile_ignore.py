""".dockerignore with moby's patternmatcher rules."""
import os

import pytest

from engine.build.ignore import Matcher, parse_patterns, read_patterns, walk

MATCH = [
    (["*.log"], "a.log", True),
    (["*.log"], "dir/a.log", False),
    (["**/*.log"], "dir/a.log", True),
    (["**/*.log"], "a.log", True),
    (["dir"], "dir/sub/file", True),
    (["dir/*"], "dir/file", True),
    (["dir/*"], "dir", False),
    (["a?c"], "abc", True),
    (["a?c"], "a/c", False),
    (["[a-c]x"], "bx", True),
    (["[!a-c]x"], "dx", True),
    (["[!a-c]x"], "ax", False),
    (["/abs"], "abs", True),
    (["./rel/"], "rel/f", True),
    (["a/**/b"], "a/b", True),
    (["a/**/b"], "a/x/y/b", True),
    (["a/**"], "a/x/y", True),
    (["*", "!keep"], "keep", False),
    (["*", "!keep"], "other", True),
    (["!keep", "*"], "keep", True),          # the last match wins
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["docs", "!docs/keep.md"], "docs/keep.md", False),
    (["docs", "!docs/keep.md"], "docs/other.md", True),
    (["\\*star"], "*star", True),
    (["\\*star"], "xstar", False),
]


@pytest.mark.parametrize("patterns,path,excluded", MATCH)
def test_match(patterns, path, excluded):
    assert Matcher(parse_patterns("\n".join(patterns))).excluded(path) is excluded


def test_parse_patterns():
    text = "# comment\n\n  *.log  \n!keep.log\n/abs/../x\n./y/\n"
    assert parse_patterns(text) == ["*.log", "!keep.log", "x", "y"]


def _tree(tmp_path, names):
    for n in names:
        p = tmp_path / n
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(n)


def test_walk_skips_subtree_and_keeps_exceptions(tmp_path):
    _tree(tmp_path, ["a.txt", "b.log", "node_modules/x/y.js", "docs/keep.md", "docs/drop.md", "src/main.c"])
    m = Matcher(parse_patterns("*.log\nnode_modules\ndocs\n!docs/keep.md\n"))
    assert walk(str(tmp_path), m) == ["a.txt", "docs/keep.md", "src", "src/main.c"]


def test_dockerfile_specific_ignore_preferred(tmp_path):
    (tmp_path / ".dockerignore").write_text("a\n")
    (tmp_path / "build.Dockerfile").write_text("FROM x\n")
    (tmp_path / "build.Dockerfile.dockerignore").write_text("b\n")
    assert read_patterns(str(tmp_path), str(tmp_path / "build.Dockerfile")) == ["b"]
    assert read_patterns(str(tmp_path), str(tmp_path / "Dockerfile")) == ["a"]
    os.unlink(tmp_path / ".dockerignore")
    assert read_patterns(str(tmp_path), None) == []
