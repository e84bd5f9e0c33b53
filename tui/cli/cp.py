"""`dockyard cp`: docker's cp between a container (running or stopped) and the host."""
import sys

from engine import Engine
from engine.errors import DockyardError

USAGE = ("dockyard cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
         "       dockyard cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH")


def add_parser(sub) -> None:
    p = sub.add_parser("cp", help="copy files/folders between a container and the local filesystem", usage=USAGE,
                       description="Copy files/folders between a container and the local filesystem. Use '-' as "
                       "the source to read a tar archive from stdin and extract it to a directory destination in "
                       "a container. Use '-' as the destination to stream a tar archive of a container source "
                       "to stdout.")
    p.add_argument("-a", "--archive", action="store_true", help="archive mode (copy all uid/gid information)")
    p.add_argument("-L", "--follow-link", action="store_true", help="always follow symbol link in SRC_PATH")
    p.add_argument("-q", "--quiet", action="store_true", help="suppress progress output (there is none)")
    p.add_argument("source", metavar="SRC")
    p.add_argument("dest", metavar="DEST")
    p.set_defaults(func=cp)


def cp(eng: Engine, args) -> int:
    try:
        _cp(eng, args)
    except DockyardError as e:
        print(f"Error: {e}", file=sys.stderr)
        return 1
    return 0


def _cp(eng: Engine, args) -> None:
    from engine import CopyError, split_cp_arg
    if not args.source:
        raise CopyError("source can not be empty")
    if not args.dest:
        raise CopyError("destination can not be empty")
    src_c, src_p = split_cp_arg(args.source)
    dst_c, dst_p = split_cp_arg(args.dest)
    if src_c is not None and dst_c is not None:
        raise CopyError("copying between containers is not supported")
    if src_c is None and dst_c is None:
        raise CopyError("must specify at least one container source")
    if src_c is not None:
        if dst_p == "-":
            eng.copy_from_container(src_c, src_p, sys.stdout.buffer, follow=args.follow_link, archive=args.archive)
        else:
            eng.copy_from_container(src_c, src_p, dst_p, follow=args.follow_link, archive=args.archive)
    elif src_p == "-":
        eng.copy_to_container(dst_c, sys.stdin.buffer, dst_p, follow=args.follow_link, archive=args.archive)
    else:
        eng.copy_to_container(dst_c, src_p, dst_p, follow=args.follow_link, archive=args.archive)
