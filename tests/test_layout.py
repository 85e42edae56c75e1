"""The package's shape: no import cycles among our modules, no imports of our own modules hidden inside
functions (except in `cli/`, where lazy imports keep `perfbudget --help` fast), no module over 450 lines.

Python runs a package's `__init__` before any of its submodules, so `from . import sibling` inside a
package is an import of the package itself as much as of the sibling: it is modelled as both here, which is
how `playbooks/actions/__init__` importing its kinds while the kinds imported `.` made a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "exporter" / "perfbudget"
PACKAGE = "perfbudget"
MAX_LINES = 450
LAZY_ALLOWED = (f"{PACKAGE}.cli",)


def _module_name(path: Path) -> str:
    parts = [PACKAGE, *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


@dataclass(frozen=True)
class Import:
    source: str
    targets: tuple[str, ...]
    line: int
    function: str | None


def _resolve(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> tuple[str, ...]:
    """Our modules an import statement makes Python import."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - node.level + 1]
            target = ".".join([*base, *([node.module] if node.module else [])])
        else:
            target = node.module or ""
        names = [target]
        names += [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in MODULES]
    return tuple(name for name in names if name in MODULES)


def _imports(module: str, path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"

    def walk(node: ast.AST, function: str | None) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield from walk(child, child.name)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                targets = _resolve(module, is_package, child)
                if targets:
                    yield Import(module, targets, child.lineno, function)
            else:
                yield from walk(child, function)

    yield from walk(tree, None)


IMPORTS = [imp for module, path in MODULES.items() for imp in _imports(module, path)]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_layout_model_sees_a_cycle_when_there_is_one() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_among_our_modules() -> None:
    edges: dict[str, set[str]] = {}
    for imp in IMPORTS:
        edges.setdefault(imp.source, set()).update(t for t in imp.targets if t != imp.source)
    assert _cycles(edges) == []


def test_no_imports_of_our_own_modules_inside_functions_outside_the_cli() -> None:
    hidden = [
        f"{MODULES[imp.source].relative_to(ROOT)}:{imp.line} in {imp.function}(): {', '.join(imp.targets)}"
        for imp in IMPORTS
        if imp.function is not None and not imp.source.startswith(LAZY_ALLOWED)
    ]
    assert hidden == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_over_450_lines(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(ROOT)} has {lines} lines"


def test_no_module_imports_another_modules_private_names() -> None:
    private = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith(PACKAGE)):
                private += [f"{path.relative_to(ROOT)}:{node.lineno}: {alias.name}"
                            for alias in node.names if alias.name.startswith("_") and alias.name != "__version__"]
    assert private == []
