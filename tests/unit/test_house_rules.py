"""The house's rules, checked with the suite so that they cannot drift: the
import contracts in pyproject.toml ([tool.importlinter]: the engine never
imports a face, the faces go through the engine's door, the engine's layers
point down, no import circles), ruff clean with the project's configuration,
and modules small enough to read."""
import pathlib
import subprocess
import sys

from tests.conftest import ROOT

MAX_LINES = 500  # "no file in engine/ or tui/ over ~500 lines"


def _tool(name: str) -> str:
    path = pathlib.Path(sys.executable).with_name(name)
    assert path.exists(), f"{name} is not installed in the venv (pyproject's test extra has it)"
    return str(path)


def test_import_contracts_are_kept():
    out = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_import_contracts_catch_a_face_reaching_inside(tmp_path):
    # The contracts are only worth something if a breach is seen: a copy of the
    # tree where a widget imports the runtime directly must fail them.
    import shutil
    for name in ("engine", "tui"):
        shutil.copytree(pathlib.Path(ROOT, name), tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(pathlib.Path(ROOT, "pyproject.toml"), tmp_path)
    with open(tmp_path / "tui" / "widgets" / "__init__.py", "a") as f:
        f.write("\nfrom engine.runtime import protocol  # noqa\n")
    out = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=tmp_path, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    assert out.returncode == 1
    assert "tui.widgets -> engine.runtime.protocol" in out.stdout


def test_ruff_is_clean():
    out = subprocess.run([_tool("ruff"), "check", "--no-cache", "engine", "tui", "tests", "bench"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_modules_are_small():
    big = []
    for tree in ("engine", "tui"):
        for path in sorted(pathlib.Path(ROOT, tree).rglob("*.py")):
            n = path.read_text().count("\n")
            if n > MAX_LINES:
                big.append(f"{path.relative_to(ROOT)}: {n} lines")
    assert not big, "split these along their seams: " + ", ".join(big)
