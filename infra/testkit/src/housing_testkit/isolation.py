"""What a project's test modules import, to keep them off packages they must not lean on."""

from __future__ import annotations

import ast
from pathlib import Path


def imports_of(folder: str | Path, package: str) -> set[str]:
    """``"<file>: <module>"`` for each import of ``package`` (or a submodule) under ``folder``."""
    folder = Path(folder)
    found = set()
    for path in folder.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        modules = [
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
        ]
        modules += [
            node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        ]
        found |= {f"{path.relative_to(folder)}: {m}" for m in modules if m.split(".")[0] == package}
    return found
