"""BuildKit's word processing (frontend/dockerfile/shell/lex.go), our own code.

A word is processed by removing quotes ('…' literal, "…" with the escape
character before `"`, `$`, the escape char or a newline), honouring the escape
character outside quotes, and substituting variables outside single quotes:
`$v ${v} ${v:-w} ${v-w} ${v:+w} ${v+w} ${v:?msg} ${v?msg}`, the patterns
`${v#p} ${v##p} ${v%p} ${v%%p}` and `${v/p/r} ${v//p/r}` (p a shell glob).
`process_words` also splits on blanks outside quotes."""
import fnmatch
import re

from ..errors import InvalidArgument


class Lexer:
    def __init__(self, escape: str = "\\"):
        self.escape = escape

    def process_word(self, word: str, env: dict, used: set | None = None) -> str:
        return _Run(self.escape, word, env, used).word()

    def process_words(self, word: str, env: dict, used: set | None = None) -> list[str]:
        return _Run(self.escape, word, env, used).words()


def _glob_re(pat: str, greedy: bool) -> str:
    out = []
    for c in pat:
        if c == "*":
            out.append(".*" if greedy else ".*?")
        elif c == "?":
            out.append(".")
        else:
            out.append(re.escape(c))
    return "".join(out)


class _Run:
    def __init__(self, esc, s, env, used):
        self.esc, self.s, self.i, self.env, self.used = esc, s, 0, env, used

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else ""

    def next(self):
        c = self.peek()
        self.i += 1 if c else 0
        return c

    # -- words
    def word(self) -> str:
        out, _ = self._process(split=False)
        return out[0] if out else ""

    def words(self) -> list[str]:
        out, _ = self._process(split=True)
        return out

    def _process(self, split: bool, stop: str = ""):
        words, cur, have = [], [], False
        while self.i < len(self.s):
            c = self.peek()
            if stop and c in stop:
                break
            if split and c in " \t\r\n":
                self.i += 1
                if have:
                    words.append("".join(cur))
                    cur, have = [], False
                continue
            have = True
            if c == "'":
                cur.append(self._single())
            elif c == '"':
                cur.append(self._double())
            elif c == "$":
                val = self._dollar()
                if split and val and any(ch in " \t\r\n" for ch in val):
                    parts = val.split()
                    lead, trail = val[0].isspace(), val[-1].isspace()
                    if lead and cur:
                        words.append("".join(cur))
                        cur = []
                    for j, p in enumerate(parts):
                        cur.append(p)
                        if j < len(parts) - 1:
                            words.append("".join(cur))
                            cur = []
                    if trail:
                        words.append("".join(cur))
                        cur, have = [], False
                    elif not parts and not cur:
                        have = False
                else:
                    cur.append(val)
            elif c == self.esc:
                self.i += 1
                n = self.next()
                cur.append(n if n else c)
            else:
                self.i += 1
                cur.append(c)
        if have or (not split and not words):
            words.append("".join(cur))
        return words, None

    def _single(self) -> str:
        self.i += 1
        j = self.s.find("'", self.i)
        if j < 0:
            raise InvalidArgument("unexpected end of statement while looking for matching single-quote")
        out = self.s[self.i:j]
        self.i = j + 1
        return out

    def _double(self) -> str:
        self.i += 1
        out = []
        while True:
            if self.i >= len(self.s):
                raise InvalidArgument("unexpected end of statement while looking for matching double-quote")
            c = self.peek()
            if c == '"':
                self.i += 1
                return "".join(out)
            if c == "$":
                out.append(self._dollar())
            elif c == self.esc:
                self.i += 1
                n = self.next()
                if n in ('"', "$", self.esc, "\n"):
                    out.append(n)
                else:
                    out.append(c + n)
            else:
                self.i += 1
                out.append(c)

    def _get(self, name: str):
        if self.used is not None:
            self.used.add(name)
        return self.env.get(name)

    def _name(self) -> str:
        m = re.match(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]", self.s[self.i:])
        if not m:
            return ""
        self.i += m.end()
        return m.group(0)

    def _dollar(self) -> str:
        self.i += 1  # the $
        if self.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            return self._get(name) or ""
        self.i += 1
        name = self._name()
        if not name:
            raise InvalidArgument(f"invalid variable name in: {self.s}")
        c = self.peek()
        if c == "}":
            self.i += 1
            return self._get(name) or ""
        val = self._get(name)
        if c == ":":
            self.i += 1
            op = ":" + self.next()
            if op not in (":-", ":+", ":?"):
                raise InvalidArgument(f"unsupported modifier ({op}) in substitution: {self.s}")
        elif c in "-+?":
            self.i += 1
            op = c
        elif c in "#%":
            self.i += 1
            op = c
            if self.peek() == c:
                self.i += 1
                op += c
        elif c == "/":
            self.i += 1
            op = "/"
            if self.peek() == "/":
                self.i += 1
                op = "//"
        else:
            raise InvalidArgument(f"missing ':' in substitution: {self.s}")
        if op in ("/", "//"):
            pat = self._inner("/}")
            repl = ""
            if self.peek() == "/":
                self.i += 1
                repl = self._inner("}")
            self._close()
            v = val or ""
            if not pat:
                return v
            rx = re.compile(_glob_re(pat, True))
            return rx.sub(lambda m: repl, v, count=0 if op == "//" else 1)
        word = self._inner("}")
        self._close()
        if op in (":-", "-"):
            return val if (val if op == ":-" else val is not None) else word
        if op in (":+", "+"):
            return word if (val if op == ":+" else val is not None) else ""
        if op in (":?", "?"):
            if (val if op == ":?" else val is not None):
                return val
            raise InvalidArgument(f"{name}: {word or 'is not allowed to be unset'}")
        v = val or ""
        if op in ("#", "##"):
            if op == "#":  # shortest prefix
                for k in range(len(v) + 1):
                    if fnmatch.fnmatchcase(v[:k], word):
                        return v[k:]
                return v
            best = None
            for k in range(len(v), -1, -1):
                if fnmatch.fnmatchcase(v[:k], word):
                    best = k
                    break
            return v[best:] if best is not None else v
        # % and %%: suffixes
        ks = range(len(v), -1, -1) if op == "%" else range(0, len(v) + 1)
        for k in ks:
            if fnmatch.fnmatchcase(v[k:], word):
                return v[:k]
        return v

    def _inner(self, stops: str) -> str:
        out = []
        while self.i < len(self.s) and self.peek() not in stops:
            c = self.peek()
            if c == "$":
                out.append(self._dollar())
            elif c == "'":
                out.append(self._single())
            elif c == '"':
                out.append(self._double())
            elif c == self.esc:
                self.i += 1
                out.append(self.next())
            else:
                out.append(c)
                self.i += 1
        return "".join(out)

    def _close(self):
        if self.peek() != "}":
            raise InvalidArgument(f"syntax error: missing '}}' in: {self.s}")
        self.i += 1
