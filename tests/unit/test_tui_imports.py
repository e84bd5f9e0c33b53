"""The faces' contract with the engine: everything in tui/ (the app, its
widgets, dialogs and screens, its settings, the local terminal, the command
line) imports only `engine` (the facade and the names engine/__init__.py
exports) and `engine.errors`, at module level or inside functions."""
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
    return sorted(pathlib.Path(ROOT, "tui").rglob("*.py"))


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
