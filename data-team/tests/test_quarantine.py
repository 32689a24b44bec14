"""Quarantine: a contract violation's report and offending rows, written next to each other."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from housing_contracts import V1, ContractViolation, validate
from include.housing_data.clean import clean
from include.housing_data.quarantine import REPORT_NAME, ROWS_NAME, offending_rows, quarantine


@pytest.fixture
def violation_and_frame(california_housing_frame: pd.DataFrame) -> tuple[ContractViolation, pd.DataFrame]:
    """A cleaned 1,200-row frame with two rows outside California, and the violation it raises."""
    frame, _ = clean(california_housing_frame.head(1_200))
    frame.loc[[5, 9], "Longitude"] = -100.0
    with pytest.raises(ContractViolation) as info:
        validate(frame, contract=V1)
    return info.value, frame


def test_offending_rows_are_the_failing_rows(violation_and_frame) -> None:
    """Only the rows that fail a row-level check are offending."""
    violation, frame = violation_and_frame
    assert list(offending_rows(frame, violation).index) == [5, 9]


def test_frame_level_failure_quarantines_every_row(california_housing_frame: pd.DataFrame) -> None:
    """When no row is to blame alone (too few rows), the whole frame is quarantined."""
    frame, _ = clean(california_housing_frame.head(50))
    with pytest.raises(ContractViolation) as info:
        validate(frame, contract=V1)
    assert len(offending_rows(frame, info.value)) == len(frame)


def test_quarantine_writes_report_and_rows(violation_and_frame, tmp_path: Path) -> None:
    """The folder receives report.json (failing checks, counts) and rows.parquet (the offending rows)."""
    violation, frame = violation_and_frame
    record = quarantine(frame, violation, str(tmp_path / "run-1"))
    document = json.loads((tmp_path / "run-1" / REPORT_NAME).read_text())
    rows = pd.read_parquet(tmp_path / "run-1" / ROWS_NAME)
    assert record.rows == document["quarantined_rows"] == len(rows) == 2
    assert document["report"]["failures"][0]["column"] == "Longitude"
    assert document["report"]["failures"][0]["failure_count"] == 2
    assert rows["Longitude"].tolist() == [-100.0, -100.0]
