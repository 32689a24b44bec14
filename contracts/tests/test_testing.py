"""The contract test kit: what it generates conforms, and assert_conforms reports what does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from housing_contracts import COLUMNS, V1, validate
from housing_contracts.contract.model import MIN_ROW_COUNT, column_bounds
from housing_contracts.testing import allowed_interval, assert_conforms, frames, sample_frame


def test_sample_frame_conforms() -> None:
    """sample_frame() returns a contract-valid frame of the requested size and column order."""
    df = sample_frame(1500, seed=1)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 1500
    assert validate(df, contract=V1) is df


def test_sample_frame_reaches_every_edge() -> None:
    """Each column's smallest and largest allowed values occur (open bounds one float inside)."""
    df = sample_frame()
    for column, bounds in column_bounds(contract=V1).items():
        low, high = allowed_interval(bounds)
        assert df[column].min() == low
        assert df[column].max() == high


def test_sample_frame_is_deterministic_per_seed() -> None:
    """The same seed gives the same frame; another seed another one."""
    pd.testing.assert_frame_equal(sample_frame(seed=4), sample_frame(seed=4))
    assert not sample_frame(seed=4).equals(sample_frame(seed=5))


def test_sample_frame_refuses_too_few_rows() -> None:
    """Below the contract's minimum row count there is no valid frame; the error says so."""
    with pytest.raises(ValueError, match=f"at least {MIN_ROW_COUNT} rows"):
        sample_frame(10)


def test_assert_conforms_raises_assertion_error_with_the_report() -> None:
    """A producer-side assertion: the message is the report table naming column and check."""
    df = sample_frame()
    df.loc[0, "AveOccup"] = np.inf
    with pytest.raises(AssertionError, match=r"AveOccup\s+\| finite"):
        assert_conforms(df)


@settings(max_examples=40, deadline=None)
@given(df=frames(max_rows=1500))
def test_generated_frames_pass_validation(df: pd.DataFrame) -> None:
    """Every frame the hypothesis strategy generates conforms to the contract."""
    assert set(df.columns) == set(COLUMNS)
    assert MIN_ROW_COUNT <= len(df) <= 1500
    assert validate(df, contract=V1) is df


def test_frames_refuses_a_minimum_below_the_contract() -> None:
    """The strategy cannot be asked for frames the contract rejects."""
    with pytest.raises(ValueError, match="min_rows"):
        frames(min_rows=10)
