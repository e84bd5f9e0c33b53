"""BuildKit's word processing (frontend/dockerfile/shell/lex.go), our own code.

A word is processed by removing quotes ('…' literal, "…" where the escape
character escapes only `"`, `$` and itself), honouring the escape character
outside quotes (a trailing one is dropped), and substituting variables outside
single quotes: `$v ${v} ${v:-w} ${v-w} ${v:+w} ${v+w} ${v:?msg} ${v?msg}`,
the patterns `${v#p} ${v##p} ${v%p} ${v%%p}` and `${v/p/r} ${v//p/r}` (p a
shell glob: `*`, `?`, `\\` escapes; no brackets). Names are letters, digits and
`_`; `$123` (all the digits) and the special `$@ $* $# $? $- $$ $! $0` are
names too, never set in a Dockerfile. `process_words` also splits on blanks
outside quotes.

tests/unit/test_dockerfile_expand.py runs BuildKit's own case files
(envVarTest, wordsTest) and lex_test.go's cases against this."""
import re

from ..errors import InvalidArgument

_SPECIAL = "@*#?-$!0"


class Lexer:
    def __init__(self, escape: str = "\\"):
        self.escape = escape

    def process_word(self, word: str, env: dict, used: set | None = None) -> str:
        return _run(self.escape, word, env, used)[0]

    def process_words(self, word: str, env: dict, used: set | None = None) -> list[str]:
        return _run(self.escape, word, env, used)[1]


class _Error(Exception):
    pass


def _run(escape, word, env, used):
    try:
        return _Scan(escape, word, env, used).stop_on(None, False)
    except _Error as e:
        raise InvalidArgument(f"failed to process {_goquote(word)}: {e}") from None


