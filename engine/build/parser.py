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
import re
from dataclasses import asdict, dataclass, field

from ..errors import InvalidArgument
from .lineparse import JSON_INSTRUCTIONS, LineError, goquote, line_args, name_val, split_command, split_words

__all__ = ["JSON_INSTRUCTIONS", "split_command", "split_words"]  # (kept importable from here)

INSTRUCTIONS = ("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
                "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir")
HEREDOC_INSTRUCTIONS = ("run", "copy", "add")
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
_HEREDOC_WORD = re.compile(r"^(\d*)<<(-?)\s*([^<]+)$")


class DockerfileError(InvalidArgument):
    def __init__(self, filename: str, line: int, msg: str):
        super().__init__(f"{filename}:{line}: {msg}")
        self.filename, self.line, self.msg = filename, line, msg


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
        except LineError as ex:
            raise DockerfileError(filename, start, str(ex)) from None
        if inst.instruction in HEREDOC_INSTRUCTIONS and inst.exec_form is None:
            i = _heredocs(inst, lines, i, filename)
        if validate:
            try:
                _validate(inst)
            except LineError as ex:
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
    for name, expand, chomp in _heredoc_words(inst.arguments):
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
        inst.heredocs.append(Heredoc(name, "".join(b + "\n" for b in body), expand, chomp))
        inst.end_line = i
    return i


def _heredoc_words(text: str) -> list[tuple[str, bool, bool]]:
    """[(name, expand, chomp)] of the words that open a heredoc, as BuildKit's
    heredocsFromLine: a whole word `[n]<<[-]NAME` outside quotes (`"<<EOF"` is
    none), `<< NAME` one word; a quoted NAME (`<<'EOF'`) means no expansion."""
    if "<<" not in text:
        return []
    from .expand import Lexer
    words, out = split_words(text), []
    for k, w in enumerate(words):
        if re.fullmatch(r"\d*<<-?", w) and k + 1 < len(words):
            w += words[k + 1]
        m = _HEREDOC_WORD.match(w)
        if not m:
            continue
        try:
            names = Lexer().process_words(m.group(3), {})
        except InvalidArgument:
            continue
        if len(names) == 1:
            raw = m.group(3)
            expand = names[0].count("'") + names[0].count('"') == raw.count("'") + raw.count('"')
            out.append((names[0], expand, m.group(2) == "-"))
    return out


def _instruction(line: str, escape: str, start: int, end: int) -> Instruction:
    word, flags, rest = split_command(line, escape)
    name = word.lower()
    args, exec_form = line_args(name, rest, escape)
    return Instruction(name, line, flags, rest, exec_form, [], start, end, args)


def _validate(inst: Instruction) -> None:
    """BuildKit's instructions.ParseInstruction checks, with its messages."""
    name, args, up = inst.instruction, inst.args, inst.instruction.upper()

    def err(msg):
        raise LineError(msg)

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
                err(f"invalid name for build stage: {goquote(args[2])}, name can't start with a number or "
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
            err(f"Unknown type {goquote(kind)} in HEALTHCHECK (try CMD)")


def _check_flags(flags: list[str], allowed: dict) -> None:
    used = set()
    for a in flags:
        if not a.startswith("--"):
            raise LineError(f"arg should start with -- : {a}")
        fname, eq, value = a.partition("=")
        kind = allowed.get(fname[2:])
        if kind is None:
            raise LineError(f"unknown flag: {fname}")
        if fname in used and kind != "strings":
            raise LineError(f"duplicate flag specified: {fname}")
        used.add(fname)
        if kind == "bool":
            if eq and not value:
                raise LineError(f"missing a value on flag: {fname}")
            if value.lower() not in ("true", "false", ""):
                raise LineError(f"expecting boolean value for flag {fname}, not: {value}")
        elif not eq:
            raise LineError(f"missing a value on flag: {fname}")


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
        args = name_val(inst.arguments, up, escape)
    except LineError as ex:
        err(str(ex))
    if not args:
        err(f"{up} requires at least one argument")
    pairs = list(zip(args[::3], args[1::3]))
    if any(not k for k, _ in pairs):
        err(f"{up} names can not be blank")
    return pairs
