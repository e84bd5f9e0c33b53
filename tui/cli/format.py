"""docker's `--format` for listing and inspecting: `json` (one object a
line), `table TEMPLATE` (a header row, columns aligned as docker's
tabwriter), or a Go template (tui/cli/gotemplate.py) printed once per object.
In the template `\\t` and `\\n` written literally mean a tab and a newline,
as in docker."""
import json

from engine.errors import InvalidArgument

from ..fmt import table

# docker's column headers for the fields of `ps` and `images`
PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
              "Names": "NAMES", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS"}
IMAGE_HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
                 "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "SharedSize": "SHARED SIZE",
                 "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE", "Containers": "CONTAINERS"}


def _compile(fmt: str):
    from .gotemplate import TemplateError, parse
    text = fmt.replace("\\t", "\t").replace("\\n", "\n")
    try:
        return parse(text)
    except TemplateError as e:
        raise InvalidArgument(f"template parsing error: {e}") from None


def _render(tree, obj) -> str:
    from .gotemplate import TemplateError, render
    try:
        return render(tree, obj)
    except TemplateError as e:
        raise InvalidArgument(f"template: {e}") from None


def is_custom(fmt: str | None) -> bool:
    """A --format this module handles (anything but absent and "table")."""
    return bool(fmt) and fmt.strip() != "table"


def print_objects(objects: list[dict], fmt: str, headers: dict[str, str]) -> None:
    """`objects`: what `--format json` prints (docker's field names)."""
    fmt = fmt.strip()
    if fmt == "json":
        for o in objects:
            print(json.dumps(o))
        return
    if fmt.startswith("table"):
        tree = _compile(fmt[len("table"):].strip())
        header = _render(tree, _Headers(headers))
        rows = [header] + [_render(tree, o) for o in objects]
        split = [r.split("\t") for r in rows]
        width = max(len(r) for r in split)
        split = [r + [""] * (width - len(r)) for r in split]
        print(table(split[0], split[1:]))
        return
    tree = _compile(fmt)
    for o in objects:
        print(_render(tree, o))


def print_inspect(docs: list[dict], fmt: str | None) -> None:
    """`inspect`: the JSON array, or the template once per object."""
    if not fmt:
        print(json.dumps(docs, indent=4))
        return
    if fmt.strip() == "json":
        print(json.dumps(docs))
        return
    tree = _compile(fmt)
    for d in docs:
        print(_render(tree, d))


class _Headers(dict):
    """What a `table` template renders its header row from: every field is
    its column's name (docker's, or the field's name in capitals)."""

    def __init__(self, names: dict[str, str]):
        super().__init__()
        self.names = names

    def get(self, key, default=None):
        return self.names.get(key, key.upper())
