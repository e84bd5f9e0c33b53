"""Paths for import and save."""
import os

from textual.widgets import Input, RadioButton, RadioSet

from .base import Dialog, label, note


class ImportDialog(Dialog):
    """dockyard import FILE [REF], or load -i FILE: a rootfs tar or an image archive."""

    TITLE = "Import an image"
    OK = "Import"

    def compose_fields(self):
        yield label("file (a rootfs tar for import, or a docker-archive / OCI archive to load)", first=True)
        yield Input(placeholder="/path/to/file.tar", id="path")
        with RadioSet(id="how"):
            yield RadioButton("import a rootfs tar as a one-layer image", value=True, id="how-import")
            yield RadioButton("load an image archive (docker save / OCI)", id="how-load")
        yield label("name for an imported rootfs (REPOSITORY[:TAG], optional)")
        yield Input(placeholder="e.g. myrootfs:latest", id="ref")

    def result(self):
        path = os.path.expanduser(self.query_one("#path", Input).value.strip())
        if not path:
            raise ValueError("give the path of a file")
        if not os.path.isfile(path):
            raise ValueError(f"no such file: {path}")
        how = "load" if self.query_one("#how-load", RadioButton).value else "import"
        return {"path": path, "how": how, "ref": self.query_one("#ref", Input).value.strip() or None}


class SaveDialog(Dialog):
    TITLE = "Save images"
    OK = "Save"

    def __init__(self, refs: list[str], default_dir: str | None = None) -> None:
        super().__init__()
        self.refs = refs
        self.default_dir = default_dir or os.getcwd()

    def compose_fields(self):
        yield note("images: " + ", ".join(self.refs))
        name = self.refs[0].replace("/", "_").replace(":", "_") + ".tar" if len(self.refs) == 1 else "images.tar"
        yield label("write to")
        yield Input(value=os.path.join(self.default_dir, name), id="path")
        with RadioSet(id="format"):
            yield RadioButton("docker-archive (docker load, podman load)", value=True, id="fmt-docker")
            yield RadioButton("OCI archive", id="fmt-oci")

    def result(self):
        path = os.path.expanduser(self.query_one("#path", Input).value.strip())
        if not path:
            raise ValueError("give the path of the file to write")
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise ValueError(f"no such folder: {parent}")
        fmt = "oci-archive" if self.query_one("#fmt-oci", RadioButton).value else "docker-archive"
        return {"path": path, "format": fmt}
