"""The 1.x -> 2.0 conversion: written once, and it keeps every valid 1.x frame valid under 2.0, which is
why publish_all validates only once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from housing_contracts import V1, V2, convert, validate
from housing_contracts.contract.model import column_bounds, contract_schema
from housing_contracts.contract.versions import V2_FROM_V1
from housing_contracts.testing import sample_frame


def test_every_valid_1x_frame_is_a_valid_2_0_frame(cleaned_frame: pd.DataFrame) -> None:
    """The real data and a frame holding every column's extreme values convert to valid 2.0 frames."""
    for frame in (cleaned_frame, sample_frame(2000, seed=3)):
        converted = convert(validate(frame, V1), V1, V2)
        assert list(converted.columns) == list(V2.columns)
        validate(converted, V2)


def test_both_models_state_the_same_rules_in_their_own_units() -> None:
    """Each 2.0 bound is its 1.x bound times the column's factor, computed the same way: the conversion
    maps the 1.x interval onto the 2.0 one exactly (multiplication by a positive factor is monotonic)."""
    old, new = column_bounds(contract_schema(V1)), column_bounds(contract_schema(V2))
    for column, (name, factor) in V2_FROM_V1.items():
        assert (new[name].low, new[name].high) == (old[column].low * factor, old[column].high * factor)
        assert (new[name].low_inclusive, new[name].high_inclusive) == (
            old[column].low_inclusive,
            old[column].high_inclusive,
        )


def test_round_trip_gives_the_census_values_back_bit_for_bit(cleaned_frame: pd.DataFrame) -> None:
    back = convert(convert(cleaned_frame, V1, V2), V2, V1)
    pd.testing.assert_frame_equal(back, cleaned_frame[list(V1.columns)], check_exact=True)


def test_money_is_in_dollars() -> None:
    frame = sample_frame(1000, seed=1)
    converted = convert(frame, V1, V2)
    np.testing.assert_array_equal(converted["median_income"], frame["MedInc"] * 10_000)
    np.testing.assert_array_equal(converted["median_house_value"], frame["MedHouseVal"] * 100_000)
    np.testing.assert_array_equal(converted["house_age"], frame["HouseAge"])


def test_same_major_is_the_frame_itself_and_a_missing_column_is_named() -> None:
    frame = sample_frame(1000, seed=2)
    assert convert(frame, V1, V1) is frame
    with pytest.raises(KeyError, match="MedInc"):
        convert(frame.drop(columns="MedInc"), V1, V2)


def test_a_consumed_frame_gives_the_same_result_and_moves_its_unchanged_columns() -> None:
    frame = convert(sample_frame(1000, seed=3), V1, V2)
    expected = convert(frame, V2, V1)
    age = frame["house_age"].to_numpy()
    converted = convert(frame, V2, V1, consume=True)
    pd.testing.assert_frame_equal(converted, expected, check_exact=True)
    assert list(frame.columns) == []  # its columns are gone: the two frames never coexist in full
    assert np.shares_memory(converted["HouseAge"].to_numpy(), age)  # moved, not copied
