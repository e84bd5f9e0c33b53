"""The part of Go's text/template that docker's `--format` is used with:
`{{.Field.Sub}}`, `{{json .X}}`, `{{range .Xs}}…{{end}}` (also `range $i, $v
:= …`), `{{if …}}…{{else if …}}…{{else}}…{{end}}`, `{{with …}}…{{end}}`,
pipes, parentheses, `$` and variables, string/number/bool literals, `{{-`
and `-}}` trimming, and docker's functions (json, join, index, len, lower,
upper, title, split, printf, print, println, pad, truncate) plus `eq ne lt
le gt ge and or not`. Values are the JSON-shaped dicts and lists dockyard
prints anyway; they print as Go prints them (`<no value>` for a missing map
key, `<nil>`, `[a b]`, `map[k:v]`).

    render("{{.State.Pid}}", inspect_doc) -> "1234"
"""
from __future__ import annotations

import json
import re

__all__ = ["TemplateError", "render", "parse"]


class TemplateError(ValueError):
    pass


class _Missing:
    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r"""\s*(?:
      (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<decl>:=|=)
    | (?P<pipe>\|)
    | (?P<lp>\() | (?P<rp>\))
    | (?P<comma>,)
    | (?P<field>(?:\$[A-Za-z0-9_]*)?(?:\.[A-Za-z0-9_]+)+|\.|\$[A-Za-z0-9_]*)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""", re.X)


# ------------------------------------------------------------------ parsing

def parse(text: str) -> list:
    """The template as a tree: str | ("out", pipe) | ("if", [(pipe, body)...], else_body)
    | ("range", vars, pipe, body, else_body) | ("with", pipe, body, else_body)."""
    pieces: list = []
    pos = 0
    for m in _ACTION.finditer(text):
        lit = text[pos:m.start()]
        if m.group(1):
            lit = lit.rstrip()
        if pieces and isinstance(pieces[-1], tuple) and pieces[-1][0] == "trim":
            lit = lit.lstrip()
            pieces.pop()
        if lit:
            pieces.append(lit)
        pieces.append(("act", m.group(2).strip()))
        if m.group(3):
            pieces.append(("trim",))
        pos = m.end()
    rest = text[pos:]
    if "{{" in rest:
        raise TemplateError("unclosed action")
    if pieces and isinstance(pieces[-1], tuple) and pieces[-1][0] == "trim":
        rest = rest.lstrip()
        pieces.pop()
    if rest:
        pieces.append(rest)
    body, i, stop = _parse_body(pieces, 0)
    if stop is not None:
        raise TemplateError(f"unexpected {{{{{stop}}}}}")
    return body


def _parse_body(pieces: list, i: int):
    out: list = []
    while i < len(pieces):
        p = pieces[i]
        if isinstance(p, str):
            out.append(p)
            i += 1
            continue
        act = p[1]
        word = act.split(None, 1)[0] if act else ""
        if word in ("end", "else") or act.startswith("else "):
            return out, i, act
        if act.startswith("/*"):
            i += 1
            continue
        if word == "if":
            branches = []
            cond = _parse_pipe(act[2:])
            body, i, stop = _parse_body(pieces, i + 1)
            branches.append((cond, body))
            else_body: list = []
            while stop is not None and stop.startswith("else if "):
                cond = _parse_pipe(stop[len("else if "):])
                body, i, stop = _parse_body(pieces, i + 1)
                branches.append((cond, body))
            if stop == "else":
                else_body, i, stop = _parse_body(pieces, i + 1)
            if stop != "end":
                raise TemplateError("unterminated {{if}}")
            out.append(("if", branches, else_body))
            i += 1
        elif word in ("range", "with"):
            rest = act[len(word):].strip()
            names: list[str] = []
            m = re.match(r"^((?:\$[A-Za-z0-9_]*\s*,\s*)?\$[A-Za-z0-9_]*)\s*:=\s*(.*)$", rest, re.S)
            if m:
                names = [n.strip() for n in m.group(1).split(",")]
                rest = m.group(2)
            pipe = _parse_pipe(rest)
            body, i, stop = _parse_body(pieces, i + 1)
            else_body = []
            if stop == "else":
                else_body, i, stop = _parse_body(pieces, i + 1)
            if stop != "end":
                raise TemplateError(f"unterminated {{{{{word}}}}}")
            out.append((word, names, pipe, body, else_body))
            i += 1
        else:
            m = re.match(r"^(\$[A-Za-z0-9_]*)\s*(:=|=)\s*(.*)$", act, re.S)
            if m:
                out.append(("set", m.group(1), _parse_pipe(m.group(3))))
            else:
                out.append(("out", _parse_pipe(act)))
            i += 1
    return out, i, None


