"""The `california_housing_frame` fixture: the real dataset, read offline."""

from __future__ import annotations

import pandas as pd

from housing_contracts.contract.versions import COLUMNS


def test_frame_is_the_real_dataset(california_housing_frame: pd.DataFrame) -> None:
    """20,640 rows with exactly the contract's columns and sklearn's known MedInc mean."""
    assert california_housing_frame.shape == (20_640, len(COLUMNS))
    assert set(california_housing_frame.columns) == set(COLUMNS)
    assert round(float(california_housing_frame["MedInc"].mean()), 6) == 3.870671
