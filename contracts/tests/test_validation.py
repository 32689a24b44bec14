"""validate(): cleaned real data passes, the report names what fails, the fast path agrees with pandera.

That each rule is enforced (and that removing it lets bad data through) is tested in test_rules.py.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from housing_contracts import COLUMNS, V1, ContractViolation, ValidationReport, validate
from housing_contracts.contract.model import column_bounds, contract_schema
from housing_contracts.contract.validation import FastPath, contract_validator


def _violation(df: pd.DataFrame) -> ValidationReport:
    with pytest.raises(ContractViolation) as caught:
        validate(df, contract=V1)
    return caught.value.report


def _failed(report: ValidationReport) -> set[tuple[str | None, str]]:
    return {(f.column, f.check) for f in report.failures}


def _upper_bound_check(column: str) -> str:
    """How the report names the model's upper-bound check of ``column``."""
    return next(
        c.error for c in contract_schema(contract=V1).columns[column].checks if "max_value" in c.statistics
    )


def test_cleaned_real_dataset_conforms(cleaned_frame: pd.DataFrame) -> None:
    """The real dataset after the documented cleaning passes the contract."""
    assert validate(cleaned_frame, contract=V1) is cleaned_frame


def test_raw_real_dataset_fails_only_the_plausibility_caps(california_housing_frame: pd.DataFrame) -> None:
    """Uncleaned, the real dataset fails exactly the caps the cleaning enforces, on 19 rows."""
    report = _violation(california_housing_frame)
    assert _failed(report) == {(c, _upper_bound_check(c)) for c in ("AveRooms", "AveBedrms", "AveOccup")}
    assert len(report.failing_index) == 19


@pytest.mark.parametrize(
    ("column", "value"),
    [("Latitude", 45.5), ("Latitude", 31.0), ("Longitude", -112.1), ("Longitude", -125.5)],
    ids=["Portland, Oregon", "Mexico", "Arizona", "the Pacific"],
)
def test_out_of_california_coordinates_fail(cleaned_frame: pd.DataFrame, column: str, value: float) -> None:
    """Real rows moved out of California's bounding box fail a bound check of that column, naming them."""
    moved = cleaned_frame.copy()
    moved.loc[[10, 20], column] = value
    report = _violation(moved)
    [failure] = report.failures
    assert failure.column == column
    assert failure.check in [c.error for c in contract_schema(contract=V1).columns[column].checks]
    assert report.failing_index == [10, 20]


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


def test_column_order_does_not_matter(frame: pd.DataFrame) -> None:
    """The contract is order-insensitive."""
    reordered = frame[list(reversed(COLUMNS))]
    assert validate(reordered, contract=V1) is reordered


def test_report_lists_every_failing_check_with_samples(frame: pd.DataFrame) -> None:
    """lazy validation: all failures in one report, each with up to 5 sample cases and every failing row."""
    north = column_bounds(contract=V1)["Latitude"].high + 8
    frame.loc[0:9, "Latitude"] = north
    frame.loc[20, "MedInc"] = np.nan
    report = _violation(frame)
    assert _failed(report) == {("Latitude", _upper_bound_check("Latitude")), ("MedInc", "not_nullable")}
    latitude = next(f for f in report.failures if f.column == "Latitude")
    assert latitude.failure_count == 10
    assert latitude.failure_cases == (north,) * 5
    assert report.failing_index == [*range(10), 20]


def test_report_round_trips_through_json(frame: pd.DataFrame) -> None:
    """The report is data: JSON out, the same report back."""
    frame.loc[1, "HouseAge"] = np.inf
    report = _violation(frame)
    assert ValidationReport.from_dict(json.loads(report.to_json())) == report


def test_report_keeps_non_default_index_labels(frame: pd.DataFrame) -> None:
    """Failing rows are named by the frame's own index labels (what the producer quarantines)."""
    frame.index = [f"block-{i}" for i in range(len(frame))]
    frame.loc["block-42", "AveOccup"] = column_bounds(contract=V1)["AveOccup"].high * 2
    assert _violation(frame).failing_index == ["block-42"]


def test_validate_refuses_non_frames() -> None:
    """Passing something that is not a DataFrame is a TypeError naming the type."""
    with pytest.raises(TypeError, match="dict"):
        validate({"MedInc": [1.0]}, contract=V1)  # type: ignore[arg-type]


def test_bounds_are_read_from_the_model() -> None:
    """The model's bounds are the documented ones (the fast path and the test kit derive from them)."""
    bounds = column_bounds(contract=V1)
    assert (bounds["MedHouseVal"].low, bounds["MedHouseVal"].low_inclusive) == (0.0, False)
    assert (bounds["MedHouseVal"].high, bounds["MedHouseVal"].high_inclusive) == (5.00001, True)
    assert (bounds["Longitude"].low, bounds["Longitude"].high) == (-124.5, -114.0)


def test_fast_path_is_active_for_the_live_model() -> None:
    """Every rule of the live model is mirrored by the NumPy fast path (else validate is ~8x slower)."""
    assert contract_validator(contract=V1).fast_path is not None


def test_fast_path_steps_aside_for_rules_it_cannot_mirror() -> None:
    """A schema that requires column order (which the fast path does not check) is left to pandera."""
    ordered = copy.deepcopy(contract_schema(contract=V1))
    ordered.ordered = True
    assert FastPath.compile(ordered) is None


def _edges() -> list[float]:
    """Each bound of the model and its neighbouring floats, zero, and the non-finite values."""
    ends = [end for b in column_bounds(contract=V1).values() for end in (b.low, b.high) if math.isfinite(end)]
    near = [float(np.nextafter(end, direction)) for end in ends for direction in (-np.inf, np.inf)]
    return [*sorted({*ends, *near, 0.0, -0.0}), np.nan, np.inf, -np.inf]


@settings(max_examples=60, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(COLUMNS), st.integers(0, 999), st.sampled_from(_edges())),
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
        contract_schema(contract=V1).validate(df, lazy=True)
        pandera_ok = True
    except pa.errors.SchemaErrors:
        pandera_ok = False
    try:
        validate(df, contract=V1)
        ours_ok = True
    except ContractViolation:
        ours_ok = False
    assert ours_ok == pandera_ok
