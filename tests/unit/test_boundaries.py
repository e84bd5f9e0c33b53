"""The engine is a library that never pulls in the UI: importing it, and using
it, loads no textual (and the CLI's common paths load neither textual nor
pyroute2, which cost 200 ms each at start)."""
import subprocess
import sys

from tests.conftest import ROOT


def _modules_after(code: str, env: dict | None = None) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, cwd=ROOT, check=True, env=env).stdout
    return set(out.split())


def test_import_engine_loads_no_textual(tmp_path):
    mods = _modules_after(f"import engine, engine.images.transfer, engine.images.check\n"
                          f"e = engine.Engine({str(tmp_path / 'r')!r}); e.images(); e.check()")
    assert "engine" in mods
    assert not {m for m in mods if m == "textual" or m.startswith("textual.")}


def test_cli_images_path_is_light(tmp_path):
    mods = _modules_after(f"import sys; sys.argv = ['dockyard', '--root', {str(tmp_path / 'r')!r}, 'images']\n"
                          "import tui.cli; tui.cli.main(sys.argv[1:])")
    assert "tui.cli" in mods
    assert not {m for m in mods if m.split('.')[0] in ("textual", "pyroute2")}


def test_dockyard_ps_hands_over_and_loads_almost_nothing(tmp_path):
    # `dockyard` asks the store's zygote for a worker that has the command line
    # and the engine loaded: it must itself load neither (docs/cli.md)
    import os

    import engine
    r = str(tmp_path / "r")
    engine.Engine(r).close()
    env = {k: v for k, v in os.environ.items() if k != "DOCKYARD_ZYGOTE"}
    code = f"import sys\nimport tui.cli; tui.cli.main(['--root', {r!r}, 'ps'])"
    _modules_after(code, env)  # the first starts the store's zygote
    mods = _modules_after(code, env)
    assert {"tui.cli", "tui.cli.worker_proto", "engine.runtime.zygote"} <= mods  # it did hand over
    heavy = {"argparse", "json", "sqlite3", "warnings", "importlib", "typing", "tui.cli.parser", "tui.cli.commands",
             "tui.cli.containers", "engine.facade", "engine.store"}
    assert not mods & heavy


def test_the_cli_imports_only_engine_and_its_errors():
    # the contract of a face: engine's exported names (engine/__init__.py's
    # _EXPORTS) and engine.errors, never the engine's modules
    import ast
    import pathlib

    import engine
    for path in pathlib.Path(ROOT, "tui", "cli").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                bad = [a.name for a in node.names if a.name.startswith("engine.") and a.name != "engine.errors"]
                assert not bad, f"{path}:{node.lineno} imports {bad}"
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("engine"):
                assert node.module in ("engine", "engine.errors"), f"{path}:{node.lineno} imports {node.module}"
                if node.module == "engine":
                    missing = [a.name for a in node.names if a.name not in engine.__all__]
                    assert not missing, f"{path}:{node.lineno}: engine does not export {missing}"


def test_no_engine_module_mentions_textual():
    import pathlib
    import re
    pattern = re.compile(r"^\s*(import|from)\s+textual\b", re.M)
    for path in pathlib.Path(ROOT, "engine").rglob("*.py"):
        assert not pattern.search(path.read_text()), f"{path} imports textual"


def test_pyte_is_not_a_runtime_dependency():
    # Only the emulator benchmark and one comparison test use pyte: installing
    # dockyard must not pull it in, and nothing the user runs may import it.
    import pathlib
    import re
    import tomllib
    meta = tomllib.loads(pathlib.Path(ROOT, "pyproject.toml").read_text())["project"]
    assert not [d for d in meta["dependencies"] if re.match(r"pyte\b", d)]
    assert any(re.match(r"pyte\b", d) for d in meta["optional-dependencies"]["bench"])
    pattern = re.compile(r"^\s*(import|from)\s+pyte\b", re.M)
    for tree in ("engine", "tui"):
        for path in pathlib.Path(ROOT, tree).rglob("*.py"):
            assert not pattern.search(path.read_text()), f"{path} imports pyte"
