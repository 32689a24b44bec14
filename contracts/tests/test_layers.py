"""The package's layout: four parts by role, each importing only the parts below it, with no import cycle."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "housing_contracts"
#: Each part, bottom first: a module may import its own part and the parts before it.
LAYERS = ("contract", "lake", "consumers", "airflow", "testing", "cli")


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module of the package that ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("housing_contracts.")}


def _part(module: str) -> str:
    return module.split(".")[1]


MODULES = {_module(path): _imports(path) for path in PACKAGE.rglob("*.py")}


def test_each_part_is_a_subpackage_or_a_top_module() -> None:
    """Every module belongs to one of the parts, so the layout shows every file's role."""
    assert {_part(module) for module in MODULES if module != "housing_contracts"} == set(LAYERS)


def test_imports_point_down_the_layers() -> None:
    """A part imports itself and the parts below it, never one above (contract < lake < consumers < ...)."""
    upward = [
        f"{module} imports {imported}"
        for module, imported_modules in MODULES.items()
        if module != "housing_contracts"
        for imported in imported_modules
        if LAYERS.index(_part(imported)) > LAYERS.index(_part(module))
    ]
    assert upward == []


def test_no_import_cycle_between_modules() -> None:
    """The modules' imports, function-level ones included, form no cycle."""
    graph = {module: {name for name in imported if name in MODULES} for module, imported in MODULES.items()}
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle: {' -> '.join(exc.args[1])}") from None
