""".dockerignore with moby's rules (moby/patternmatcher), our own code.

- one pattern a line; `#` lines and blank lines skipped; surrounding blanks trimmed;
- patterns are cleaned like Go's filepath.Clean, a leading `/` dropped;
- `*` matches any run of non-`/` characters, `?` one, `[…]` a class, `\\` escapes,
  `**` any number of directories (`**/x`, `a/**`, `a/**/b`);
- a pattern matches a path or any of its parent directories;
- `!pattern` is an exception; the last pattern that matches decides;
- `<Dockerfile>.dockerignore` next to the Dockerfile is preferred over the context's `.dockerignore`."""
import os
import posixpath
import re


def read_patterns(context: str, dockerfile: str | None = None) -> list[str]:
    candidates = []
    if dockerfile:
        candidates.append(dockerfile + ".dockerignore")
    candidates.append(os.path.join(context, ".dockerignore"))
    for path in candidates:
        try:
            with open(path, encoding="utf-8") as f:
                return parse_patterns(f.read())
        except (FileNotFoundError, NotADirectoryError):
            continue
    return []


def parse_patterns(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        p = line.strip()
        if not p:
            continue
        neg = p.startswith("!")
        if neg:
            p = p[1:].strip()
        if p:
            p = posixpath.normpath(p)
            if p != "/":
                p = p.lstrip("/") or "."
        out.append(("!" if neg else "") + p)
    return out


def _compile(pat: str) -> re.Pattern:
    rx, i, n = ["^"], 0, len(pat)
    while i < n:
        c = pat[i]
        if c == "*":
            if i + 1 < n and pat[i + 1] == "*":
                i += 1
                if i + 1 < n and pat[i + 1] == "/":
                    i += 1
                    rx.append("(.*/)?")
                else:
                    rx.append(".*")
            else:
                rx.append("[^/]*")
        elif c == "?":
            rx.append("[^/]")
        elif c == "\\" and i + 1 < n:
            i += 1
            rx.append(re.escape(pat[i]))
        elif c == "[":
            j = pat.find("]", i + 1)
            if j < 0:
                rx.append(re.escape(c))
            else:
                body = pat[i + 1:j]
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                rx.append("[" + body.replace("\\", "\\\\") + "]")
                i = j
        else:
            rx.append(re.escape(c))
        i += 1
    rx.append("$")
    return re.compile("".join(rx), re.S)


class Matcher:
    def __init__(self, patterns: list[str]):
        self.rules = []
        for p in patterns:
            neg = p.startswith("!")
            body = p[1:] if neg else p
            self.rules.append((neg, body, _compile(body)))
        self.has_exceptions = any(neg for neg, _, _ in self.rules)

    def excluded(self, rel: str) -> bool:
        """rel: a slash-separated path relative to the context."""
        rel = rel.strip("/")
        parents = []
        parts = rel.split("/")
        for k in range(1, len(parts)):
            parents.append("/".join(parts[:k]))
        matched = False
        for neg, _, rx in self.rules:
            hit = rx.match(rel) is not None or any(rx.match(p) for p in parents)
            if hit:
                matched = not neg
        return matched

    def may_include_below(self, rel_dir: str) -> bool:
        """An exception may name something inside this excluded directory."""
        rel_dir = rel_dir.strip("/") + "/"
        for neg, body, _ in self.rules:
            if not neg:
                continue
            if "*" in body or "?" in body or "[" in body or body.startswith(rel_dir) or body + "/" == rel_dir:
                return True
        return False


def walk(context: str, matcher: Matcher, *, always: tuple = ()) -> list[str]:
    """The context's paths (files, links and directories, slash-separated,
    relative) that the patterns leave in, sorted."""
    out = []

    def rec(rel: str):
        path = os.path.join(context, rel) if rel else context
        try:
            names = sorted(os.listdir(path))
        except NotADirectoryError:
            return
        for name in names:
            r = f"{rel}/{name}" if rel else name
            full = os.path.join(context, r)
            is_dir = os.path.isdir(full) and not os.path.islink(full)
            if matcher.excluded(r) and r not in always:
                if is_dir and matcher.may_include_below(r):
                    rec(r)
                continue
            out.append(r)
            if is_dir:
                rec(r)
    rec("")
    return out
