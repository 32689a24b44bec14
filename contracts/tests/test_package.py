"""The package itself: a cheap import, the documented public API, and an install into a fresh venv."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import housing_contracts

CONTRACTS_DIR = Path(__file__).resolve().parents[1]


def test_import_pulls_in_neither_pandas_nor_airflow() -> None:
    """`import housing_contracts` (done at DAG parse time) loads no pandas, pandera, numpy or Airflow."""
    code = (
        "import sys, json, housing_contracts as hc; hc.DATASET_URI; hc.COLUMNS; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pandas', 'pandera', 'numpy', 'pyarrow', 'airflow', 'fsspec', 's3fs'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_public_api_resolves_lazily() -> None:
    """Every name in __all__ (the API in DESIGN.md) is importable from the package."""
    for name in housing_contracts.__all__:
        assert getattr(housing_contracts, name) is not None, name
    assert housing_contracts.ContractViolation.__mro__[1] is housing_contracts.ContractError


def test_unknown_attribute_is_an_attribute_error() -> None:
    """A typo fails like any missing attribute, naming it."""
    try:
        housing_contracts.publsh  # noqa: B018
    except AttributeError as exc:
        assert "publsh" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_installs_into_a_fresh_venv(tmp_path: Path) -> None:
    """`uv pip install ./contracts` into an empty venv gives a working package, frozen files and CLI."""
    uv = shutil.which("uv")
    assert uv, "uv is needed (it is on PATH in this repository's dev setup)"
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    constraints = CONTRACTS_DIR.parent / "constraints.txt"
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            "-c",
            str(constraints),
            str(CONTRACTS_DIR),
        ],
        check=True,
        timeout=600,
    )
    probe = (
        "import housing_contracts as hc, sys; "
        "from housing_contracts.contract.description import frozen_versions; "
        "from housing_contracts.testing import sample_frame; "
        "assert 'airflow' not in sys.modules; hc.validate(sample_frame(), hc.V1); print(frozen_versions())"
    )
    out = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "1.0.0" in out and "2.0.0" in out
    cli = subprocess.run([str(venv / "bin" / "housing-contract"), "describe"], capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert "median_house_value" in cli.stdout
