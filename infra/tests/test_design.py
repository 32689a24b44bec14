"""infra/DESIGN.md says what the code does: the lists in it that could drift are compared with the code."""

from __future__ import annotations

import re
from pathlib import Path

import housing_contracts
from housing_contracts.airflow.trigger import DEFAULT_POLL_INTERVAL, DEFAULT_RENEW_SECONDS
from housing_stack import supervisor
from housing_stack.settings import REPO_ROOT

DESIGN = (REPO_ROOT / "infra" / "DESIGN.md").read_text()
STACK_PACKAGE = REPO_ROOT / "infra" / "src" / "housing_stack"


def _block_after(heading: str) -> str:
    """The first fenced code block after ``heading``."""
    start = DESIGN.index(heading)
    return DESIGN[start:].split("```", 2)[1]


def test_public_api_block_is_housing_contracts_all() -> None:
    """The names imported in "Contract public API" are exactly ``housing_contracts.__all__``."""
    block = _block_after("## Contract public API")
    code = "\n".join(line.split("#")[0] for line in block.splitlines())
    names = set(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]*\b", code.split("import (", 1)[1]))
    assert names == set(housing_contracts.__all__)


def test_stated_trigger_defaults_are_the_code_defaults() -> None:
    """Every poll interval and renewal default DESIGN.md states is the trigger's."""
    polls = {float(value) for value in re.findall(r"poll_interval=([0-9.]+)", DESIGN)}
    renewals = {float(value) for value in re.findall(r"renew_seconds=([0-9.]+)", DESIGN)}
    assert polls == {DEFAULT_POLL_INTERVAL} and renewals == {DEFAULT_RENEW_SECONDS}
    assert f"every poll interval ({DEFAULT_POLL_INTERVAL:g} s)" in DESIGN


def test_supervisor_interval_is_stated() -> None:
    """The supervisor's check interval in DESIGN.md is the code's."""
    assert f"every {supervisor.INTERVAL:g} s it restarts" in DESIGN


def test_layout_names_every_stack_module() -> None:
    """The layout block names each module of housing_stack."""
    layout = _block_after("## Layout")
    names = {path.stem for path in STACK_PACKAGE.glob("*.py") if path.stem not in {"__init__", "__main__"}}
    missing = {name for name in names if not re.search(rf"\b{name}\b", layout)}
    assert missing == set()


def test_every_package_module_path_exists() -> None:
    """The contract package's parts named in the layout are its subpackages."""
    package = Path(housing_contracts.__file__).parent
    parts = set(re.findall(r"^    (\w+)/", _block_after("## Layout"), flags=re.MULTILINE))
    assert parts == {path.name for path in package.iterdir() if (path / "__init__.py").exists()}
