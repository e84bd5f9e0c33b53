"""dockyard push: docker's per-layer progress bars on a terminal, its plain
lines otherwise (progress.py, as pull)."""
import sys

from engine import Engine, parse_reference
from engine.errors import InvalidArgument, NotFound


def add_parsers(sub) -> None:
    p = sub.add_parser("push", help="upload an image to a registry")
    p.add_argument("image", metavar="NAME[:TAG]")
    p.add_argument("-a", "--all-tags", action="store_true", help="push every local tag of the repository")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the pushed reference")
    p.set_defaults(func=push)


def _printer(out, quiet: bool):
    if quiet:
        return None
    from .progress import ProgressPrinter
    return ProgressPrinter(out)   # docker's bars on a terminal, its plain lines otherwise


def push(eng: Engine, args) -> int:
    ref = parse_reference(args.image, default_tag=None)
    if ref.digest:
        raise InvalidArgument(f"cannot push a digest reference ({args.image}): push a tag")
    try:
        if args.all_tags:
            if ref.tag:
                raise InvalidArgument("tag can't be used with --all-tags/-a")
            refs = [ref.with_tag(t) for t in eng.local_tags(args.image)]
        else:
            if ref.tag is None and not args.quiet:
                print("Using default tag: latest", flush=True)
            refs = [ref if ref.tag else ref.with_tag("latest")]
        for r in refs:
            eng.push(str(r), progress=_printer(sys.stdout, args.quiet))
            if args.quiet:
                print(r.familiar(), flush=True)
    except NotFound as e:
        if not str(e).startswith("An image does not exist locally"):
            raise
        print(str(e), file=sys.stderr)   # docker's words and exit status
        return 1
    return 0
