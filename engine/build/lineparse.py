"""BuildKit's line parsers (frontend/dockerfile/parser/line_parsers.go and
split_command.go), our own code: how an instruction's text splits into its
word, its --flags and its arguments, before any variable is expanded."""
import json
import re

JSON_INSTRUCTIONS = ("run", "cmd", "entrypoint", "shell", "copy", "add", "volume")
WS = re.compile(r"[\t\v\f\r ]+")  # BuildKit's reWhitespace: what separates words


class LineError(Exception):
    """An error of one instruction; parse() gives it the file and line."""


def split_command(line: str, escape: str = "\\") -> tuple[str, list[str], str]:
    """(instruction word as written, its --flags, the rest) as BuildKit's splitCommand."""
    parts = WS.split(line.strip(), maxsplit=1)
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


def json_array(rest: str) -> list | None:
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
        raise LineError("when using JSON array syntax, arrays must be comprised of strings only")
    return v


def _no_constant(name):  # Go's JSON has no NaN / Infinity
    raise ValueError(name)


def line_args(name: str, rest: str, escape: str) -> tuple[list, list | None]:
    """(the arguments, the JSON array or None) as BuildKit's line parser for `name`."""
    if name in JSON_INSTRUCTIONS:
        v = json_array(rest)
        if v is not None:
            return v, v
        if name in ("copy", "add", "volume"):
            return (WS.split(rest) if rest else []), None
        return ([rest] if rest else []), None
    if name in ("env", "label"):
        return name_val(rest, name.upper(), escape), None
    if name == "arg":
        return split_words(rest, escape), None
    if name in ("expose", "from"):
        return (WS.split(rest) if rest else []), None
    if name in ("maintainer", "stopsignal", "user", "workdir"):
        return ([rest] if rest else []), None
    if name == "healthcheck":
        m = re.match(r"(\S*)\s*(.*)\Z", rest, re.S)
        if not m.group(1):
            return [], None
        v = json_array(m.group(2))
        return [m.group(1)] + (v if v is not None else [m.group(2)] if m.group(2) else []), None
    if name == "onbuild":
        if not rest:
            return [], None
        word, _, sub = split_command(rest, escape)
        return [word] + line_args(word.lower(), sub, escape)[0], None
    return [], None  # unknown: the parser ignores it, _validate refuses it


def name_val(rest: str, key: str, escape: str) -> list[str]:
    """ENV / LABEL: [name, value, "=" or ""]* — `k=v …`, or the legacy `k v w`."""
    words = split_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = WS.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise LineError(f"{key} must have two arguments")
        return [parts[0], parts[1], ""]
    out = []
    for w in words:
        if "=" not in w:
            raise LineError(f"Syntax error - can't find = in {goquote(w)}. Must be of the form: name=value")
        k, _, v = w.partition("=")
        out += [k, v, "="]
    return out


def goquote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


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
