"""The package's shape: no import circles, small modules and functions, a core free of the benchmark.

The graph is read from the source with `ast`, imports inside functions included, so a circle
that a local import hides still shows. The allow-lists name today's exceptions; each entry must
still be one, so the lists only shrink.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "gnnimpute"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80

# The port of Splat (R's splatter) follows the original's steps one by one: left whole on purpose.
SPLAT_PORT = {"gnnimpute.data.simulate:simulate_splat"}

# Today's modules over MAX_MODULE_LINES; remove an entry when its module is split.
LONG_MODULES: set[str] = set()

# Today's functions over MAX_FUNCTION_LINES ("module:qualified.name"); remove when split.
LONG_FUNCTIONS: set[str] = set()

# Today's import circles (sorted members); remove an entry when its circle is broken.
KNOWN_CYCLES: set[tuple[str, ...]] = set()

# Imports of the benchmark from outside it: the CLI's lazy command group, loaded only by name.
BENCHMARK_IMPORTERS = {"gnnimpute.cli"}


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its __init__)."""
    found = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(module: str, level: int, target: str | None) -> str:
    """The absolute name of `from <level dots><target> import ...` written in `module`."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not _is_package(module):
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def _known(name: str) -> str | None:
    """The package's module that importing `name` loads last (itself, or its nearest parent)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str) -> set[str]:
    """The package's modules that `module` imports, at the top or inside functions."""
    tree = ast.parse(MODULES[module].read_text(), filename=str(MODULES[module]))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    found.add(_known(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node.level, node.module)
            if base.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                # `from . import x`: x may be a module; else it is a name in `base`
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else _known(base))
    found.discard(None)
    found.discard(module)
    return found


def import_graph() -> dict[str, set[str]]:
    return {module: imports_of(module) for module in MODULES}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def _functions(node: ast.AST, prefix: str = ""):
    """(qualified name, lines from `def` to the end) of every function under `node`."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{child.name}"
            if not isinstance(child, ast.ClassDef):
                # from `def`: a click command's option decorators are declarations
                yield name, child.end_lineno - child.lineno + 1
            yield from _functions(child, name + ".")
        else:
            yield from _functions(child, prefix)


def long_functions() -> dict[str, int]:
    """Every function or method over MAX_FUNCTION_LINES, by "module:qualified.name"."""
    found = {}
    for module, path in MODULES.items():
        for name, length in _functions(ast.parse(path.read_text(), filename=str(path))):
            if length > MAX_FUNCTION_LINES:
                found[f"{module}:{name}"] = length
    return found


def test_function_lengths_count_nested_and_methods():
    source = (
        "class A:\n    def m(self):\n        def inner():\n            pass\n        return 1\n"
    )
    assert dict(_functions(ast.parse(source))) == {"A.m": 4, "A.m.inner": 2}


def long_modules() -> dict[str, int]:
    found = {}
    for module, path in MODULES.items():
        n = len(path.read_text().splitlines())
        if n > MAX_MODULE_LINES:
            found[module] = n
    return found


def test_graph_reader_sees_imports_inside_functions():
    # the impute command loads the API only inside its functions: the graph must still hold that edge
    assert "gnnimpute.api" in imports_of("gnnimpute.cli_files")
    assert "gnnimpute.errors" in imports_of("gnnimpute.cli_files")


def test_cycle_finder_finds_a_planted_circle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    cycles = [c for c in find_cycles(import_graph()) if tuple(c) not in KNOWN_CYCLES]
    assert not cycles, "import circles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_known_cycle_allow_list_has_no_stale_entry():
    stale = KNOWN_CYCLES - {tuple(c) for c in find_cycles(import_graph())}
    assert not stale, f"circles gone or changed, remove from KNOWN_CYCLES: {stale}"


def test_no_module_over_the_line_limit():
    found = long_modules()
    new = {m: n for m, n in found.items() if m not in LONG_MODULES}
    assert not new, f"modules over {MAX_MODULE_LINES} lines (split them): {new}"


def test_long_module_allow_list_has_no_stale_entry():
    stale = LONG_MODULES - set(long_modules())
    assert not stale, f"no longer over {MAX_MODULE_LINES} lines, remove from LONG_MODULES: {stale}"


def test_no_function_over_the_line_limit():
    found = long_functions()
    new = {f: n for f, n in found.items() if f not in LONG_FUNCTIONS | SPLAT_PORT}
    assert not new, f"functions over {MAX_FUNCTION_LINES} lines (split them): {new}"


def test_long_function_allow_list_has_no_stale_entry():
    found = set(long_functions())
    stale = LONG_FUNCTIONS - found
    assert not stale, f"no longer long, remove from LONG_FUNCTIONS: {stale}"


def _defined(qualified: str) -> bool:
    module, _, name = qualified.partition(":")
    tree = ast.parse(MODULES[module].read_text())
    return any(
        isinstance(n, ast.FunctionDef) and n.name == name.split(".")[-1] for n in ast.walk(tree)
    )


def test_splat_port_exception_names_a_real_function():
    for qualified in SPLAT_PORT:
        assert _defined(qualified), f"{qualified} is gone: remove it from SPLAT_PORT"


@pytest.mark.parametrize(
    "module", sorted(m for m in MODULES if not m.startswith(f"{PACKAGE}.benchmark"))
)
def test_core_never_imports_the_benchmark(module):
    benchmark = {m for m in imports_of(module) if m.startswith(f"{PACKAGE}.benchmark")}
    if module in BENCHMARK_IMPORTERS:
        assert benchmark, (
            f"{module} no longer imports the benchmark: remove it from BENCHMARK_IMPORTERS"
        )
    else:
        assert not benchmark, f"{module} imports {sorted(benchmark)}"