def _tokens(src: str) -> list[tuple[str, str]]:
    toks = []
    pos = 0
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"cannot read {src[pos:]!r}")
        kind = m.lastgroup
        toks.append((kind, m.group(kind)))
        pos = m.end()
    return toks


def _parse_pipe(src: str):
    toks = _tokens(src)
    pipe, i = _pipe(toks, 0)
    if i != len(toks):
        raise TemplateError(f"unexpected {toks[i][1]!r} in {src!r}")
    return pipe


def _pipe(toks, i):
    cmds = []
    while True:
        cmd, i = _command(toks, i)
        if not cmd:
            raise TemplateError("empty command")
        cmds.append(cmd)
        if i < len(toks) and toks[i][0] == "pipe":
            i += 1
            continue
        return ("pipe", cmds), i


def _command(toks, i):
    args = []
    while i < len(toks) and toks[i][0] not in ("pipe", "rp"):
        kind, val = toks[i]
        if kind == "lp":
            sub, i = _pipe(toks, i + 1)
            if i >= len(toks) or toks[i][0] != "rp":
                raise TemplateError("missing )")
            args.append(sub)
            i += 1
            if i < len(toks) and toks[i][0] == "field" and toks[i][1].startswith("."):
                args[-1] = ("chain", args[-1], toks[i][1])
                i += 1
        elif kind == "str":
            args.append(("lit", json.loads(val) if val.startswith('"') else val[1:-1]))
            i += 1
        elif kind == "num":
            args.append(("lit", float(val) if "." in val else int(val)))
            i += 1
        elif kind == "field":
            args.append(("field", val))
            i += 1
        elif kind == "ident":
            lit = {"true": True, "false": False, "nil": None}
            if val not in lit and val not in _FUNCS:
                raise TemplateError(f'function "{val}" not defined')
            args.append(("lit", lit[val]) if val in lit else ("fn", val))
            i += 1
        else:
            raise TemplateError(f"unexpected {val!r}")
    return args, i


# ------------------------------------------------------------------ evaluation

def render(template: str | list, data) -> str:
    tree = parse(template) if isinstance(template, str) else template
    out: list[str] = []
    _run(tree, data, {"$": data}, out)
    return "".join(out)


def _run(body, dot, env, out):
    for node in body:
        if isinstance(node, str):
            out.append(node)
        elif node[0] == "out":
            out.append(_text(_eval_pipe(node[1], dot, env)))
        elif node[0] == "set":
            env[node[1]] = _eval_pipe(node[2], dot, env)
        elif node[0] == "if":
            for cond, branch in node[1]:
                if _truth(_eval_pipe(cond, dot, env)):
                    _run(branch, dot, dict(env), out)
                    break
            else:
                _run(node[2], dot, dict(env), out)
        elif node[0] == "with":
            v = _eval_pipe(node[2], dot, env)
            if _truth(v):
                e = dict(env)
                if node[1]:
                    e[node[1][-1]] = v
                _run(node[3], v, e, out)
            else:
                _run(node[4], dot, dict(env), out)
        elif node[0] == "range":
            v = _eval_pipe(node[2], dot, env)
            items = list(v.items()) if isinstance(v, dict) else list(enumerate(v)) if isinstance(v, (list, tuple)) \
                else list(enumerate(range(v))) if isinstance(v, int) and not isinstance(v, bool) else []
            if isinstance(v, dict):
                items.sort(key=lambda kv: str(kv[0]))
            if not items:
                _run(node[4], dot, dict(env), out)
            for k, item in items:
                e = dict(env)
                names = node[1]
                if len(names) == 1:
                    e[names[0]] = item
                elif len(names) == 2:
                    e[names[0]], e[names[1]] = k, item
                _run(node[3], item, e, out)


def _eval_pipe(pipe, dot, env):
    value = MISSING
    first = True
    for cmd in pipe[1]:
        value = _eval_cmd(cmd, dot, env, None if first else value, not first)
        first = False
    return value


