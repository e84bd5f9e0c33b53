"""engine/runtime is the bottom of the container side: it imports no module of
the layers above it (engine.containers, images, build, the faces), names no
face's module even as a string (the zygote's callables are registered by the
face), has no import circle among its modules (function-level imports
count: they are arrows too), and its monitor and zygote use the standard
library only, as does the container's init."""
import ast
import pathlib
import sys

from tests.conftest import ROOT

RUNTIME = pathlib.Path(ROOT, "engine", "runtime")
ALLOWED_BELOW = ("engine.runtime", "engine.errors", "engine.store")
# prefixes: the monitor's and the zygote's modules, and the container init's
# (init*, rootfs*, seccomp*, and what they use), which also runs after pivot_root
STDLIB_ONLY = ("monitor", "monitor_", "zygote", "cgroups", "protocol", "logs", "state", "ready",
               "init", "rootfs", "seccomp", "syscalls", "caps", "netns")


def _imports(path: pathlib.Path) -> set[str]:
    """Every module `path` imports, anywhere in it, as absolute names."""
    out = set()
    package = "engine.runtime"
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                mod = f"{base}.{node.module}" if node.module else base
                if node.module is None:  # from . import a, b
                    out |= {f"{base}.{a.name}" for a in node.names}
                    continue
            else:
                mod = node.module
            out.add(mod)
            # `from engine.runtime import x` names the module x
            if mod in ("engine.runtime",):
                out |= {f"{mod}.{a.name}" for a in node.names}
    return out


def _modules() -> dict[str, set[str]]:
    return {f"engine.runtime.{p.stem}": _imports(p) for p in RUNTIME.glob("*.py") if p.stem != "__init__"}


def test_runtime_imports_nothing_above_it():
    bad = {m: sorted(i for i in imps if i.split(".")[0] in ("engine", "tui") and not i.startswith(ALLOWED_BELOW)
                     and i != "engine")
           for m, imps in _modules().items()}
    assert not {m: b for m, b in bad.items() if b}


def test_runtime_names_no_face_module():
    for path in RUNTIME.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("tui."):
                raise AssertionError(f"{path.name}:{node.lineno} names {node.value!r}")


def test_no_import_circle_in_runtime():
    mods = _modules()
    graph = {m: {i for i in imps if i in mods and i != m} for m, imps in mods.items()}
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                raise AssertionError("import circle: " + " -> ".join(trail[trail.index(n):] + [n]))
            if n not in state:
                visit(n, trail + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_monitor_and_zygote_use_the_standard_library_only():
    for path in RUNTIME.glob("*.py"):
        if not path.stem.startswith(STDLIB_ONLY):
            continue
        for imp in _imports(path):
            top = imp.split(".")[0]
            assert top == "engine" or top in sys.stdlib_module_names, f"{path.name} imports {imp}"
