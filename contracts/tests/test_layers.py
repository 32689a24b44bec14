"""The package's layout: four parts by role, each importing only the parts below it, with no import cycle."""

from __future__ import annotations

from pathlib import Path

from housing_testkit import import_cycle, package_imports

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "housing_contracts"
#: Each part, bottom first: a module may import its own part and the parts before it.
LAYERS = ("contract", "lake", "consumers", "airflow", "testing", "cli")
#: module -> the package's modules it imports, function-level imports included
MODULES = package_imports(PACKAGE)


def _part(module: str) -> str:
    return module.split(".")[1]


def test_each_part_is_a_subpackage_or_a_top_module() -> None:
    """Every module belongs to one of the parts, so the layout shows every file's role."""
    assert {_part(module) for module in MODULES if module != "housing_contracts"} == set(LAYERS)


def test_imports_point_down_the_layers() -> None:
    """A part imports itself and the parts below it, never one above (contract < lake < consumers < ...)."""
    upward = [
        f"{module} imports {imported}"
        for module, imported_modules in MODULES.items()
        if module != "housing_contracts"
        for imported in imported_modules - {"housing_contracts"}  # the public names: lazy, see __init__
        if LAYERS.index(_part(imported)) > LAYERS.index(_part(module))
    ]
    assert upward == []


def test_no_import_cycle_between_modules() -> None:
    """The modules' imports, function-level ones included, form no cycle."""
    assert import_cycle(MODULES) == []
