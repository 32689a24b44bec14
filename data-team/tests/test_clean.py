"""Cleaning rules: each rule on its own, the caps taken from the contract, the report, the incident."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from housing_contracts import V1, ContractViolation, validate
from include.housing_data.clean import (
    CAPPED_COLUMNS,
    CleaningIncident,
    clean,
    contract_cap,
    drop_above_cap,
    drop_bedrooms_exceeding_rooms,
    drop_duplicates,
    drop_missing_or_non_finite,
    duplicate_rows,
    enforce_float64,
)


@pytest.fixture
def rows(california_housing_frame: pd.DataFrame) -> pd.DataFrame:
    """Ten plausible block groups from the real dataset."""
    return california_housing_frame.head(10).reset_index(drop=True).copy()


def test_enforce_float64_casts_integer_columns(rows: pd.DataFrame) -> None:
    """Integer columns become float64 with the same values."""
    ints = rows.astype({"HouseAge": "int64", "Population": "int64"})
    out = enforce_float64(ints)
    assert set(out.dtypes.astype(str)) == {"float64"}
    assert out["Population"].tolist() == ints["Population"].astype(float).tolist()


def test_duplicates_drop_later_copies(rows: pd.DataFrame) -> None:
    """Exact duplicate rows are removed and the first copy is kept."""
    doubled = pd.concat([rows, rows.iloc[[2, 5]]], ignore_index=True)
    out = drop_duplicates(doubled)
    assert len(out) == len(rows)
    assert list(out.index) == list(range(len(rows)))


def test_near_duplicates_are_kept(rows: pd.DataFrame) -> None:
    """Rows that differ in a single value are not duplicates."""
    twin = rows.iloc[[0]].assign(MedInc=rows.loc[0, "MedInc"] + 0.001)
    assert len(drop_duplicates(pd.concat([rows, twin], ignore_index=True))) == len(rows) + 1


def test_duplicates_match_pandas_on_signed_zeros_and_missing_values(rows: pd.DataFrame) -> None:
    """-0.0 repeats 0.0 and a NaN repeats a NaN, as ``DataFrame.duplicated`` sees them."""
    special = rows.iloc[[0, 1]].copy()
    special.iloc[0, 0], special.iloc[1, 1] = 0.0, np.nan
    twins = special.copy()
    twins.iloc[0, 0] = -0.0
    frame = pd.concat([rows, special, twins], ignore_index=True)
    assert duplicate_rows(frame).tolist() == frame.duplicated(keep="first").tolist()
    assert duplicate_rows(frame).sum() == 2


def test_a_hash_collision_never_drops_a_distinct_row(
    rows: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows whose hashes collide are compared value by value: with every hash equal, only true repeats go."""
    monkeypatch.setattr(pd.util, "hash_array", lambda values, **_: np.zeros(len(values), dtype="uint64"))
    frame = pd.concat([rows, rows.iloc[[4, 7]]], ignore_index=True)
    assert duplicate_rows(frame).tolist() == [False] * len(rows) + [True, True]


def test_missing_values_are_dropped(rows: pd.DataFrame) -> None:
    """A row with a NaN in any column is removed."""
    rows.loc[3, "AveRooms"] = np.nan
    assert 3 not in drop_missing_or_non_finite(rows).index


def test_infinite_values_are_dropped(rows: pd.DataFrame) -> None:
    """Rows holding +inf or -inf are removed."""
    rows.loc[1, "AveOccup"] = np.inf
    rows.loc[4, "Latitude"] = -np.inf
    assert list(drop_missing_or_non_finite(rows).index) == [0, 2, 3, 5, 6, 7, 8, 9]


@pytest.mark.parametrize("column", CAPPED_COLUMNS)
def test_cap_drops_rows_above_the_contract_cap(rows: pd.DataFrame, column: str) -> None:
    """A value just above the contract's cap is dropped; a value exactly at the cap stays."""
    cap, _ = contract_cap(column)
    rows.loc[0, column] = cap
    rows.loc[1, column] = np.nextafter(cap, np.inf)
    out = drop_above_cap(column)(rows)
    assert 0 in out.index and 1 not in out.index


def test_caps_are_the_contract_upper_bounds() -> None:
    """Each capped column's cap is the upper bound the contract model declares for it."""
    from housing_contracts import CaliforniaHousing

    schema = CaliforniaHousing.to_schema()
    for column in CAPPED_COLUMNS:
        declared = [
            c.statistics["max_value"] for c in schema.columns[column].checks if "max_value" in c.statistics
        ]
        assert contract_cap(column) == (float(declared[0]), True)


def test_bedrooms_exceeding_rooms_are_dropped(rows: pd.DataFrame) -> None:
    """A row averaging more bedrooms than rooms is removed; equal counts stay."""
    rows.loc[2, "AveBedrms"] = rows.loc[2, "AveRooms"] + 0.5
    rows.loc[3, "AveBedrms"] = rows.loc[3, "AveRooms"]
    out = drop_bedrooms_exceeding_rooms(rows)
    assert 2 not in out.index and 3 in out.index