def _goquote(s: str) -> str:
    """Go's %q, near enough for messages."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def _is_space(c: str) -> bool:  # Go's unicode.IsSpace
    return c.isspace() and c not in "\x1c\x1d\x1e\x1f"


class _Words:
    """Word splitting as the characters come: expanded text splits on blanks,
    quoted or escaped text never does."""

    def __init__(self):
        self.buf, self.words, self.in_word = [], [], False

    def add_char(self, c: str) -> None:
        if _is_space(c):
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf, self.in_word = [], False
        else:
            self.add_raw(c)

    def add_string(self, s: str) -> None:
        for c in s:
            self.add_char(c)

    def add_raw(self, s: str) -> None:
        self.buf.append(s)
        self.in_word = True

    def get(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf, self.in_word = [], False
        return self.words


class _Scan:
    def __init__(self, esc, s, env, used):
        self.esc, self.s, self.i, self.env, self.used = esc, s, 0, env, used
        # Inside ${v#…}, ${v%…} and ${v/…/…} the escapes are kept for the
        # pattern (so that `\*` stays a literal star).
        self.raw_escapes = False

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else None

    def next(self):
        c = self.peek()
        if c is not None:
            self.i += 1
        return c

    def stop_on(self, stop, raw_escapes):
        """The text up to `stop` (consumed; None: the end) and its words."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            out, words = [], _Words()
            while (c := self.peek()) is not None:
                if c == stop:
                    self.i += 1
                    return "".join(out), words.get()
                if c == "$":
                    t = self.dollar()
                    out.append(t)
                    words.add_string(t)
                    continue
                if c in "<'\"":
                    t = self.heredoc() if c == "<" else self.single() if c == "'" else self.double()
                    out.append(t)
                    words.add_raw(t)
                    continue
                self.i += 1
                if c == self.esc:
                    if self.raw_escapes:
                        words.add_raw(c)
                        out.append(c)
                    c = self.next()
                    if c is None:  # a trailing escape is dropped
                        break
                    words.add_raw(c)
                else:
                    words.add_char(c)
                out.append(c)
            if stop is not None:
                raise _Error(f"unexpected end of statement while looking for matching {stop}")
            return "".join(out), words.get()
        finally:
            self.raw_escapes = saved

    def single(self) -> str:
        self.i += 1
        j = self.s.find("'", self.i)
        if j < 0:
            raise _Error("unexpected end of statement while looking for matching single-quote")
        out, self.i = self.s[self.i:j], j + 1
        return out

    def double(self) -> str:
        self.i += 1
        out = []
        while True:
            c = self.peek()
            if c is None:
                raise _Error("unexpected end of statement while looking for matching double-quote")
            if c == '"':
                self.i += 1
                return "".join(out)
            if c == "$":
                out.append(self.dollar())
                continue
            self.i += 1
            if c == self.esc:
                if self.raw_escapes:
                    out.append(c)
                n = self.peek()
                if n is None:
                    continue  # then the missing quote is reported
                if n in ('"', "$", self.esc):
                    c = self.next()
            out.append(c)

    def heredoc(self) -> str:
        # `<<` and the blanks after it stay together, as BuildKit keeps them
        self.i += 1
        if self.peek() != "<":
            return "<"
        self.i += 1
        j = self.i
        while self.peek() in ("\t", "\r", " "):
            self.i += 1
        return "<<" + self.s[j:self.i]

    def name(self) -> str:
        c = self.peek()
        if c is None:
            return ""
        if c.isdecimal():  # positional: all the digits
            j = self.i
            while self.peek() is not None and self.peek().isdecimal():
                self.i += 1
            return self.s[j:self.i]
        if c in _SPECIAL:
            self.i += 1
            return c
        j = self.i
        while (c := self.peek()) is not None and (c.isalpha() or c.isdecimal() or c == "_"):
            self.i += 1
        return self.s[j:self.i]

    def get(self, name: str):
        if self.used is not None:
            self.used.add(name)
        v = self.env.get(name)
        return ("", False) if v is None else (v, True)

    def dollar(self) -> str:
        self.i += 1  # the $
        if self.peek() != "{":
            name = self.name()
            return self.get(name)[0] if name else "$"
        self.i += 1
        c = self.peek()
        if c is None:
            raise _Error("syntax error: missing '}'")
        if c in "{}:":
            raise _Error("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch is None:  # BuildKit says "unsupported modifier (\ufffd)" here
            raise _Error("syntax error: missing '}'")
        if ch == "}":
            return self.get(name)[0]
        if ch == "/":
            return self.replace(name)
        op, null_is_unset = ch, False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            op += ch or ""
        elif ch not in "+-?#%":
            raise _Error(f"unsupported modifier ({op}) in substitution")
        pattern = ch is not None and ch in "#%"
        if null_is_unset and pattern:
            raise _Error(f"unsupported modifier ({op}) in substitution")
        word = self.inner("}", pattern)
        value, is_set = self.get(name)
        null = not is_set or (null_is_unset and value == "")
        if ch == "-":
            return word if null else value
        if ch == "+":
            return "" if null else word
        if ch == "?":
            if not is_set:
                raise _Error(f"{name}: {word or 'is not allowed to be unset'}")
            if null:
                raise _Error(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            greedy = word.startswith(ch)  # ## and %% match the longest
            if greedy:
                word = word[1:]
            return _trim_suffix(word, value, greedy) if ch == "%" else _trim_prefix(word, value, greedy)
        raise _Error(f"unsupported modifier ({op}) in substitution")

    def inner(self, stop, raw_escapes) -> str:
        try:
            return self.stop_on(stop, raw_escapes)[0]
        except _Error:
            if self.peek() is None:
                raise _Error("syntax error: missing '}'") from None
            raise

    def replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.i += 1
        try:
            pattern = self.stop_on("/", True)[0]
        except _Error:
            if self.peek() is None:  # `${v//}`, `${v/p}`: no replacement part
                raise _Error("syntax error: missing '/' in ${}") from None
            raise
        repl = self.inner("}", True)
        value = self.get(name)[0]
        rx = _pattern_re(pattern, greedy=True, anchored=False)
        if replace_all:
            return _replace_all(rx, value, repl)
        m = rx.search(value)
        return value[:m.start()] + repl + value[m.end():] if m else value


def _pattern_re(pattern: str, greedy: bool, anchored: bool):
    """A shell pattern as a regular expression: `*`, `?`, and `\\` before `*`,
    `?` or `\\`; `\\}` and `\\/` are the brace and the slash of ${}."""
    out = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        i += 1
        if c == "*":
            out.append(".*" if greedy else ".*?")
        elif c == "?":
            out.append(".")
        elif c == "\\":
            n = pattern[i] if i < len(pattern) else ""
            if n in ("}", "/") and n:
                continue
            i += 1
            if n not in ("*", "?", "\\"):
                raise _Error(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{n}'")
            out.append("\\" + n)
        else:
            out.append(re.escape(c))
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _pattern_re(pattern, greedy, anchored=True).match(value)
    return value[m.end():] if m else value


def _reverse_pattern(pattern: str) -> str:
    """The pattern backwards, an escape staying before what it escapes."""
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(pattern[i:i + 2])
            i += 2
        else:
            out.append(pattern[i])
            i += 1
    return "".join(reversed(out))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # the shortest/longest suffix is the shortest/longest prefix of the reversed
    # value, for the reversed pattern
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _replace_all(rx, value: str, template: str) -> str:
    """Go's Regexp.ReplaceAllString: an empty match right after a match is not
    replaced, and the replacement is a template (`$0`/`${0}` the match, other
    `$name` references empty, `$$` a dollar)."""
    out, last_end, pos = [], 0, 0
    while pos <= len(value):
        m = rx.search(value, pos)
        if not m:
            break
        s, e = m.span()
        out.append(value[last_end:s])
        if e > last_end or s == 0:
            out.append(_expand_template(template, m.group(0)))
        last_end = e
        pos = e if e > pos else pos + 1
    out.append(value[last_end:])
    return "".join(out)


_TEMPLATE_REF = re.compile(r"\$(?:(\$)|\{(\w+)\}|(\w+))")


def _expand_template(template: str, match: str) -> str:
    def ref(m):
        if m.group(1):
            return "$"
        name = m.group(2) or m.group(3)
        return match if name == "0" else ""
    return _TEMPLATE_REF.sub(ref, template)
