"""The Dockerfile grammar as BuildKit reads it (frontend/dockerfile/parser and
instructions/parse.go), our own code.

- instructions are case-insensitive; blank lines and `#` comment lines are skipped;
- parser directives (`# escape=`, `# syntax=`, `# check=`) count only in the
  comment block at the very top (a blank line, another comment or an
  instruction ends it); `escape` is `\\` or a backtick;
- a line continues on the next when its last non-blank character is the escape
  character and the one before it is not (`a\\\\` ends the line); comment and
  blank lines inside a continuation are dropped;
- `--name=value` flags right after the instruction word (quotes and escapes
  honoured), checked per instruction as BuildKit's BFlags does;
- JSON (exec) form for RUN, CMD, ENTRYPOINT, SHELL, COPY, ADD and VOLUME: a JSON
  array of strings (an array of anything else is an error), else the shell form;
- heredocs in RUN, COPY and ADD (shell form): `<<EOF`, `<<-EOF` (leading tabs
  stripped), `<<"EOF"` / `<<'EOF'` (no expansion), several on one line; the
  body runs up to a line holding only the delimiter;
- each instruction's arguments split as BuildKit's line parsers do (`args`),
  and their number checked with BuildKit's messages.

Errors are InvalidArgument naming the file and the line: `Dockerfile:7: unknown instruction: RUNN`."""
import json
import re
from dataclasses import asdict, dataclass, field

from ..errors import InvalidArgument

INSTRUCTIONS = ("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
                "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir")
HEREDOC_INSTRUCTIONS = ("run", "copy", "add")
JSON_INSTRUCTIONS = ("run", "cmd", "entrypoint", "shell", "copy", "add", "volume")
# BuildKit expands variables in these (the rest keep their words verbatim):
EXPANDS = ("add", "arg", "copy", "env", "expose", "from", "label", "onbuild", "stopsignal", "user", "volume",
           "workdir")
# name -> kind (string: needs a value; bool: true/false or none; strings: may repeat)
FLAGS = {
    "from": {"platform": "string"},
    "run": {"mount": "strings", "network": "string", "security": "string", "device": "strings"},
    "copy": {"from": "string", "chown": "string", "chmod": "string", "link": "bool", "parents": "bool",
             "exclude": "strings"},
    "add": {"chown": "string", "chmod": "string", "link": "bool", "keep-git-dir": "bool", "checksum": "string",
            "unpack": "bool", "exclude": "strings"},
    "healthcheck": {"interval": "string", "timeout": "string", "start-period": "string",
                    "start-interval": "string", "retries": "string"},
}
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"<<(-?)\s*(?:([\"'])([^\"'\s]+)\2|([A-Za-z0-9_.\-]+))")
_HEREDOC_WORD = re.compile(r"^(\d*)<<(-?)\s*([^<]+)$")
_WS = re.compile(r"[\t\v\f\r ]+")  # BuildKit's reWhitespace: what separates words


class DockerfileError(InvalidArgument):
    def __init__(self, filename: str, line: int, msg: str):
        super().__init__(f"{filename}:{line}: {msg}")
        self.filename, self.line, self.msg = filename, line, msg


class _LineError(Exception):
    """An error of one instruction; parse() gives it the file and line."""


@dataclass
class Heredoc:
    name: str
    content: str
    expand: bool = True
    chomp: bool = False  # <<- strips leading tabs


@dataclass
class Instruction:
    instruction: str          # lower case: "run"
    original: str             # the logical line as written (continuations joined)
    flags: list = field(default_factory=list)      # ["--from=build", …]
    arguments: str = ""       # the text after the flags (shell form) …
    exec_form: list | None = None                  # … or the JSON array
    heredocs: list = field(default_factory=list)
    start_line: int = 0
    end_line: int = 0
    args: list = field(default_factory=list)       # split as BuildKit's line parser does (quotes kept)

    @property
    def form(self) -> str:
        return "exec" if self.exec_form is not None else "shell"

    def flag(self, name: str, default=None):
        for f in self.flags:
            k, eq, v = f[2:].partition("=")
            if k == name:
                return v if eq else "true"
        return default

    def flag_all(self, name: str) -> list[str]:
        return [f[2:].partition("=")[2] for f in self.flags if f[2:].partition("=")[0] == name]

    def as_dict(self) -> dict:
        return {"instruction": self.instruction.upper(), "flags": list(self.flags),
                "arguments": self.exec_form if self.exec_form is not None else self.arguments,
                "form": self.form, "heredocs": [asdict(h) for h in self.heredocs],
                "start_line": self.start_line, "end_line": self.end_line}


