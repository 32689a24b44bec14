"""The tests run in an environment of this project's own, as the image would (``make test-ml-team``).

It is built only from Airflow as Astro Runtime 3.3 ships it, requirements.txt, the contracts wheel and
requirements-test.txt; so an import of something the image lacks fails here too. This project's
requirements include the data team's, so what must be absent is the data team's code.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from housing_testkit import import_cycle, imports_of, package_imports

TESTS_DIR = Path(__file__).resolve().parent


@pytest.mark.parametrize("module", ["include.housing_data", "housing_data"])
def test_the_data_teams_code_is_absent(module: str) -> None:
    """The producer's package is not importable: this project cannot lean on it by accident."""
    assert importlib.util.find_spec(module) is None, f"{module} is importable from the ML team's tests"


def test_tests_import_no_infra_internals() -> None:
    """Test modules import the test kit, never housing_stack (the stack's internals)."""
    assert imports_of(TESTS_DIR, "housing_stack") == set()


def test_the_team_package_has_no_import_cycle() -> None:
    """include/housing_ml's modules import each other without a cycle, function-level imports included."""
    package = TESTS_DIR.parent / "include" / "housing_ml"
    assert import_cycle(package_imports(package, "include.housing_ml")) == []
