"""dockyard events: docker's, from the store's events table (containers:
create, start, kill, stop, die, destroy, pause, unpause, rename; images:
load, import, tag, untag, delete...). Without --until it follows until
interrupted, as docker does."""
import sys
import time

from engine import Engine
from engine.errors import InvalidArgument

FILTERS = ("type", "event", "container", "image")


def add_parsers(sub) -> None:
    p = sub.add_parser("events", help="show what happens to containers and images")
    p.add_argument("--since", help="a time (RFC3339, unix seconds) or a duration before now (10m)")
    p.add_argument("--until", help="the same; without it, follow until interrupted")
    p.add_argument("-f", "--filter", action="append", default=[], help="type=, event=, container=, image=")
    p.add_argument("--format", help="json, or a Go template: '{{.Action}} {{.Actor.ID}}'")
    p.set_defaults(func=events)


def events(eng: Engine, args) -> int:
    from engine import parse_time_arg
    want: dict[str, list[str]] = {}
    for f in args.filter:
        k, _, v = f.partition("=")
        if k not in FILTERS or not v:
            raise InvalidArgument(f"invalid filter {f!r}: use {', '.join(x + '=' for x in FILTERS)}")
        want.setdefault(k, []).append(v)
    since = parse_time_arg(args.since)
    until = parse_time_arg(args.until)
    if since is None and until is None:
        since = time.time()  # as docker: following shows what happens from now on
    tree = None
    if args.format and args.format.strip() != "json":
        from .format import _compile
        tree = _compile(args.format)
    for e in eng.events(since=since, until=until, follow=until is None):
        if not _matches(eng, e, want):
            continue
        doc = docker_event(e)
        if args.format and args.format.strip() == "json":
            import json
            print(json.dumps(doc))
        elif tree is not None:
            from .format import _render
            print(_render(tree, doc))
        else:
            attrs = ", ".join(f"{k}={v}" for k, v in sorted(doc["Actor"]["Attributes"].items()))
            print(f"{_stamp(e['time'])} {e['type']} {e['action']} {e['id']}" + (f" ({attrs})" if attrs else ""))
        sys.stdout.flush()
    return 0


def docker_event(e: dict) -> dict:
    """An event as docker's API gives it."""
    attrs = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in (e.get("attrs") or {}).items()}
    ns = int(e["time"] * 1e9)
    doc = {"Type": e["type"], "Action": e["action"], "Actor": {"ID": e["id"], "Attributes": attrs},
           "scope": "local", "time": ns // 1_000_000_000, "timeNano": ns}
    if e["type"] == "container":
        doc.update(status=e["action"], id=e["id"], **({"from": attrs["image"]} if "image" in attrs else {}))
    return doc


def _matches(eng: Engine, e: dict, want: dict) -> bool:
    if "type" in want and e["type"] not in want["type"]:
        return False
    if "event" in want and e["action"] not in want["event"]:
        return False
    if "container" in want:
        if e["type"] != "container":
            return False
        name = (e.get("attrs") or {}).get("name", "")
        if not any(e["id"].startswith(v) or name == v.lstrip("/") for v in want["container"]):
            return False
    if "image" in want:
        attrs = e.get("attrs") or {}
        names = {attrs.get("image"), attrs.get("name")} if e["type"] == "image" else {attrs.get("image")}
        if not any(e["id"].startswith(v) or e["id"].startswith("sha256:" + v) or v in names
                   for v in want["image"]):
            return False
    return True


def _stamp(t: float) -> str:
    """docker's event time: RFC3339 with nanoseconds, in UTC."""
    ns = int(round(t * 1e9))
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"
