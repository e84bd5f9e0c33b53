"""dockyard pull, and the implicit pull of run and create (--pull): docker's
per-layer progress bars on a terminal, its plain lines otherwise (progress.py)."""
import sys

from engine import Engine, parse_reference
from engine.errors import InvalidArgument, NotFound

POLICIES = ("missing", "always", "never")


def add_parsers(sub) -> None:
    p = sub.add_parser("pull", help="download an image from a registry")
    p.add_argument("image", metavar="NAME[:TAG|@DIGEST]")
    p.add_argument("-a", "--all-tags", action="store_true", help="download every tag of the repository")
    p.add_argument("--platform", help="os/arch[/variant] to pick from a multi-platform image")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image's name")
    p.set_defaults(func=pull)


def add_run_flags(p) -> None:
    """run and create: --pull and --platform (which image to pull)."""
    p.add_argument("--pull", default="missing", help="missing (the default), always or never")
    p.add_argument("--platform", help="os/arch[/variant] when the image is pulled")


def _printer(out, quiet: bool):
    if quiet:
        return None
    from .progress import ProgressPrinter
    return ProgressPrinter(out)


def _pull_one(eng: Engine, ref: str, platform, out, quiet: bool) -> str:
    return eng.pull(ref, platform=platform, progress=_printer(out, quiet))


def pull(eng: Engine, args) -> int:
    ref = parse_reference(args.image, default_tag=None)
    if not args.all_tags:
        _pull_one(eng, args.image, args.platform, sys.stdout, args.quiet)
        print(str(parse_reference(args.image).docker_ref()))
        return 0
    if ref.tag or ref.digest:
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    for tag in eng.remote_tags(args.image):
        _pull_one(eng, str(ref.with_tag(tag)), args.platform, sys.stdout, args.quiet)
    print(ref.name)
    return 0


def ensure_image(eng: Engine, image: str, policy: str, platform: str | None) -> None:
    """What run and create do before they create: pull when asked or missing."""
    if policy not in POLICIES:
        raise InvalidArgument(f'invalid pull policy {policy!r}: use "missing", "always" or "never"')
    if policy == "never":
        return
    if policy == "missing":
        try:
            eng.image(image)
            return
        except NotFound:
            pass
        try:
            shown = parse_reference(image).docker_ref().familiar()
        except InvalidArgument:
            return   # not a name (an id prefix): create says what is wrong
        print(f"Unable to find image '{shown}' locally", file=sys.stderr, flush=True)
    _pull_one(eng, image, platform, sys.stderr, False)
