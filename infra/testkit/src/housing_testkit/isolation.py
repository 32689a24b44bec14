"""What a project's modules import: to keep test modules off packages they must not lean on, and a
package's layers pointing one way, without a cycle."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path


def module_imports(path: Path, package: str) -> set[str]:
    """The modules of ``package`` (or its submodules) that the file at ``path`` imports, at the top or
    inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name == package or name.startswith(f"{package}.")}


def imports_of(folder: str | Path, package: str) -> set[str]:
    """``"<file>: <module>"`` for each import of ``package`` (or a submodule) under ``folder``."""
    folder = Path(folder)
    return {
        f"{path.relative_to(folder)}: {module}"
        for path in folder.rglob("*.py")
        for module in module_imports(path, package)
    }


def package_imports(package_dir: str | Path, package: str | None = None) -> dict[str, set[str]]:
    """Each module of the package in ``package_dir`` (dotted, a subpackage by its ``__init__``) -> the
    modules of the same package it imports. ``package`` is its dotted name (default: the folder's name;
    ``include.housing_data`` for a team's)."""
    package_dir = Path(package_dir)
    package = package or package_dir.name
    graph = {}
    for path in package_dir.rglob("*.py"):
        parts = (*package.split("."), *path.relative_to(package_dir).with_suffix("").parts)
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        graph[module] = module_imports(path, package)
    return graph


def import_cycle(graph: dict[str, set[str]]) -> list[str]:
    """A cycle of imports in ``graph`` (module -> imported modules), as the modules around it; [] if
    there is none. Imports of names that are not modules of the graph are ignored."""
    try:
        TopologicalSorter({module: imported & graph.keys() for module, imported in graph.items()}).prepare()
    except CycleError as exc:
        return list(exc.args[1])
    return []
