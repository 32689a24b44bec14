"""The v1 rules: real data passes after cleaning, every check rejects a frame broken in one place."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from housing_contracts import COLUMNS, ContractViolation, ValidationReport, validate
from housing_contracts.model import column_bounds, contract_schema
from housing_contracts.validation import contract_validator


def _violation(df: pd.DataFrame) -> ValidationReport:
    with pytest.raises(ContractViolation) as caught:
        validate(df)
    return caught.value.report


def _failed(report: ValidationReport) -> set[tuple[str | None, str]]:
    return {(f.column, f.check) for f in report.failures}


def test_cleaned_real_dataset_conforms(cleaned_frame: pd.DataFrame) -> None:
    """The real dataset after the documented cleaning passes the contract."""
    assert validate(cleaned_frame) is cleaned_frame


def test_raw_real_dataset_fails_only_the_plausibility_caps(california_housing_frame: pd.DataFrame) -> None:
    """Uncleaned, the real dataset fails exactly the caps the cleaning enforces, on 19 rows."""
    report = _violation(california_housing_frame)
    assert _failed(report) == {
        ("AveRooms", "less_than_or_equal_to(50)"),
        ("AveBedrms", "less_than_or_equal_to(15)"),
        ("AveOccup", "less_than_or_equal_to(20)"),
    }
    assert len(report.failing_index) == 19


@pytest.mark.parametrize(
    ("column", "value", "check"),
    [
        ("Latitude", 45.5, "less_than_or_equal_to(42.0)"),  # Portland, Oregon
        ("Latitude", 31.0, "greater_than_or_equal_to(32.5)"),  # Mexico
        ("Longitude", -112.1, "less_than_or_equal_to(-114.0)"),  # Arizona
        ("Longitude", -125.5, "greater_than_or_equal_to(-124.5)"),  # the Pacific
    ],
)
def test_out_of_california_coordinates_fail(
    cleaned_frame: pd.DataFrame, column: str, value: float, check: str
) -> None:
    """Real rows moved outside California's bounding box fail the coordinate check, naming the rows."""
    moved = cleaned_frame.copy()
    moved.loc[[10, 20], column] = value
    report = _violation(moved)
    assert _failed(report) == {(column, check)}
    assert report.failing_index == [10, 20]


_BREAKS = [
    # (column, bad value, check named in the report)
    ("MedInc", 0.0, "greater_than(0)"),
    ("MedInc", 15.01, "less_than_or_equal_to(15.0001)"),
    ("HouseAge", 0.5, "greater_than_or_equal_to(1)"),
    ("HouseAge", 53.0, "less_than_or_equal_to(52)"),
    ("AveRooms", 0.0, "greater_than(0)"),
    ("AveRooms", 50.5, "less_than_or_equal_to(50)"),
    ("AveBedrms", -1.0, "greater_than(0)"),
    ("AveBedrms", 15.5, "less_than_or_equal_to(15)"),
    ("Population", 0.0, "greater_than_or_equal_to(1)"),
    ("Population", 40_001.0, "less_than_or_equal_to(40000)"),
    ("AveOccup", 0.0, "greater_than(0)"),
    ("AveOccup", 20.5, "less_than_or_equal_to(20)"),
    ("MedHouseVal", 0.0, "greater_than(0)"),
    ("MedHouseVal", 5.1, "less_than_or_equal_to(5.00001)"),
    ("MedInc", np.nan, "not_nullable"),
    ("HouseAge", np.inf, "finite"),
    ("Population", -np.inf, "finite"),
]


@pytest.mark.parametrize(("column", "value", "check"), _BREAKS, ids=[f"{c}-{k}-{v}" for c, v, k in _BREAKS])
def test_each_column_check_rejects_a_bad_value(
    frame: pd.DataFrame, column: str, value: float, check: str
) -> None:
    """One bad value fails with an error naming its column and check, and the failing row."""
    frame.loc[3, column] = value
    if column == "AveBedrms":
        frame.loc[3, "AveRooms"] = 50.0  # keep bedrooms <= rooms out of the way
    with pytest.raises(ContractViolation, match=rf"{column}/{re.escape(check)}"):
        validate(frame)
    failure = next(f for f in _violation(frame).failures if (f.column, f.check) == (column, check))
    assert failure.index == (3,)


def test_bedrooms_above_rooms_fails_the_frame_check(frame: pd.DataFrame) -> None:
    """A row with more bedrooms than rooms fails bedrooms_within_rooms, reported on AveBedrms."""
    frame.loc[5, ["AveRooms", "AveBedrms"]] = [2.0, 3.0]
    report = _violation(frame)
    assert _failed(report) == {("AveBedrms", "bedrooms_within_rooms")}
    assert report.failures[0].index == (5,)
    assert report.failures[0].failure_cases == (3.0,)