def test_contract_violations_are_not_cleaned(rows: pd.DataFrame) -> None:
    """Coordinates outside California, non-positive income and a zero target survive cleaning."""
    rows.loc[0, "Latitude"] = 48.0
    rows.loc[1, "MedInc"] = -1.0
    rows.loc[2, "MedHouseVal"] = 0.0
    out, report = clean(rows, max_drop_share=0.0)
    assert len(out) == len(rows) and report.rows_removed == 0


def test_cleaned_real_dataset_conforms_to_the_contract(california_housing_frame: pd.DataFrame) -> None:
    """After cleaning, the real dataset passes the contract."""
    out, _ = clean(california_housing_frame)
    validate(out, contract=V1)


def test_raw_real_dataset_breaks_the_contract(california_housing_frame: pd.DataFrame) -> None:
    """Without cleaning, the real dataset breaks the contract's caps (so cleaning is needed)."""
    with pytest.raises(ContractViolation, match=r"AveOccup/less_than_or_equal_to\(20\)"):
        validate(california_housing_frame, contract=V1)


def test_report_counts_each_rule_on_the_real_dataset(california_housing_frame: pd.DataFrame) -> None:
    """On the real dataset the rules remove 19 rows, counted per rule in the order they ran."""
    out, report = clean(california_housing_frame)
    assert report.rows_in == 20_640 and report.rows_out == len(out) == 20_621
    assert sum(report.removed.values()) == report.rows_removed == 19
    assert list(report.removed) == [
        "duplicates",
        "missing_or_non_finite",
        "AveRooms_cap",
        "AveBedrms_cap",
        "AveOccup_cap",
        "Population_cap",
        "bedrooms_exceed_rooms",
    ]


def test_clean_returns_a_fresh_index(rows: pd.DataFrame) -> None:
    """The cleaned frame is indexed 0..n-1 whatever was removed."""
    doubled = pd.concat([rows, rows], ignore_index=True)
    out, _ = clean(doubled, max_drop_share=0.5)
    assert list(out.index) == list(range(len(rows)))


def test_report_is_json_ready(rows: pd.DataFrame) -> None:
    """The report's dict form survives a JSON round trip unchanged."""
    _, report = clean(rows)
    assert json.loads(json.dumps(report.to_dict())) == report.to_dict()


def test_incident_when_share_exceeds_the_limit(rows: pd.DataFrame) -> None:
    """Removing more than max_drop_share of the rows raises CleaningIncident with the per-rule counts."""
    rows.loc[[0, 1], "AveOccup"] = np.nan
    with pytest.raises(
        CleaningIncident, match=r"remove 2 of 10 rows \(20.00%\), expected at most 10.00%"
    ) as info:
        clean(rows, max_drop_share=0.1)
    assert info.value.report.removed["missing_or_non_finite"] == 2


def test_share_at_the_limit_is_not_an_incident(rows: pd.DataFrame) -> None:
    """Removing exactly max_drop_share of the rows is allowed."""
    rows.loc[0, "AveOccup"] = np.nan
    out, report = clean(rows, max_drop_share=0.1)
    assert len(out) == 9 and report.removed_share == pytest.approx(0.1)


def test_max_drop_share_outside_zero_to_one_is_rejected(rows: pd.DataFrame) -> None:
    """A max_drop_share above 1 is a configuration error naming the expected range."""
    with pytest.raises(ValueError, match=r"expected a share between 0.0 and 1.0"):
        clean(rows, max_drop_share=5)


def test_masks_count_and_keep_what_rule_after_rule_filtering_would(
    california_housing_frame: pd.DataFrame,
) -> None:
    """rows_to_keep (every rule on the whole frame, charged only with rows no earlier rule removed) keeps
    the rows and counts per rule that filtering the frame rule after rule gives, on the real data with
    rows that break several rules at once."""
    from include.housing_data.clean import rows_to_keep

    frame = california_housing_frame.head(3_000).reset_index(drop=True).astype("float64")
    frame.loc[10, "AveRooms"] = np.nan  # missing, and would not exceed the cap
    frame.loc[11, ["AveOccup", "Population"]] = [1e6, 1e9]  # two caps: counted by the first only
    frame.loc[12, "AveBedrms"] = frame.loc[12, "AveRooms"] + 1  # bedrooms exceed rooms
    frame.loc[13, "AveBedrms"] = 1e6  # cap and bedrooms > rooms: counted by the cap
    frame = pd.concat([frame, frame.iloc[[11, 12, 20, 20]]], ignore_index=True)  # duplicates of bad rows
    sequential, current = {}, frame
    for name, drop in (
        ("duplicates", drop_duplicates),
        ("missing_or_non_finite", drop_missing_or_non_finite),
        *((f"{c}_cap", drop_above_cap(c)) for c in CAPPED_COLUMNS),
        ("bedrooms_exceed_rooms", drop_bedrooms_exceeding_rooms),
    ):
        kept = drop(current)
        sequential[name], current = len(current) - len(kept), kept
    keep, report = rows_to_keep(frame, max_drop_share=1.0)
    assert report.removed == sequential
    assert report.rows_out == len(current) == int(keep.sum())
    pd.testing.assert_frame_equal(frame.loc[keep], current)
    assert all(
        sequential[name] > 0 for name in ("duplicates", "missing_or_non_finite", "bedrooms_exceed_rooms")
    )
