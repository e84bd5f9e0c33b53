"""User settings for the TUI (~/.config/dockyard/config.yaml) and the colour
themes (YAML files in themes/, loaded as Textual themes).

    theme: dockyard-dark          # a name from themes/ (or a Textual built-in)
    refresh_interval: 1.0         # seconds between two looks at the engine (0.2 .. 60)
    detach_keys: ctrl-p,ctrl-q    # docker's --detach-keys syntax, for attach
    root: /var/lib/dockyard       # the engine root when neither --root nor DOCKYARD_ROOT is given
    keys:                         # key overrides by binding id (see docs/keys.md)
      container.stop: x
      app.quit: ctrl+q
    console:
      shell: sh                   # what the exec console (O) and the shell (e) run: a string or a list
      allow_clipboard: false      # may programs in a console set the clipboard (OSC 52)?
    registries:                   # read by the engine (engine/registry/config.py, docs/registry.md)
      insecure: [registry.lan:5000]
      mirrors: [https://mirror.example.com]

A file that cannot be read, is not YAML or holds a wrong value never stops
the app: each problem becomes one message (shown as a notification) and the
default is used for what was wrong. Nothing here imports textual at module
level except `load_themes`, which is only called by the app."""
import os
import shlex
from dataclasses import dataclass, field

DEFAULT_THEME = "dockyard-dark"
# registries: read by the engine itself (engine/registry/config.py), not here
KNOWN_KEYS = ("theme", "refresh_interval", "detach_keys", "root", "keys", "console", "registries")
CONSOLE_KEYS = ("shell", "allow_clipboard")


@dataclass
class Config:
    theme: str = DEFAULT_THEME
    refresh_interval: float = 1.0
    detach_keys: str = "ctrl-p,ctrl-q"
    root: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    shell: list[str] = field(default_factory=lambda: ["sh"])   # console.shell
    allow_clipboard: bool = False  # console.allow_clipboard: programs' OSC 52 reaches the clipboard
    path: str | None = None        # the file it came from, if any


def config_path() -> str:
    """$DOCKYARD_CONFIG, else $XDG_CONFIG_HOME/dockyard/config.yaml, else ~/.config/dockyard/config.yaml."""
    explicit = os.environ.get("DOCKYARD_CONFIG")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "dockyard", "config.yaml")


def save_theme(name: str, path: str | None = None) -> str:
    """Writes `theme: NAME` into the settings file (made if missing), changing
    only that line: the user's comments and other settings stay as they are.
    Returns the file's path."""
    import json
    import re
    path = path or config_path()
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines(keepends=True)
    except FileNotFoundError:
        lines = []
    value = name if re.fullmatch(r"[A-Za-z0-9_.-]+", name) else json.dumps(name)
    new = f"theme: {value}\n"
    for i, line in enumerate(lines):
        if re.match(r"theme\s*:", line):  # the top-level setting (column 0)
            lines[i] = new
            break
    else:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.append(new)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(lines))
    os.replace(tmp, path)
    return path


def load_config(path: str | None = None) -> tuple[Config, list[str]]:
    """(settings, problems). A missing file is no problem: the defaults."""
    path = path or config_path()
    cfg = Config()
    problems: list[str] = []
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return cfg, problems
    except (OSError, UnicodeDecodeError) as e:
        return cfg, [f"cannot read {path}: {getattr(e, 'strerror', None) or e}; using the defaults"]
    cfg.path = path
    import yaml
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = ""
        mark = getattr(e, "problem_mark", None)
        if mark is not None:
            where = f" (line {mark.line + 1}, column {mark.column + 1})"
        why = getattr(e, "problem", None) or str(e).splitlines()[0]
        return cfg, [f"{path} is not valid YAML{where}: {why}; using the defaults"]
    if doc is None:
        return cfg, problems
    if not isinstance(doc, dict):
        return cfg, [f"{path} must be a mapping of settings (theme:, keys:, …), not a {type(doc).__name__}; "
                     "using the defaults"]

    def bad(name: str, want: str, value) -> None:
        problems.append(f"{path}: {name} must be {want}, not {value!r}; using the default")

    for k in doc:
        if k not in KNOWN_KEYS:
            problems.append(f"{path}: unknown setting {k!r} (known: {', '.join(KNOWN_KEYS)}); ignored")
    if "theme" in doc:
        v = doc["theme"]
        if isinstance(v, str) and v.strip():
            cfg.theme = v.strip()
        else:
            bad("theme", "a theme name", v)
    if "refresh_interval" in doc:
        v = doc["refresh_interval"]
        if isinstance(v, (int, float)) and not isinstance(v, bool) and 0.2 <= v <= 60:
            cfg.refresh_interval = float(v)
        else:
            bad("refresh_interval", "a number of seconds from 0.2 to 60", v)
    if "detach_keys" in doc:
        v = doc["detach_keys"]
        from .terminal import parse_detach_keys
        try:
            if not isinstance(v, str):
                raise ValueError
            parse_detach_keys(v)
            cfg.detach_keys = v
        except Exception:
            bad("detach_keys", "keys as docker's --detach-keys takes them (e.g. ctrl-p,ctrl-q)", v)
    if "root" in doc:
        v = doc["root"]
        if isinstance(v, str) and v.strip():
            cfg.root = os.path.expanduser(v.strip())
        elif v is not None:
            bad("root", "a directory path", v)
    if "keys" in doc:
        v = doc["keys"]
        if isinstance(v, dict):
            for bid, key in v.items():
                if isinstance(bid, str) and isinstance(key, str) and key.strip():
                    cfg.keys[bid] = key.strip()
                else:
                    problems.append(f"{path}: keys: {bid!r}: {key!r} must map a binding id to keys "
                                    "(e.g. container.stop: x); ignored")
        elif v is not None:
            bad("keys", "a mapping of binding ids to keys", v)
    if "console" in doc:
        v = doc["console"]
        if isinstance(v, dict):
            _console(v, cfg, bad, problems, path)
        elif v is not None:
            bad("console", "a mapping (shell:, allow_clipboard:)", v)
    return cfg, problems


