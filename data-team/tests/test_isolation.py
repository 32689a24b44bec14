"""The tests run in an environment of this project's own, as the image would (``make test-data-team``).

It is built only from Airflow as Astro Runtime 3.3 ships it, requirements.txt, the contracts wheel and
requirements-test.txt; so an import of something the image lacks fails here too.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from housing_testkit import import_cycle, imports_of, package_imports

TESTS_DIR = Path(__file__).resolve().parent


@pytest.mark.parametrize("module", ["mlflow", "matplotlib"])
def test_the_ml_teams_dependencies_are_absent(module: str) -> None:
    """The ML team's requirements are not installed: this project cannot lean on them by accident."""
    assert importlib.util.find_spec(module) is None, (
        f"{module} is importable: these tests run in an environment with another project's requirements "
        "(run them with `make test-data-team`)"
    )


def test_tests_import_no_infra_internals() -> None:
    """Test modules import the test kit, never housing_stack (the stack's internals)."""
    assert imports_of(TESTS_DIR, "housing_stack") == set()


def test_the_team_package_has_no_import_cycle() -> None:
    """include/housing_data's modules import each other without a cycle, function-level imports included."""
    package = TESTS_DIR.parent / "include" / "housing_data"
    assert import_cycle(package_imports(package, "include.housing_data")) == []