def _eval_cmd(cmd, dot, env, piped, has_piped):
    head = cmd[0]
    if head[0] == "fn":
        args = [_eval_arg(a, dot, env) for a in cmd[1:]]
        if has_piped:
            args.append(piped)
        return _call(head[1], args)
    if len(cmd) > 1 or has_piped:
        raise TemplateError("only functions take arguments")
    return _eval_arg(head, dot, env)


def _eval_arg(arg, dot, env):
    kind = arg[0]
    if kind == "lit":
        return arg[1]
    if kind == "pipe":
        return _eval_pipe(arg, dot, env)
    if kind == "chain":
        return _walk(_eval_pipe(arg[1], dot, env), arg[2])
    if kind == "fn":
        return _call(arg[1], [])
    path = arg[1]
    if path == ".":
        return dot
    if path.startswith("$"):
        name, _, rest = path.partition(".")
        if name not in env:
            raise TemplateError(f"undefined variable {name}")
        return _walk(env[name], "." + rest) if rest else env[name]
    return _walk(dot, path)


def _walk(value, path: str):
    for name in [p for p in path.split(".") if p]:
        if isinstance(value, dict):
            value = value.get(name, MISSING)
        elif value is None or value is MISSING:
            return MISSING
        else:
            raise TemplateError(f"can't evaluate field {name} in type {_type(value)}")
    return value


def _type(v) -> str:
    return {str: "string", int: "int", float: "float64", bool: "bool", list: "[]interface {}"}.get(type(v), "value")


def _truth(v) -> bool:
    if v is MISSING or v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, (str, list, dict, tuple)):
        return len(v) > 0
    return True


def _text(v) -> str:
    if v is MISSING:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v == int(v) and abs(v) < 1e21 else repr(v)  # Go's %v of a float64
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{_text(v[k])}" for k in sorted(v, key=str)) + "]"
    return str(v)


def _call(name: str, args: list):
    fn = _FUNCS.get(name)
    if fn is None:
        raise TemplateError(f'function "{name}" not defined')
    try:
        return fn(*args)
    except TemplateError:
        raise
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise TemplateError(f"error calling {name}: {e}") from None


def _json(v) -> str:
    return json.dumps(None if v is MISSING else v, separators=(",", ":"), ensure_ascii=False)


def _index(v, *keys):
    for k in keys:
        if isinstance(v, dict):
            v = v.get(k, MISSING)
        elif isinstance(v, (list, tuple)):
            v = v[int(k)]
        else:
            return MISSING
    return v


def _printf(fmt: str, *args) -> str:
    # Go verbs that matter here: %s %d %v %q %f; width flags pass through.
    conv = re.sub(r"%(-?\d*(?:\.\d+)?)v", r"%\1s", fmt)
    conv = re.sub(r"%(-?\d*)q", r"%\1s", conv)
    vals = tuple(_text(a) if re.search(r"%-?\d*(?:\.\d+)?[sv]", fmt) and not isinstance(a, (int, float)) else a
                 for a in args)
    quoted = [i for i, m in enumerate(re.finditer(r"%-?\d*(?:\.\d+)?[a-z]", fmt)) if m.group(0).endswith("q")]
    vals = tuple(json.dumps(_text(v)) if i in quoted else v for i, v in enumerate(vals))
    return conv % vals


def _eq(a, *bs) -> bool:
    return any(a == b for b in bs)


_FUNCS = {
    "json": _json,
    "join": lambda items, sep: sep.join(_text(x) for x in (items or [])),
    "index": _index,
    "len": lambda v: 0 if v is MISSING or v is None else len(v),
    "lower": lambda s: _text(s).lower(),
    "upper": lambda s: _text(s).upper(),
    "title": lambda s: _text(s).title(),
    "split": lambda s, sep: _text(s).split(sep),
    "printf": _printf,
    "print": lambda *a: "".join(_text(x) for x in a),
    "println": lambda *a: " ".join(_text(x) for x in a) + "\n",
    "pad": lambda s, before, after: " " * int(before) + _text(s) + " " * int(after),
    "truncate": lambda s, n: _text(s)[:int(n)],
    "eq": _eq,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "and": lambda *a: next((x for x in a if not _truth(x)), a[-1] if a else True),
    "or": lambda *a: next((x for x in a if _truth(x)), a[-1] if a else False),
    "not": lambda a: not _truth(a),
}