def _console(v: dict, cfg: Config, bad, problems: list[str], path: str) -> None:
    for k in v:
        if k not in CONSOLE_KEYS:
            problems.append(f"{path}: unknown setting console.{k} (known: {', '.join(CONSOLE_KEYS)}); ignored")
    if "shell" in v:
        shell = parse_shell(v["shell"])
        if shell:
            cfg.shell = shell
        else:
            bad("console.shell", "a command, as a string (split like a shell does) or a list of strings",
                v["shell"])
    if "allow_clipboard" in v:
        a = v["allow_clipboard"]
        if isinstance(a, bool):
            cfg.allow_clipboard = a
        else:
            bad("console.allow_clipboard", "true or false", a)


def parse_shell(value) -> list[str] | None:
    """console.shell: "bash -l" (split with shlex) or ["bash", "-l"]; None if it is not a command."""
    if isinstance(value, str):
        try:
            args = shlex.split(value)
        except ValueError:
            return None
    elif isinstance(value, list) and all(isinstance(a, str) for a in value):
        args = list(value)
    else:
        return None
    return args if args and args[0].strip() else None


# -- themes ------------------------------------------------------------------

THEME_FIELDS = ("primary", "secondary", "warning", "error", "success", "accent", "foreground", "background",
                "surface", "panel", "boost")


def themes_dirs() -> list[str]:
    """The project's themes/ folder, then the user's ~/.config/dockyard/themes/."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return [os.path.join(here, "themes"), os.path.join(os.path.dirname(config_path()), "themes")]


def load_themes(dirs: list[str] | None = None):
    """([textual Theme], problems) from every *.yaml in `dirs`."""
    import yaml
    from textual.color import Color, ColorParseError
    from textual.theme import Theme
    themes, problems = [], []
    for d in dirs if dirs is not None else themes_dirs():
        try:
            names = sorted(n for n in os.listdir(d) if n.endswith((".yaml", ".yml")))
        except OSError:
            continue
        for n in names:
            path = os.path.join(d, n)
            try:
                with open(path, encoding="utf-8") as f:
                    doc = yaml.safe_load(f)
                if not isinstance(doc, dict):
                    raise ValueError("a theme file must be a mapping")
                name = doc.get("name") or os.path.splitext(n)[0]
                kw = {}
                for k in THEME_FIELDS:
                    if doc.get(k) is not None:
                        Color.parse(str(doc[k]))
                        kw[k] = str(doc[k])
                if "primary" not in kw:
                    raise ValueError("a theme needs at least a primary colour")
                variables = {str(k): str(v) for k, v in (doc.get("variables") or {}).items()}
                themes.append(Theme(name=str(name), dark=bool(doc.get("dark", True)), ansi=bool(doc.get("ansi", False)),
                                    luminosity_spread=float(doc.get("luminosity_spread", 0.15)),
                                    text_alpha=float(doc.get("text_alpha", 0.95)), variables=variables, **kw))
            except (OSError, ValueError, TypeError, yaml.YAMLError, ColorParseError) as e:
                problems.append(f"theme {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}; skipped")
    return themes, problems
