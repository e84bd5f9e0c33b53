"""The Dockerfile grammar as BuildKit reads it (frontend/dockerfile/parser), our own code.

- instructions are case-insensitive; blank lines and `#` comment lines are skipped;
- parser directives (`# escape=`, `# syntax=`, `# check=`) count only in the
  comment block at the very top (a blank line, another comment or an
  instruction ends it); `escape` is `\\` or a backtick;
- a line ending in the escape character continues on the next; comment and
  blank lines inside a continuation are dropped;
- `--name=value` flags right after the instruction word;
- JSON (exec) form: the arguments are a JSON array of strings, else the shell form;
- heredocs in RUN, COPY and ADD (shell form): `<<EOF`, `<<-EOF` (leading tabs
  stripped), `<<"EOF"` / `<<'EOF'` (no expansion), several on one line; the
  body runs up to a line holding only the delimiter.

Errors are InvalidArgument naming the file and the line: `Dockerfile:7: unknown instruction: RUNN`."""
import json
import re
from dataclasses import asdict, dataclass, field

from ..errors import InvalidArgument

INSTRUCTIONS = ("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
                "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir")
HEREDOC_INSTRUCTIONS = ("run", "copy", "add")
# BuildKit expands variables in these (the rest keep their words verbatim):
EXPANDS = ("add", "arg", "copy", "env", "expose", "from", "label", "onbuild", "stopsignal", "user", "volume",
           "workdir")
FLAGS = {
    "from": {"platform"},
    "run": {"mount", "network", "security"},
    "copy": {"from", "chown", "chmod", "link", "parents", "exclude"},
    "add": {"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude"},
    "healthcheck": {"interval", "timeout", "start-period", "start-interval", "retries"},
}
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"<<(-?)\s*(?:([\"'])([^\"'\s]+)\2|([A-Za-z0-9_.\-]+))")


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


def parse(text: str | bytes, filename: str = "Dockerfile") -> Dockerfile:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    directives: dict = {}
    n = 0
    # -- directives: only the comment block at the very top
    while n < len(lines):
        m = _DIRECTIVE.match(lines[n].strip())
        if not m:
            break
        key, val = m.group(1).lower(), m.group(2)
        if key not in ("escape", "syntax", "check"):
            break
        if key in directives:
            raise DockerfileError(filename, n + 1, f"only one {key} parser directive can be used")
        directives[key] = val
        n += 1
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise DockerfileError(filename, 1, f"invalid escape token '{escape}' does not match ` or \\")
    out = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        s = raw.strip()
        if not s or s.startswith("#"):
            i += 1
            continue
        start = i
        parts = []
        cur = raw.lstrip()
        while True:
            t = cur.rstrip()
            if t.endswith(escape):
                parts.append(t[:-1])
                i += 1
                # skip comments and blanks inside the continuation
                while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("#")):
                    i += 1
                if i >= len(lines):
                    break
                cur = lines[i]
                continue
            parts.append(cur)
            break
        end = min(i, len(lines) - 1)
        i += 1
        logical = "".join(parts).strip()
        word, rest = _split_word(logical)
        instr = word.lower()
        if instr not in INSTRUCTIONS:
            raise DockerfileError(filename, start + 1, f"unknown instruction: {word.upper()}")
        flags, rest = _extract_flags(rest) if instr != "onbuild" else ([], rest)
        inst = Instruction(instr, logical, flags, rest, None, [], start + 1, end + 1)
        if rest.startswith("["):
            try:
                v = json.loads(rest)
                if isinstance(v, list) and all(isinstance(x, str) for x in v):
                    inst.exec_form = v
            except ValueError:
                pass
        if instr in HEREDOC_INSTRUCTIONS and inst.exec_form is None:
            for m in _HEREDOC.finditer(rest):
                chomp = m.group(1) == "-"
                name = m.group(3) or m.group(4)
                quoted = bool(m.group(2))
                body = []
                while True:
                    if i >= len(lines):
                        raise DockerfileError(filename, start + 1, f"unterminated heredoc {name}")
                    line = lines[i]
                    i += 1
                    test = line.lstrip("\t") if chomp else line
                    if test == name:
                        break
                    body.append(test)
                inst.heredocs.append(Heredoc(name, "".join(b + "\n" for b in body), not quoted, chomp))
                inst.end_line = i
        _validate(inst, filename)
        out.append(inst)
    return Dockerfile(filename, directives, escape, out)


def _split_word(line: str) -> tuple[str, str]:
    m = re.match(r"(\S+)\s*(.*)$", line, re.S)
    return (m.group(1), m.group(2).strip()) if m else ("", "")


def _extract_flags(rest: str) -> tuple[list[str], str]:
    flags = []
    while rest.startswith("--"):
        m = re.match(r"(--\S*)\s*(.*)$", rest, re.S)
        word = m.group(1)
        if word == "--":
            rest = m.group(2)
            break
        flags.append(word)
        rest = m.group(2)
    return flags, rest


