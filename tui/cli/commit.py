"""diff, commit, export and `image tree` on the command line."""
import json
import os
import stat
import sys

from engine import Engine
from engine.errors import InvalidArgument

from ..fmt import human_size, table


def _bool(s: str) -> bool:
    v = s.strip().lower()
    if v in ("1", "t", "true", "yes", "y", "on"):
        return True
    if v in ("0", "f", "false", "no", "n", "off"):
        return False
    raise ValueError(s)


_bool.__name__ = "bool"


def add_container_parsers(sub) -> None:
    """diff, commit and export, as `dockyard X` and `dockyard container X`."""
    p = sub.add_parser("diff", help="list the files a container added (A), changed (C) or deleted (D)")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=diff)

    p = sub.add_parser("commit", help="create a new image from a container's changes")
    p.add_argument("-a", "--author", help='author (e.g. "Jane Doe <jane@example.com>")')
    p.add_argument("-m", "--message", help="commit message")
    p.add_argument("-c", "--change", action="append", default=[], metavar="INSTRUCTION",
                   help="apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, "
                        "STOPSIGNAL, USER, VOLUME, WORKDIR")
    p.add_argument("--pause", type=_bool, nargs="?", const=True, default=True, metavar="true|false",
                   help="freeze the container during the commit (default true; --pause=false to not)")
    p.add_argument("-p", dest="pause", action="store_true", help="same as --pause=true")
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("ref", nargs="?", metavar="REPOSITORY[:TAG]")
    p.set_defaults(func=commit)

    p = sub.add_parser("export", help="write a container's filesystem as a tar archive")
    p.add_argument("-o", "--output", help="write to a file instead of standard output")
    p.add_argument("container", metavar="CONTAINER")
    p.set_defaults(func=export)


def add_image_parsers(sub) -> None:
    p = sub.add_parser("tree", help="show an image's layers, what each changes and the merged file tree")
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--layer", type=int, metavar="N", help="only layer N's changes (0 is the bottom; -1 the top)")
    p.add_argument("--json", action="store_true", help="the whole model as JSON")
    p.set_defaults(func=tree)


# ---------------------------------------------------------------- commands

def diff(eng: Engine, args) -> int:
    out = [f"{kind} {path}" for kind, path in eng.container_diff(args.container)]
    if out:
        print("\n".join(out))
    return 0


def commit(eng: Engine, args) -> int:
    iid = eng.commit(args.container, args.ref, message=args.message, author=args.author, changes=args.change,
                     pause=args.pause)
    print(iid)
    return 0


def export(eng: Engine, args) -> int:
    if args.output in (None, "-"):
        if sys.stdout.isatty():
            raise InvalidArgument("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        eng.export_container(args.container, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return 0
    tmp = f"{args.output}.dockyard-tmp"
    try:
        with open(tmp, "wb") as f:
            eng.export_container(args.container, f)
        os.replace(tmp, args.output)  # no half-written archive under the asked name
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return 0


_TYPE_BITS = {"file": stat.S_IFREG, "hardlink": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK,
              "char": stat.S_IFCHR, "block": stat.S_IFBLK, "fifo": stat.S_IFIFO}


def _mode(type_: str, mode: int) -> str:
    return stat.filemode(_TYPE_BITS.get(type_, 0) | mode)


def _size(type_: str, size: int) -> str:
    return "-" if type_ == "dir" else human_size(size)


def _target(c) -> str:
    if c.type == "symlink":
        return f" -> {c.linkname}"
    if c.type == "hardlink":
        return f" link to {c.linkname}"
    return ""


def _summary(t) -> str:
    return (f"Efficiency: {100 * t.efficiency:.4f} %   Wasted: {human_size(t.wasted_bytes)} ({t.wasted_bytes} bytes)"
            f"   User size: {human_size(t.user_size)}   Wasted of user size: {100 * t.wasted_user_percent:.4f} %")


def tree(eng: Engine, args) -> int:
    t = eng.layer_tree(args.image)
    layer = args.layer
    if layer is not None:
        n = len(t.layers)
        if not -n <= layer < n:
            raise InvalidArgument(f"the image has {n} layers: --layer takes 0 to {n - 1} (or -1 for the top)")
        layer %= n
    if args.json:
        print(json.dumps(t.as_dict(layer), indent=2))
        return 0
    img = eng.image(t.image_id)
    names = ", ".join(img.tags) or "<none>"
    if layer is not None:
        l = t.layers[layer]
        print(f"Layer {layer} of {img.short_id} ({names}): {l.created_by or '<missing>'}")
        print(f"{human_size(l.size)}, {l.added} added, {l.modified} modified, {l.removed} removed")
        rows = [[c.kind, _mode(c.type, c.mode), f"{c.uid}:{c.gid}", _size(c.type, c.size), c.path + _target(c)]
                for c in l.changes]
        if rows:
            print()
            print(table(["", "MODE", "UID:GID", "SIZE", "PATH"], rows))
        return 0
    print(f"Image {img.short_id} ({names}): {len(t.layers)} layers, {human_size(t.size)}, {t.file_count} files")
    print()
    print(table(["LAYER", "SIZE", "ADDED", "MODIFIED", "REMOVED", "CREATED BY"],
                [[str(l.index), human_size(l.size), str(l.added), str(l.modified), str(l.removed),
                  (l.created_by or "<missing>").replace("\n", " ")] for l in t.layers]))
    print()
    rows = []
    for node, prefix in _tree_lines(t):
        rows.append([t.change_kind(node), _mode(node.type, node.mode), f"{node.uid}:{node.gid}",
                     _size(node.type, node.size), str(node.layer),
                     prefix + node.path.rsplit("/", 1)[-1] + ("/" if node.type == "dir" else "") + _target(node)])
    print(table(["", "MODE", "UID:GID", "SIZE", "LAYER", "PATH"], rows))
    print()
    print(_summary(t))
    return 0


def _tree_lines(t):
    """(node, drawing prefix) depth first, like tree(1)."""
    stack = [(n, "", i == 0) for i, n in enumerate(reversed(t.children("/")))]
    while stack:
        node, indent, last = stack.pop()
        yield node, indent + ("└── " if last else "├── ")
        if node.type == "dir":
            kids = t.children(node.path)
            child_indent = indent + ("    " if last else "│   ")
            stack.extend((k, child_indent, i == 0) for i, k in enumerate(reversed(kids)))