@dataclass
class Dockerfile:
    filename: str
    directives: dict
    escape: str
    instructions: list

    def as_dict(self) -> dict:
        return {"file": self.filename, "directives": self.directives,
                "instructions": [i.as_dict() for i in self.instructions]}


def parse(text: str | bytes, filename: str = "Dockerfile", validate: bool = True) -> Dockerfile:
    """The instructions of a Dockerfile; `validate=False` stops at what BuildKit's
    parser package checks (no flag, arity or instruction-name checks)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    lines = [ln.rstrip("\r") for ln in lines]
    directives = _directives(lines, filename)
    escape = directives.get("escape", "\\")
    e = re.escape(escape)
    # BuildKit's lineContinuationRegex: the escape, then only blanks, not itself escaped
    cont = re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")
    out = []
    i = 0
    while i < len(lines):
        line = lines[i].lstrip()
        i += 1
        start = i
        if line.startswith("#"):
            continue
        line, done = _trim_continuation(line, cont)
        if done and not line:
            continue
        parts = [line]
        while not done and i < len(lines):
            raw = lines[i]
            i += 1
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            raw, done = _trim_continuation(raw, cont)
            parts.append(raw)
        logical = "".join(parts)
        try:
            inst = _instruction(logical, escape, start, i)
        except _LineError as ex:
            raise DockerfileError(filename, start, str(ex)) from None
        if inst.instruction in HEREDOC_INSTRUCTIONS and inst.exec_form is None:
            i = _heredocs(inst, lines, i, filename)
        if validate:
            try:
                _validate(inst)
            except _LineError as ex:
                raise DockerfileError(filename, start, str(ex)) from None
        out.append(inst)
    return Dockerfile(filename, directives, escape, out)


def _directives(lines: list[str], filename: str) -> dict:
    directives: dict = {}
    for n, line in enumerate(lines):
        m = _DIRECTIVE.match(line.strip())
        if not m:
            break
        key, val = m.group(1).lower(), m.group(2)
        if key not in ("escape", "syntax", "check"):
            break
        if key in directives:
            raise DockerfileError(filename, n + 1, f"only one {key} parser directive can be used")
        if key == "escape" and val not in ("\\", "`"):
            raise DockerfileError(filename, n + 1, f"invalid escape token '{val}' does not match ` or \\")
        directives[key] = val
    return directives


def _trim_continuation(line: str, cont) -> tuple[str, bool]:
    """(the line without its continuation mark, whether the instruction ends here)"""
    m = cont.search(line)
    if not m:
        return line, True
    return line[:m.start()] + (m.group(1) or ""), False


def _heredocs(inst: Instruction, lines: list[str], i: int, filename: str) -> int:
    for m in _HEREDOC.finditer(inst.arguments):
        chomp = m.group(1) == "-"
        name = m.group(3) or m.group(4)
        body = []
        while True:
            if i >= len(lines):
                raise DockerfileError(filename, inst.start_line, f"unterminated heredoc {name}")
            line = lines[i]
            i += 1
            test = line.lstrip("\t") if chomp else line
            if test == name:
                break
            body.append(test)
        inst.heredocs.append(Heredoc(name, "".join(b + "\n" for b in body), not m.group(2), chomp))
        inst.end_line = i
    return i


def _instruction(line: str, escape: str, start: int, end: int) -> Instruction:
    word, flags, rest = split_command(line, escape)
    name = word.lower()
    args, exec_form = _line_args(name, rest, escape)
    return Instruction(name, line, flags, rest, exec_form, [], start, end, args)


def split_command(line: str, escape: str = "\\") -> tuple[str, list[str], str]:
    """(instruction word as written, its --flags, the rest) as BuildKit's splitCommand."""
    parts = _WS.split(line.strip(), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = _extract_flags(parts[1], escape)
    return parts[0], flags, rest.strip()


def _extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """The leading `--flag[=value]` words (quotes and escapes removed), up to the
    first other word or a `--`; (the rest of the line, the flags)."""
    flags, buf, quote, blank_ok, pos, n = [], [], "", False, 0, len(line)
    phase = "spaces"
    while True:
        if phase == "spaces":
            if pos == n:
                return "", flags
            if line[pos].isspace():
                pos += 1
                continue
            if not line.startswith("--", pos):
                return line[pos:], flags
            phase = "word"
        if pos == n:
            word = "".join(buf)
            if word != "--" and (blank_ok or word):
                flags.append(word)
            return "", flags
        c = line[pos]
        pos += 1
        if phase == "word":
            if c.isspace():
                word = "".join(buf)
                if word == "--":
                    return line[pos - 1:], flags
                if blank_ok or word:
                    flags.append(word)
                buf, blank_ok, phase = [], False, "spaces"
                continue
            if c in "'\"":
                quote, blank_ok, phase = c, True, "quote"
                continue
        elif c == quote:
            phase = "word"
            continue
        if c == escape:
            if pos == n:  # a trailing escape is dropped
                phase = "word"
                continue
            c = line[pos]
            pos += 1
        buf.append(c)


def _json_array(rest: str) -> list | None:
    """The JSON array of strings; None when `rest` is no JSON array."""
    if not rest.startswith("["):
        return None
    try:
        v = json.loads(rest, parse_constant=_no_constant)
    except ValueError:
        return None
    if not isinstance(v, list):
        return None
    if not all(isinstance(x, str) for x in v):
        raise _LineError("when using JSON array syntax, arrays must be comprised of strings only")
    return v


def _no_constant(name):  # Go's JSON has no NaN / Infinity
    raise ValueError(name)


def _line_args(name: str, rest: str, escape: str) -> tuple[list, list | None]:
    """(the arguments, the JSON array or None) as BuildKit's line parser for `name`."""
    if name in JSON_INSTRUCTIONS:
        v = _json_array(rest)
        if v is not None:
            return v, v
        if name in ("copy", "add", "volume"):
            return (_WS.split(rest) if rest else []), None
        return ([rest] if rest else []), None
    if name in ("env", "label"):
        return _name_val(rest, name.upper(), escape), None
    if name == "arg":
        return split_words(rest, escape), None
    if name in ("expose", "from"):
        return (_WS.split(rest) if rest else []), None
    if name in ("maintainer", "stopsignal", "user", "workdir"):
        return ([rest] if rest else []), None
    if name == "healthcheck":
        m = re.match(r"(\S*)\s*(.*)\Z", rest, re.S)
        if not m.group(1):
            return [], None
        v = _json_array(m.group(2))
        return [m.group(1)] + (v if v is not None else [m.group(2)] if m.group(2) else []), None
    if name == "onbuild":
        if not rest:
            return [], None
        word, _, sub = split_command(rest, escape)
        return [word] + _line_args(word.lower(), sub, escape)[0], None
    return [], None  # unknown: the parser ignores it, _validate refuses it


def _name_val(rest: str, key: str, escape: str) -> list[str]:
    """ENV / LABEL: [name, value, "=" or ""]* — `k=v …`, or the legacy `k v w`."""
    words = split_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WS.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _LineError(f"{key} must have two arguments")
        return [parts[0], parts[1], ""]
    out = []
    for w in words:
        if "=" not in w:
            raise _LineError(f"Syntax error - can't find = in {_goquote(w)}. Must be of the form: name=value")
        k, _, v = w.partition("=")
        out += [k, v, "="]
    return out


def _goquote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _validate(inst: Instruction) -> None:
    """BuildKit's instructions.ParseInstruction checks, with its messages."""
    name, args, up = inst.instruction, inst.args, inst.instruction.upper()

    def err(msg):
        raise _LineError(msg)

    if name not in INSTRUCTIONS:
        err(f"unknown instruction: {inst.original.split(None, 1)[0]}")
    if name not in ("arg", "stopsignal") and not (name == "healthcheck" and args and args[0].upper() == "NONE"):
        _check_flags(inst.flags, FLAGS.get(name, {}))  # (BuildKit never looks at ARG's and STOPSIGNAL's)
    if name in ("env", "label"):
        if not args:
            err(f"{up} requires at least one argument")
        if any(not k for k in args[::3]):
            err(f"{up} names can not be blank")
    elif name == "arg":
        if not args:
            err("ARG requires at least one argument")
        if any("=" in a and not a.partition("=")[0] for a in args):
            err("ARG names can not be blank")
    elif name in ("maintainer", "user", "workdir", "stopsignal"):
        if len(args) != 1:
            err(f"{up} requires exactly one argument")
    elif name in ("expose", "onbuild", "volume", "healthcheck") and not args:
        err(f"{up} requires at least one argument")
    elif name == "shell" and not args:
        err("SHELL requires at least one argument")
    if name == "from":
        if len(args) == 3 and args[1].lower() == "as":
            if not re.match(r"^[a-z][a-z0-9._-]*$", args[2].lower()):
                err(f"invalid name for build stage: {_goquote(args[2])}, name can't start with a number or "
                    "contain symbols")
        elif len(args) != 1:
            err("FROM requires either one or three arguments")
    elif name in ("copy", "add"):
        if len(args) < 2:
            err(f"{up} requires at least two arguments, but only one was provided. Destination could not be "
                "determined")
        if _HEREDOC_WORD.match(args[-1]):
            err(f"{up} cannot accept a heredoc as a destination")
    elif name == "shell" and inst.exec_form is None:
        err("SHELL requires the arguments to be in JSON form")
    elif name == "volume" and any(not v.strip() for v in args):
        err("VOLUME specified can not be an empty string")
    elif name == "onbuild":
        trig = args[0].upper()
        if trig == "ONBUILD":
            err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trig in ("FROM", "MAINTAINER"):
            err(f"{trig} isn't allowed as an ONBUILD trigger")
    elif name == "healthcheck":
        kind = args[0].upper()
        if kind == "NONE":
            if len(args) > 1:
                err("HEALTHCHECK NONE takes no arguments")
        elif kind == "CMD":
            if len(args) < 2:
                err("Missing command after HEALTHCHECK CMD")
        else:
            err(f"Unknown type {_goquote(kind)} in HEALTHCHECK (try CMD)")


def _check_flags(flags: list[str], allowed: dict) -> None:
    used = set()
    for a in flags:
        if not a.startswith("--"):
            raise _LineError(f"arg should start with -- : {a}")
        fname, eq, value = a.partition("=")
        kind = allowed.get(fname[2:])
        if kind is None:
            raise _LineError(f"unknown flag: {fname}")
        if fname in used and kind != "strings":
            raise _LineError(f"duplicate flag specified: {fname}")
        used.add(fname)
        if kind == "bool":
            if eq and not value:
                raise _LineError(f"missing a value on flag: {fname}")
            if value.lower() not in ("true", "false", ""):
                raise _LineError(f"expecting boolean value for flag {fname}, not: {value}")
        elif not eq:
            raise _LineError(f"missing a value on flag: {fname}")


def check(df: Dockerfile) -> None:
    """The rules that span instructions: only ARG before the first FROM, a stage exists."""
    seen_from = False
    for inst in df.instructions:
        if inst.instruction == "from":
            seen_from = True
        elif not seen_from and inst.instruction != "arg":
            raise DockerfileError(df.filename, inst.start_line, "no build stage in current context")
    if not df.instructions:
        raise DockerfileError(df.filename, 1, "file with no instructions")
    if not seen_from:
        raise DockerfileError(df.filename, df.instructions[-1].start_line, "dockerfile contains no stages to build")


# -- helpers for the instructions' arguments

def split_words(s: str, escape: str = "\\") -> list[str]:
    """Split on blanks outside quotes, keeping the quotes and escapes (BuildKit's
    parseWords); an escape at the very end is dropped."""
    words, buf, quote, blank_ok, pos, n = [], [], "", False, 0, len(s)
    phase = "spaces"
    while True:
        if phase == "spaces":
            if pos == n:
                break
            if s[pos].isspace():
                pos += 1
                continue
            phase = "word"
        if pos == n:
            if blank_ok or buf:
                words.append("".join(buf))
            break
        c = s[pos]
        pos += 1
        if phase == "word":
            if c.isspace():
                if blank_ok or buf:
                    words.append("".join(buf))
                buf, blank_ok, phase = [], False, "spaces"
                continue
            if c in "'\"":
                quote, blank_ok, phase = c, True, "quote"
            elif c == escape:
                if pos == n:
                    continue
                buf.append(c)
                c = s[pos]
                pos += 1
        else:
            if c == quote:
                phase = "word"
            elif c == escape and quote != "'":
                if pos == n:
                    phase = "word"
                    continue
                buf.append(c)
                c = s[pos]
                pos += 1
        buf.append(c)
    return words


def name_values(inst: Instruction, escape: str, filename: str) -> list[tuple[str, str | None]]:
    """ENV / LABEL `k=v k2="v 2"` or the legacy `ENV k v` (values still raw);
    ARG `k` (None: no default) or `k=v`."""
    def err(msg):
        raise DockerfileError(filename, inst.start_line, msg)

    up = inst.instruction.upper()
    if inst.instruction == "arg":
        words = split_words(inst.arguments, escape)
        if not words:
            err("ARG requires at least one argument")
        out = []
        for w in words:
            k, eq, v = w.partition("=")
            if eq and not k:
                err("ARG names can not be blank")
            out.append((k, v if eq else None))
        return out
    try:
        args = _name_val(inst.arguments, up, escape)
    except _LineError as ex:
        err(str(ex))
    if not args:
        err(f"{up} requires at least one argument")
    pairs = list(zip(args[::3], args[1::3]))
    if any(not k for k, _ in pairs):
        err(f"{up} names can not be blank")
    return pairs
