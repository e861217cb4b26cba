"""The layers of docs/design.md: no import cycle (imports inside functions included), the import-linter contracts,
numeric free of SymPy at run time, no hand-written module over 600 lines."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path


import attngrad

ROOT = Path(attngrad.__file__).parent
GENERATED = ROOT / "numeric" / "generated"
#: the one allowed cycle: a node's __repr__ prints it (expr → printing), and the printer dispatches on node types
ALLOWED_CYCLES = [{"attngrad.derive.expr", "attngrad.derive.printing"}]


def sources(root: Path) -> list[Path]:
    """The package's Python files (not tests, a virtualenv or a build folder inside the checkout)."""
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ("tests", "build", "__pycache__") and not d.startswith(".")]
        out += [Path(folder) / f for f in files if f.endswith(".py")]
    return out


def module_name(path: Path, root: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module → the project modules it imports anywhere in its body (functions included). ``from p import x``
    counts as importing p.x when that is a module, else p; importing a package's submodule does not count as
    importing the package itself (Python runs its ``__init__`` first, but that is not a dependency of the code)."""
    modules = {module_name(p, root, package): p for p in sources(root)}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for me, path in modules.items():
        here = me if path.name == "__init__.py" else me.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = here
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                mod = ".".join(x for x in (base if node.level else "", node.module or "") if x)
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != me:
                    graph[me].add(t)
                    graph[me].update(entered_packages(me, t, modules))
    return graph


def entered_packages(me: str, target: str, modules: dict[str, Path]) -> set[str]:
    """The packages whose ``__init__`` importing ``target`` runs first: its ancestors that do not contain ``me``
    (those are being imported already). ``from a.b.c import x`` in a module outside a.b runs a/b/__init__.py."""
    out, parent = set(), target.rpartition(".")[0]
    while parent:
        if parent in modules and modules[parent].name == "__init__.py" and not me.startswith(parent + "."):
            out.add(parent)
        parent = parent.rpartition(".")[0]
    return out


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_sees_an_import_inside_a_function(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..a import g\n")
    (pkg / "c.py").write_text("from pkg import a\n")
    graph = import_graph(pkg, "pkg")
    assert graph["pkg.a"] == {"pkg.sub.b", "pkg.sub"} and graph["pkg.sub.b"] == {"pkg.a"} and graph["pkg.c"] == {"pkg.a"}
    assert cycles(graph) == [{"pkg.a", "pkg.sub.b"}]


def test_the_cycle_finder_sees_a_cycle_through_a_package_init(tmp_path):
    """a → pkg.sub.b runs pkg/sub/__init__.py, which imports c, which imports a: a cycle although no module
    imports the package itself."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .c import f\n")
    (pkg / "sub" / "b.py").write_text("x = 1\n")
    (pkg / "sub" / "c.py").write_text("from ..a import g\n")
    (pkg / "a.py").write_text("from .sub.b import x\n")
    graph = import_graph(pkg, "pkg")
    assert cycles(graph) == [{"pkg.a", "pkg.sub", "pkg.sub.c"}]


def test_no_import_cycle_in_the_project():
    graph = import_graph(ROOT, "attngrad")
    assert "attngrad.derive.papers.registry" in graph and graph["attngrad.derive.papers.registry"]
    found = [c for c in cycles(graph) if c not in ALLOWED_CYCLES]
    assert not found, f"import cycles: {found}"


def test_the_engine_imports_no_paper():
    graph = import_graph(ROOT, "attngrad")
    engine = [m for m in graph if m.startswith("attngrad.derive.") and not m.startswith("attngrad.derive.papers")]
    seen, todo = set(engine), list(engine)
    while todo:  # everything the engine reaches, indirectly too
        for w in graph[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    assert not [m for m in seen if m.startswith("attngrad.derive.papers")]


def test_import_linter_contracts_are_kept():
    """The contracts in pyproject.toml hold for the attngrad that is imported (installed or editable)."""
    from importlinter.cli import lint_imports

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    assert "[tool.importlinter]" in pyproject.read_text(encoding="utf-8")
    assert lint_imports(config_filenames=(str(pyproject),), no_cache=True, no_logo=True) == 0


def test_numeric_loads_no_sympy():
    code = ("import sys, attngrad.numeric, attngrad.numeric.lowrank, attngrad.numeric.simulate, "
            "attngrad.numeric.landscape, attngrad.numeric.bench; print(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('sympy', 'attngrad') and not m.startswith('attngrad.numeric') and m != 'attngrad'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = eval(out)
    assert "sympy" not in {m.split(".")[0] for m in loaded}
    assert not [m for m in loaded if m.startswith(("attngrad.derive", "attngrad.cli"))], loaded


def test_no_hand_written_module_over_600_lines():
    long = {str(p.relative_to(ROOT)): n for p in sources(ROOT)
            if GENERATED not in p.parents and (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert not long, long
