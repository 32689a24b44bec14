"""Fixtures for the contract's tests: a real S3 server and the real dataset come from housing_stack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from housing_contracts import V1

pytest_plugins = ["housing_testkit.plugin"]


@pytest.fixture(scope="session")
def cleaned_frame(california_housing_frame: pd.DataFrame) -> pd.DataFrame:
    """The real dataset after the documented cleaning: rows outside a column's interval dropped (the raw
    data breaks only the plausibility caps)."""
    from housing_contracts.contract.model import column_bounds

    df = california_housing_frame
    keep = np.logical_and.reduce(
        [df[column].map(b.contains) for column, b in column_bounds(contract=V1).items()]
    )
    return df[keep].reset_index(drop=True)


@pytest.fixture
def local_uri(tmp_path: Path) -> str:
    """A fresh ``file://`` dataset URI in the test's temporary folder."""
    return (tmp_path / "lake" / "california_housing" / "v1").as_uri()


@pytest.fixture
def frame() -> pd.DataFrame:
    """A small contract-valid frame (1,000 rows) to break in one place."""
    from housing_contracts.testing import sample_frame

    return sample_frame(1000, seed=7)
