"""dockyard build, printing docker's plain progress."""
import json
import os
import sys
import time

from engine import Engine
from engine.errors import InvalidArgument


def add_parsers(sub) -> None:
    p = sub.add_parser("build", help="build an image from a Dockerfile")
    p.add_argument("-t", "--tag", action="append", default=[], metavar="NAME[:TAG]")
    p.add_argument("-f", "--file", metavar="FILE", help="the Dockerfile (default CONTEXT/Dockerfile; - for stdin)")
    p.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--target", metavar="STAGE")
    p.add_argument("--no-cache", action="store_true")
    p.add_argument("--pull", action="store_true", help="always pull a newer version of the FROM images")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the image id")
    p.add_argument("--network", default="none", choices=["none", "host", "bridge", "default"],
                   help="the RUN steps' network: none (the default for now), host, or bridge (NAT)")
    p.add_argument("--progress", default="plain", choices=["plain", "auto", "tty", "quiet"])
    p.add_argument("--check", action="store_true", help="parse and validate the Dockerfile, build nothing")
    p.add_argument("--format", choices=["text", "json"], default="text", help="with --check: json prints the "
                   "parsed instructions")
    p.add_argument("context", metavar="CONTEXT", help="a directory, or - for a tar on stdin")
    p.set_defaults(func=build)
    builder = sub.add_parser("builder", help="manage the build cache")
    bs = builder.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    p = bs.add_parser("prune", help="remove the build cache")
    p.add_argument("-a", "--all", action="store_true", help="accepted for docker's sake: all of it goes either way")
    p.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=builder_prune)


def builder_prune(eng: Engine, args) -> int:
    if not args.force and sys.stdin.isatty():
        ans = input("WARNING! This will remove all dangling build cache.\nAre you sure you want to continue? [y/N] ")
        if ans.strip().lower() not in ("y", "yes"):
            return 0
    from ..fmt import human_size
    removed, reclaimed = eng.prune_build_cache()
    if removed:
        print("Deleted build cache objects:")
        for iid in removed:
            print(iid.split(":", 1)[-1])
        print()
    print(f"Total reclaimed space: {human_size(reclaimed)}")
    return 0


def _build_args(items: list[str]) -> dict:
    out = {}
    for item in items:
        k, eq, v = item.partition("=")
        if not k:
            raise InvalidArgument(f"invalid --build-arg {item!r}")
        if not eq:
            if k not in os.environ:
                continue
            v = os.environ[k]
        out[k] = v
    return out


def build(eng: Engine, args) -> int:
    import io
    import shutil
    import tarfile
    import tempfile

    from engine import BuildError, read_dockerfile
    from engine import check_dockerfile as check_text
    tmp = None
    try:
        text = None
        if args.file == "-":
            text = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
        if args.context == "-":
            if args.file == "-":
                raise InvalidArgument("the context and the Dockerfile cannot both come from stdin")
            tmp = tempfile.mkdtemp(prefix="dockyard-context-")
            data = sys.stdin.buffer.read()
            try:
                with tarfile.open(fileobj=io.BytesIO(data)) as tf:
                    try:
                        tf.extractall(tmp, filter="data")
                    except TypeError:
                        tf.extractall(tmp)
            except tarfile.TarError:  # docker: a plain Dockerfile on stdin, empty context
                text = data.decode("utf-8", "surrogateescape")
            context = tmp
        else:
            context = args.context
        if args.check:
            if text is None:
                text, name, _ = read_dockerfile(os.path.abspath(context), args.file)
            else:
                name = "Dockerfile"
            df = check_text(text, name)
            if args.format == "json":
                print(json.dumps(df.as_dict(), indent=2))
            else:
                print(f"{name}: {len(df.instructions)} instructions, no problems found")
            return 0
        printer = _Plain(sys.stderr if not args.quiet else None)
        try:
            iid = eng.build(context, dockerfile=None if args.file == "-" else args.file, tags=args.tag,
                            build_args=_build_args(args.build_arg), target=args.target, no_cache=args.no_cache,
                            progress=printer, network=args.network, dockerfile_text=text, pull=args.pull)
        except BuildError as e:
            print(f"ERROR: {e}", file=sys.stderr)
            return e.exit_code
        if args.quiet:
            print(iid)
        else:
            printer.finish(iid, args.tag)
        return 0
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


class _Plain:
    """docker's --progress=plain: `#N [stage i/n] INSTR`, output lines, `#N CACHED`, `#N DONE 0.3s`."""

    def __init__(self, out):
        self.out = out
        self.t0 = {}

    def __call__(self, ev) -> None:
        if self.out is None:
            return
        w = self.out.write
        if ev.kind == "start":
            self.t0[ev.step] = time.monotonic()
            w(f"#{ev.step} {ev.name}\n")
        elif ev.kind == "cached":
            w(f"#{ev.step} CACHED\n\n")
        elif ev.kind == "output":
            el = time.monotonic() - self.t0.get(ev.step, time.monotonic())
            w(f"#{ev.step} {el:.3f} {ev.text}\n")
        elif ev.kind == "done":
            w(f"#{ev.step} DONE {ev.elapsed:.1f}s\n\n")
        elif ev.kind == "error":
            w(f"#{ev.step} ERROR: {ev.text}\n")
        self.out.flush()

    def finish(self, iid: str, tags: list[str]) -> None:
        if self.out is None:
            return
        self.out.write(f"#0 writing image {iid} done\n")
        for t in tags:
            self.out.write(f"#0 naming to {t} done\n")
        self.out.flush()
        print(iid)
