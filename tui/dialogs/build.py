"""docker build, as a form: context folder, Dockerfile, tags, build args,
--no-cache, the network of the RUN steps."""
import os
import re

from textual.widgets import Checkbox, Input, RadioButton, RadioSet, TextArea

from .base import Dialog, label, note


def split_tags(text: str) -> list[str]:
    """Tags separated by commas and/or spaces."""
    return [t for t in re.split(r"[,\s]+", text.strip()) if t]


def parse_build_args(text: str) -> dict:
    """KEY=VALUE lines (blank lines and # comments skipped); the value is kept as written."""
    out = {}
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        k, eq, v = s.partition("=")
        k = k.strip()
        if not eq or not k or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):
            raise ValueError(f"build args, line {n}: {s!r} is not KEY=VALUE")
        out[k] = v
    return out


class BuildDialog(Dialog):
    """Dismisses with {"context", "dockerfile", "tags", "build_args", "no_cache", "network"} or None."""

    TITLE = "Build an image"
    OK = "Build"

    def __init__(self, context: str = "", dockerfile: str = "", tags: str = "") -> None:
        super().__init__()
        self.context, self.dockerfile, self.tags = context, dockerfile, tags

    def compose_fields(self):
        yield label("context folder", first=True)
        yield Input(value=self.context, placeholder="/path/to/context", id="context")
        yield label("Dockerfile (empty: CONTEXT/Dockerfile; a relative path is looked up from here, then in CONTEXT)")
        yield Input(value=self.dockerfile, placeholder="CONTEXT/Dockerfile", id="dockerfile")
        yield label("tags (NAME[:TAG], separated by commas or spaces; empty: untagged)")
        yield Input(value=self.tags, placeholder="e.g. myapp:1.0, myapp:latest", id="tags")
        yield label("build args (KEY=VALUE, one a line)")
        ta = TextArea("", id="build-args", soft_wrap=True, show_line_numbers=False)
        ta.styles.height = 3
        yield ta
        yield Checkbox("--no-cache: run every step again", id="no-cache")
        yield label("network of the RUN steps")
        with RadioSet(id="network"):
            yield RadioButton("none", value=True, id="net-none")
            yield RadioButton("host", id="net-host")
        yield note("ctrl+s: build   esc: cancel")

    def on_mount(self) -> None:
        self.query_one("#context", Input).focus()

    def result(self):
        raw = self.query_one("#context", Input).value.strip()
        if not raw:
            raise ValueError("give the context folder")
        context = os.path.abspath(os.path.expanduser(raw))
        if not os.path.isdir(context):
            raise ValueError(f"no such folder: {context}")
        df = os.path.expanduser(self.query_one("#dockerfile", Input).value.strip()) or None
        if df is None:
            if not (os.path.isfile(os.path.join(context, "Dockerfile"))
                    or os.path.isfile(os.path.join(context, "dockerfile"))):
                raise ValueError(f"no Dockerfile in {context}")
        else:
            found = df if os.path.isabs(df) or os.path.exists(df) else os.path.join(context, df)
            if not os.path.isfile(found):
                raise ValueError(f"no such Dockerfile: {df}")
            df = os.path.abspath(found)
        tags = split_tags(self.query_one("#tags", Input).value)
        from engine import parse_reference
        for t in tags:
            try:
                r = parse_reference(t)
            except Exception as e:
                raise ValueError(f"tags: {t!r}: {e}") from None
            if getattr(r, "digest", None):
                raise ValueError(f"tags: {t!r}: a tag cannot carry a digest")
        args = parse_build_args(self.query_one("#build-args", TextArea).text)
        return {"context": context, "dockerfile": df, "tags": tags, "build_args": args,
                "no_cache": self.query_one("#no-cache", Checkbox).value,
                "network": "host" if self.query_one("#net-host", RadioButton).value else "none"}