def _validate(inst: Instruction, filename: str) -> None:
    name = inst.instruction
    up = name.upper()

    def err(msg):
        raise DockerfileError(filename, inst.start_line, msg)

    allowed = FLAGS.get(name, set())
    for f in inst.flags:
        k = f[2:].partition("=")[0]
        if k not in allowed:
            err(f"unknown flag: {k}")
    args = inst.arguments
    if inst.exec_form is None and not args.strip() and not inst.heredocs:
        if name in ("run", "cmd", "entrypoint", "shell", "healthcheck", "onbuild", "from", "copy", "add", "env",
                    "label", "arg", "expose", "user", "workdir", "volume", "stopsignal", "maintainer"):
            err(f"{up} requires at least one argument" if name not in ("user", "workdir", "stopsignal", "maintainer")
                else f"{up} requires exactly one argument")
    if name == "from":
        words = args.split()
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
            err("FROM requires either one or three arguments")
        if len(words) == 3 and not re.match(r"^[a-z][a-z0-9._-]*$", words[2].lower()):
            err(f"invalid name for build stage: {words[2]!r}, name can't start with a number or contain symbols")
    elif name in ("copy", "add"):
        n = len(inst.exec_form) if inst.exec_form is not None else len(args.split()) 
        if n < 2 and not inst.heredocs:
            err(f"{up} requires at least two arguments, but only one was provided. Destination could not be determined")
    elif name == "shell":
        if inst.exec_form is None:
            err("SHELL requires the arguments to be in JSON form")
    elif name == "onbuild":
        trig = args.split(None, 1)[0].upper() if args.split() else ""
        if trig in ("ONBUILD", "FROM", "MAINTAINER"):
            err(f"{trig} isn't allowed as an ONBUILD trigger")
        if trig.lower() not in INSTRUCTIONS:
            err(f"unknown instruction: {trig}")
    elif name == "healthcheck":
        words = args.split(None, 1)
        kind = words[0].upper() if words else ""
        if kind not in ("NONE", "CMD"):
            err(f"unknown type for HEALTHCHECK: {words[0] if words else ''!r}; expected CMD or NONE")
        if kind == "NONE" and len(words) > 1:
            err("HEALTHCHECK NONE takes no arguments")
        if kind == "CMD" and len(words) < 2:
            err("missing command after HEALTHCHECK CMD")


def check(df: Dockerfile) -> None:
    """The rules that span instructions: only ARG before the first FROM, a stage exists."""
    seen_from = False
    for inst in df.instructions:
        if inst.instruction == "from":
            seen_from = True
        elif not seen_from and inst.instruction != "arg":
            raise DockerfileError(df.filename, inst.start_line, "no build stage in current context")
    if not seen_from:
        line = df.instructions[-1].start_line if df.instructions else 1
        raise DockerfileError(df.filename, line, "the Dockerfile has no FROM instruction" if df.instructions
                              else "the Dockerfile cannot be empty")


# -- helpers for the instructions' arguments

def split_words(s: str, escape: str = "\\") -> list[str]:
    """Split on blanks outside quotes, keeping the quotes (BuildKit's parseWords)."""
    words, cur, quote, i = [], [], "", 0
    while i < len(s):
        c = s[i]
        if quote:
            cur.append(c)
            if c == escape and quote == '"' and i + 1 < len(s):
                cur.append(s[i + 1])
                i += 1
            elif c == quote:
                quote = ""
        elif c in " \t\n":
            if cur:
                words.append("".join(cur))
                cur = []
        else:
            cur.append(c)
            if c == escape and i + 1 < len(s):
                cur.append(s[i + 1])
                i += 1
            elif c in "'\"":
                quote = c
        i += 1
    if cur:
        words.append("".join(cur))
    return words


def name_values(inst: Instruction, escape: str, filename: str) -> list[tuple[str, str | None]]:
    """ENV / LABEL / ARG `k=v k2="v 2"` (values still raw), or the legacy `ENV k v` form."""
    words = split_words(inst.arguments, escape)
    if not words:
        raise DockerfileError(filename, inst.start_line, f"{inst.instruction.upper()} requires at least one argument")
    if inst.instruction == "arg":
        out = []
        for w in words:
            k, eq, v = w.partition("=")
            out.append((k, v if eq else None))
        return out
    if "=" not in words[0]:
        if len(words) < 2:
            raise DockerfileError(filename, inst.start_line,
                                  f"{inst.instruction.upper()} must have two arguments")
        m = re.match(r"(\S+)\s+(.*)$", inst.arguments.strip(), re.S)
        return [(m.group(1), m.group(2))]
    out = []
    for w in words:
        k, eq, v = w.partition("=")
        if not eq or not k:
            raise DockerfileError(filename, inst.start_line,
                                  f"{inst.instruction.upper()} names can not be blank and need a value: {w!r}")
        out.append((k, v))
    return out
