"""Spatial features: computed from the contract's columns only, finite on any contract-valid frame."""

from __future__ import annotations

import numpy as np
import pytest

from housing_contracts import FEATURE_COLUMNS
from housing_contracts.testing import sample_frame
from include.housing_ml.features import SPATIAL_FEATURES, add_spatial_features


def test_adds_the_spatial_features_after_the_contract_features() -> None:
    """The output holds the contract's features in order, then SPATIAL_FEATURES."""
    out = add_spatial_features(sample_frame())
    assert list(out.columns) == [*FEATURE_COLUMNS, *SPATIAL_FEATURES]


def test_features_are_finite_at_the_contract_edges() -> None:
    """Rows at every column's extremes (sample_frame rows 0 and 1) give finite features."""
    out = add_spatial_features(sample_frame())
    assert np.isfinite(out.to_numpy()).all()


def test_ignores_the_target_and_column_order() -> None:
    """Shuffled columns and the target column do not change the features."""
    frame = sample_frame()
    shuffled = frame[list(reversed(frame.columns))]
    assert add_spatial_features(shuffled).equals(add_spatial_features(frame))


def test_does_not_modify_its_input() -> None:
    """The caller's frame is left as it was."""
    frame = sample_frame()
    before = frame.copy()
    add_spatial_features(frame)
    assert frame.equals(before)


def test_names_the_missing_contract_columns() -> None:
    """A frame without Latitude is refused with the column's name."""
    with pytest.raises(KeyError, match="Latitude"):
        add_spatial_features(sample_frame().drop(columns="Latitude"))
