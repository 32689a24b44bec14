"""Quarantine: keep the evidence of a run whose data broke the contract, then publish nothing.

For each such run the folder ``<QUARANTINE_ROOT>/<run>/`` receives

- ``report.json``: the contract's validation report (every failing check, failure counts, sample failure
  cases and the index labels of the failing rows), plus the run id and the number of quarantined rows;
- ``rows.parquet``: the offending rows with their index labels. When only frame-level checks fail (for
  example too few rows), no single row is to blame and the whole frame is quarantined.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from housing_contracts import ContractViolation

REPORT_NAME = "report.json"
ROWS_NAME = "rows.parquet"


@dataclass(frozen=True)
class QuarantineRecord:
    """Where one run's quarantined evidence went."""

    folder: str
    """The run's quarantine folder."""
    rows_uri: str
    """URI of ``rows.parquet``."""
    rows: int
    """Number of rows written to ``rows.parquet``."""
    summary: str
    """One line naming the failing checks with their counts."""


def offending_rows(frame: pd.DataFrame, violation: ContractViolation) -> pd.DataFrame:
    """The rows of ``frame`` that fail a row-level check, or all of ``frame`` if none is to blame alone."""
    index = violation.report.failing_index
    if not index:
        return frame
    return frame.loc[frame.index.isin(index)]


def quarantine(
    frame: pd.DataFrame,
    violation: ContractViolation,
    folder: str,
    *,
    storage_options: dict[str, Any] | None = None,
) -> QuarantineRecord:
    """Write the violation's report and ``frame``'s offending rows under ``folder``."""
    from fsspec.core import url_to_fs

    from include.housing_data.staging import ensure_local_folder

    folder = folder.rstrip("/")
    options = storage_options if folder.startswith("s3://") else None
    ensure_local_folder(folder)
    fs, path = url_to_fs(folder, **(options or {}))
    rows = offending_rows(frame, violation)
    record = QuarantineRecord(
        folder=folder,
        rows_uri=f"{folder}/{ROWS_NAME}",
        rows=len(rows),
        summary=violation.report.summary(),
    )
    # Rows first, report last: a report.json always has its rows next to it.
    rows.to_parquet(record.rows_uri, index=True, compression="zstd", storage_options=options)
    document = {"quarantined_rows": record.rows, "rows_file": ROWS_NAME, "report": violation.report.to_dict()}
    with fs.open(f"{path}/{REPORT_NAME}", "w") as handle:
        json.dump(document, handle, indent=2)
    return record