def test_too_few_rows_fail_min_row_count(frame: pd.DataFrame) -> None:
    """A frame under 1,000 rows fails the frame-level min_row_count check."""
    report = _violation(frame.head(999))
    assert _failed(report) == {(None, "min_row_count")}
    assert "min_row_count" in report.summary()


def test_extra_column_is_rejected(frame: pd.DataFrame) -> None:
    """Strictness: a column outside the contract is named in the report."""
    report = _violation(frame.assign(ocean_proximity=1.0))
    assert _failed(report) == {("ocean_proximity", "column_in_schema")}


def test_missing_column_is_rejected(frame: pd.DataFrame) -> None:
    """Strictness: a missing contract column is named in the report."""
    report = _violation(frame.drop(columns="AveRooms"))
    assert _failed(report) == {("AveRooms", "column_in_dataframe")}


def test_wrong_dtype_is_rejected(frame: pd.DataFrame) -> None:
    """No coercion: a float32 column fails the dtype check."""
    report = _violation(frame.astype({"HouseAge": "float32"}))
    assert ("HouseAge", "dtype('float64')") in _failed(report)


def test_duplicate_column_names_are_rejected(frame: pd.DataFrame) -> None:
    """Two columns with the same name are not a valid frame."""
    doubled = pd.concat([frame, frame[["MedInc"]]], axis=1)
    with pytest.raises(ContractViolation, match="MedInc"):
        validate(doubled)


def test_column_order_does_not_matter(frame: pd.DataFrame) -> None:
    """The contract is order-insensitive."""
    reordered = frame[list(reversed(COLUMNS))]
    assert validate(reordered) is reordered


def test_report_lists_every_failing_check_with_samples(frame: pd.DataFrame) -> None:
    """lazy validation: all failures in one report, each with up to 5 sample cases and every failing row."""
    frame.loc[0:9, "Latitude"] = 50.0
    frame.loc[20, "MedInc"] = np.nan
    report = _violation(frame)
    assert _failed(report) == {("Latitude", "less_than_or_equal_to(42.0)"), ("MedInc", "not_nullable")}
    latitude = next(f for f in report.failures if f.column == "Latitude")
    assert latitude.failure_count == 10
    assert latitude.failure_cases == (50.0,) * 5
    assert report.failing_index == [*range(10), 20]


def test_report_round_trips_through_json(frame: pd.DataFrame) -> None:
    """The report is data: JSON out, the same report back."""
    frame.loc[1, "HouseAge"] = np.inf
    report = _violation(frame)
    assert ValidationReport.from_dict(json.loads(report.to_json())) == report


def test_report_keeps_non_default_index_labels(frame: pd.DataFrame) -> None:
    """Failing rows are named by the frame's own index labels (what the producer quarantines)."""
    frame.index = [f"block-{i}" for i in range(len(frame))]
    frame.loc["block-42", "AveOccup"] = 99.0
    assert _violation(frame).failing_index == ["block-42"]


def test_validate_refuses_non_frames() -> None:
    """Passing something that is not a DataFrame is a TypeError naming the type."""
    with pytest.raises(TypeError, match="dict"):
        validate({"MedInc": [1.0]})  # type: ignore[arg-type]


def test_bounds_are_read_from_the_model() -> None:
    """The model's bounds are the documented ones (the fast path and the test kit derive from them)."""
    bounds = column_bounds()
    assert (bounds["MedHouseVal"].low, bounds["MedHouseVal"].low_inclusive) == (0.0, False)
    assert (bounds["MedHouseVal"].high, bounds["MedHouseVal"].high_inclusive) == (5.00001, True)
    assert (bounds["Longitude"].low, bounds["Longitude"].high) == (-124.5, -114.0)


def test_fast_path_is_active_for_the_live_model() -> None:
    """Every rule of the live model is mirrored by the NumPy fast path (else validate is ~8x slower)."""
    assert contract_validator().fast_path is not None


# values on and just past the contract's edges, and the non-finite ones
_SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-300, 1.0, 5.00001, 5.00002, 15.0001, 15.0002, 52.0, 52.5,
            32.5, 42.0, -114.0, -124.5, 40_000.0]  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(COLUMNS), st.integers(0, 999), st.sampled_from(_SPECIAL)),
        min_size=1,
        max_size=4,
    ),
    n_rows=st.sampled_from([999, 1000]),
)
def test_fast_path_agrees_with_pandera(edits: list[tuple[str, int, float]], n_rows: int) -> None:
    """validate() accepts a frame exactly when pandera's full validation does."""
    from housing_contracts.testing import sample_frame

    df = sample_frame(1000, seed=3).head(n_rows).copy()
    for column, row, value in edits:
        df.loc[row % n_rows, column] = value
    try:
        contract_schema().validate(df, lazy=True)
        pandera_ok = True
    except pa.errors.SchemaErrors:
        pandera_ok = False
    try:
        validate(df)
        ours_ok = True
    except ContractViolation:
        ours_ok = False
    assert ours_ok == pandera_ok
