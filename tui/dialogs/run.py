"""docker run, as a form: name, command, env, volumes, network, -it, --rm."""
import shlex

from textual.containers import Horizontal
from textual.widgets import Checkbox, Input, RadioButton, RadioSet

from .base import Dialog, label, note


def split_words(text: str, what: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as e:
        raise ValueError(f"{what}: {e} (quote as in a shell)") from None


class RunDialog(Dialog):
    """Dismisses with a RunOptions and whether to attach now (-it), or None."""

    TITLE = "Run a container"
    OK = "Run"

    def __init__(self, image: str, default_cmd: str = "") -> None:
        super().__init__()
        self.image = image
        self.default_cmd = default_cmd

    def compose_fields(self):
        yield note(f"image: {self.image}")
        yield label("name (empty: a generated one)")
        yield Input(placeholder="e.g. web", id="name")
        yield label("command (empty: the image's" + (f": {self.default_cmd})" if self.default_cmd else ")"))
        yield Input(placeholder="e.g. sh -c 'echo hi; sleep 60'", id="command")
        yield label("environment (KEY=VALUE …, shell quoting)")
        yield Input(placeholder="e.g. A=1 B='two words'", id="env")
        yield label("volumes (SRC:DST[:ro] …)")
        yield Input(placeholder="e.g. /srv/data:/data myvol:/cache:ro", id="volumes")
        yield label("network")
        with RadioSet(id="network"):
            yield RadioButton("none", value=True, id="net-none")
            yield RadioButton("host", id="net-host")
        with Horizontal(classes="compact-row"):
            yield Checkbox("-it: a terminal, attached now", id="it")
            yield Checkbox("--rm: remove when it exits", id="rm")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def result(self):
        from engine import RunOptions
        name = self.query_one("#name", Input).value.strip() or None
        cmd = split_words(self.query_one("#command", Input).value, "command") or None
        env = split_words(self.query_one("#env", Input).value, "environment")
        for e in env:
            if "=" not in e and not e.isidentifier():
                raise ValueError(f"environment: {e!r} is not KEY=VALUE")
        vols = split_words(self.query_one("#volumes", Input).value, "volumes")
        for v in vols:
            if ":" not in v:
                raise ValueError(f"volumes: {v!r} is not SRC:DST")
        it = self.query_one("#it", Checkbox).value
        rm = self.query_one("#rm", Checkbox).value
        network = "host" if self.query_one("#net-host", RadioButton).value else "none"
        opts = RunOptions(image=self.image, command=cmd, name=name, env=env, volumes=vols, network=network,
                          tty=it, interactive=it, autoremove=rm)
        return {"options": opts, "attach": it}
