"""The TUI's contract with the engine: the app, its widgets, dialogs and
screens, its settings and the local terminal import only `engine` (the facade
and the names engine/__init__.py exports) and `engine.errors`, at module
level or inside functions. (The command line, tui/cli*, is checked with it
once it lives in tui/cli/.)"""
import ast
import pathlib

from tests.conftest import ROOT

ALLOWED = {"engine", "engine.errors"}


def _engine_imports(path: pathlib.Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.split(".")[0] == "engine"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "engine":
            out.append(node.module)
    return out


def _face_files() -> list[pathlib.Path]:
    tui = pathlib.Path(ROOT, "tui")
    files = [*tui.joinpath("app").rglob("*.py"), *tui.joinpath("widgets").rglob("*.py"),
             *tui.joinpath("dialogs").rglob("*.py"), *tui.joinpath("screens").rglob("*.py"),
             *tui.joinpath("vt").rglob("*.py"), tui / "config.py", tui / "terminal.py", tui / "fmt.py"]
    return [f for f in files if f.exists()]


def test_the_tui_imports_only_the_engine_facade_and_its_errors():
    files = _face_files()
    assert any(f.name == "console.py" for f in files) and any(f.parent.name == "app" for f in files)
    bad = {str(f.relative_to(ROOT)): sorted(set(m for m in _engine_imports(f) if m not in ALLOWED))
           for f in files}
    assert {f: m for f, m in bad.items() if m} == {}


def test_the_names_the_tui_takes_from_engine_are_exported():
    import engine
    for f in _face_files():
        for node in ast.walk(ast.parse(f.read_text(), str(f))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "engine":
                for a in node.names:
                    assert a.name in engine._EXPORTS, f"{f.relative_to(ROOT)}: engine.{a.name} is not exported"
