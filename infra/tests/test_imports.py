"""The infra package's modules import each other without a cycle."""

from __future__ import annotations

from pathlib import Path

from housing_testkit import import_cycle, package_imports

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "housing_stack"


def test_no_import_cycle_between_modules() -> None:
    """Function-level imports included: a cycle hidden in a function is still a cycle."""
    assert import_cycle(package_imports(PACKAGE)) == []
