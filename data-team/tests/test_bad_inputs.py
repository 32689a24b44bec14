"""Bad producer inputs through the real DAG: each is rejected, or cleaned by a documented rule.

Every case writes one defective ``file://`` source derived from the real dataset and runs the producer
with ``dag.test()`` against the session's SeaweedFS, as the data-team identity. A rejected case must end
in a failed run whose error names the column or the problem, a quarantine report when validation caught
it, no asset event, and the previous snapshot still the newest (v1 is checked; the producer publishes
v2 from the same validated frame, see test_producer_dag.py). A case covered by a cleaning rule (NaN,
±inf, duplicates) must publish a snapshot without the bad rows and count them in the manifest's extras.
In both, the newest snapshot is read back (sizes, sha256 and the contract verified) and searched for
the bad values. Each case adds one row (case, expected, observed) to a table printed at the end.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from housing_contracts import V1, latest_snapshot, read_snapshot
from include.housing_data import quarantine as quarantine_files
from include.housing_data.clean import clean
from include.housing_data.settings import quarantine_uri

#: Rows of every source: enough for the contract's 1,000-row minimum after a few are dropped, small
#: enough that one run stays around a second of data work.
SOURCE_ROWS = 1_500


#: A defect turns the clean base frame into a file under the given folder and returns its path.
Defect = Callable[[pd.DataFrame, Path], Path]


@dataclass(frozen=True)
class Rejected:
    """The run must fail; its error must contain ``names`` (lower-cased substrings)."""

    names: tuple[str, ...]
    stage: str
    """The task that must fail."""
    quarantined_columns: tuple[str | None, ...] = ()
    """Columns whose checks the quarantine report must list (validate failures only)."""


@dataclass(frozen=True)
class Cleaned:
    """The run must publish a snapshot without the bad rows; ``rule`` counts ``removed`` of them."""

    rule: str
    removed: int
    rows: int
    """Rows the snapshot must hold."""


def _parquet(frame: pd.DataFrame, folder: Path, name: str = "source.parquet") -> Path:
    path = folder / name
    frame.to_parquet(path, index=False)
    return path


def _csv(frame: pd.DataFrame, folder: Path, name: str = "source.csv") -> Path:
    path = folder / name
    frame.to_csv(path, index=False)
    return path


def _with(frame: pd.DataFrame, rows: list[int], column: str, value: object) -> pd.DataFrame:
    out = frame.copy()
    if not isinstance(value, float):
        out[column] = out[column].astype(object)
    out.loc[rows, column] = value
    return out


def _swapped_coordinates(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["Latitude"], out["Longitude"] = frame["Longitude"], frame["Latitude"]
    return out


def _truncated(frame: pd.DataFrame, folder: Path) -> Path:
    path = _parquet(frame, folder)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _bytes(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


#: The smallest valid PNG: a real non-table file.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cfc0f01f0005000201a5b4b8d40000000049454e44ae426082"  # pragma: allowlist secret
)

CASES: dict[str, tuple[Defect, Rejected | Cleaned]] = {
    "missing column": (
        lambda f, d: _parquet(f.drop(columns=["AveBedrms"]), d),
        Rejected(("missing ['avebedrms']",), "extract"),
    ),
    "extra column": (
        lambda f, d: _parquet(f.assign(OceanProximity=1.0), d),
        Rejected(("unexpected ['oceanproximity']",), "extract"),
    ),
    "renamed column": (
        lambda f, d: _csv(f.rename(columns={"MedInc": "median_income"}), d),
        Rejected(("missing ['medinc']", "unexpected ['median_income']"), "extract"),
    ),
    "strings in a numeric column": (
        lambda f, d: _csv(_with(f, [4, 9], "HouseAge", "forty"), d),
        Rejected(("non-numeric", "houseage"), "extract"),
    ),
    "coordinates outside California": (
        lambda f, d: _parquet(_with(f, [3, 8], "Latitude", 48.0), d),
        Rejected(("latitude",), "publish", ("Latitude",)),
    ),
    "swapped latitude/longitude": (
        lambda f, d: _parquet(_swapped_coordinates(f), d),
        Rejected(("latitude", "longitude"), "publish", ("Latitude", "Longitude")),
    ),
    "negative income": (
        lambda f, d: _parquet(_with(f, [5], "MedInc", -1.5), d),
        Rejected(("medinc",), "publish", ("MedInc",)),
    ),
    "zero target": (
        lambda f, d: _parquet(_with(f, [6], "MedHouseVal", 0.0), d),
        Rejected(("medhouseval",), "publish", ("MedHouseVal",)),
    ),
    "too few rows": (
        lambda f, d: _parquet(f.head(500), d),
        Rejected(("min_row_count",), "publish", (None,)),
    ),
    "empty file": (
        lambda f, d: _bytes(d, "source.csv", b""),
        Rejected(("is empty",), "extract"),
    ),
    "header-only file": (
        lambda f, d: _csv(f.head(0), d),
        Rejected(("header but no rows",), "extract"),
    ),
    "truncated Parquet": (
        _truncated,
        Rejected(("not a valid parquet file",), "extract"),
    ),
    "PNG named .parquet": (
        lambda f, d: _bytes(d, "source.parquet", PNG),
        Rejected(("not a valid parquet file",), "extract"),
    ),
    "random bytes named .csv": (
        lambda f, d: _bytes(d, "source.csv", np.random.default_rng(7).bytes(4096)),
        Rejected(("not a valid csv file",), "extract"),
    ),
    "NaN": (
        lambda f, d: _parquet(_with(f, [10, 11], "AveRooms", np.nan), d),
        Cleaned("missing_or_non_finite", 2, SOURCE_ROWS - 2),
    ),
    "+inf/-inf": (
        lambda f, d: _parquet(_with(_with(f, [20], "Population", np.inf), [21], "AveOccup", -np.inf), d),
        Cleaned("missing_or_non_finite", 2, SOURCE_ROWS - 2),
    ),
    "duplicated rows": (
        lambda f, d: _parquet(pd.concat([f.iloc[:-1], f.iloc[30:35]], ignore_index=True), d),
        Cleaned("duplicates", 5, SOURCE_ROWS - 1),
    ),
}


@pytest.fixture(scope="module")
def base_frame(california_housing_frame: pd.DataFrame) -> pd.DataFrame:
    """The first real rows, already clean, so each defect is the only thing wrong with a source."""
    cleaned, _ = clean(california_housing_frame.head(SOURCE_ROWS + 50))
    return cleaned.head(SOURCE_ROWS).reset_index(drop=True)


@pytest.fixture(scope="module")
def baseline(
    producer_dag, lake: str, run_producer, base_frame: pd.DataFrame, tmp_path_factory, s3_server
) -> str:
    """The clean base frame published once: the snapshot every rejected case must leave the newest."""
    source = _parquet(base_frame, tmp_path_factory.mktemp("baseline"))
    run = run_producer(producer_dag, lake, source=source.as_uri())
    assert run.state == "success", f"baseline run failed: {run.tasks}"
    newest = latest_snapshot(lake, storage_options=s3_server.storage_options)
    assert newest is not None
    return newest.snapshot_id


def _bad_values(frame: pd.DataFrame) -> list[str]:
    """What ``frame`` must never hold in a snapshot: non-finite values, duplicates, values out of bounds."""
    from housing_contracts.contract.model import column_bounds

    problems = []
    if not np.isfinite(frame.to_numpy(dtype="float64")).all():
        problems.append("non-finite values")
    if frame.duplicated().any():
        problems.append("duplicate rows")
    for column, bounds in column_bounds(contract=V1).items():
        outside = ~frame[column].map(bounds.contains)
        if outside.any():
            problems.append(f"{int(outside.sum())} {column} values outside {bounds}")
    return problems


def _run_error(capfd: pytest.CaptureFixture[str]) -> str:
    """The run's output, lower-cased: ``dag.test()`` prints each task's log, the failed task's error too."""
    out, err = capfd.readouterr()
    return (out + err).lower()


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(
    case: str,
    producer_dag,
    lake: str,
    run_producer,
    asset_events,
    baseline: str,
    base_frame: pd.DataFrame,
    tmp_path: Path,
    s3_server,
    capfd: pytest.CaptureFixture[str],
    reliability_row,
) -> None:
    """A defective source is rejected with a named error or cleaned by its rule; no bad value is published."""
    defect, expected = CASES[case]
    options = s3_server.storage_options
    before = latest_snapshot(lake, storage_options=options)
    source = defect(base_frame, tmp_path)
    capfd.readouterr()
    run = run_producer(producer_dag, lake, source=source.as_uri())
    error = _run_error(capfd)
    after = latest_snapshot(lake, storage_options=options)
    newest = read_snapshot(lake, storage_options=options)
    assert _bad_values(newest.frame) == [], f"{case}: the newest snapshot holds bad values"

    if isinstance(expected, Rejected):
        failed = [task for task, (state, _) in run.tasks.items() if state == "failed"]
        unchanged = after is not None and before is not None and after.snapshot_id == before.snapshot_id
        named = [name for name in expected.names if name in error]
        quarantined = _quarantined_columns(run, options) if expected.stage == "publish" else None
        observed = (
            f"run {run.state} at {'/'.join(failed) or '-'}; error names {named}; "
            f"newest snapshot {'unchanged' if unchanged else 'CHANGED'}"
            + (f"; quarantine report lists {sorted(quarantined, key=str)}" if quarantined is not None else "")
        )
        reliability_row(case, f"rejected at {expected.stage}", observed)
        assert run.state == "failed"
        assert run.tasks[expected.stage] == ("failed", 1)
        assert expected.stage == "publish" or run.tasks["publish"][0] == "upstream_failed"
        for name in expected.names:
            assert name in error, f"{case}: the run's error does not mention {name!r}"
        assert after is not None and before is not None and after.snapshot_id == before.snapshot_id
        assert asset_events(run.run_id) == {}
        if quarantined is not None:
            assert set(expected.quarantined_columns) <= quarantined
        return

    removed = newest.manifest.extras["cleaning"]["removed"]
    counted = ", ".join(f"{rule} {n}" for rule, n in removed.items() if n) or "nothing"
    reliability_row(
        case,
        f"published {expected.rows} rows, {expected.rule} {expected.removed}",
        f"run {run.state}; newest has {newest.manifest.row_count} rows, removed {counted}",
    )
    assert run.state == "success"
    assert after is not None and after.snapshot_id != (before.snapshot_id if before else None)
    assert newest.manifest.producer["run_id"] == run.run_id
    assert removed[expected.rule] == expected.removed
    assert newest.manifest.extras["cleaning"]["rows_removed"] == expected.removed
    assert newest.manifest.row_count == len(newest.frame) == expected.rows
    # one event per version's Asset (v1, v2), each for the snapshot this run created
    assert {asset: len(events) for asset, events in asset_events(run.run_id).items()} == {
        "california_housing_v1": 1,
        "california_housing_v2": 1,
    }


def _quarantined_columns(run: Any, options: dict) -> set[str | None]:
    """The columns (None = frame-level) whose checks the run's quarantine report lists; its rows exist."""
    import fsspec

    uri = f"{quarantine_uri(run.run_id)}/{quarantine_files.REPORT_NAME}"
    with fsspec.open(uri, "r", **options) as handle:
        document = json.load(handle)
    assert document["quarantined_rows"] > 0
    return {failure["column"] for failure in document["report"]["failures"]}
