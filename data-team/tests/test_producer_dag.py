"""The producer DAG end to end: ``dag.test()`` runs against a real SeaweedFS S3 on 127.0.0.1.

Each scenario runs once per module (a module-scoped fixture) and several tests check its outcomes. The
tasks authenticate as the **data-team** identity through the ``lake_s3`` connection, so the runs also
prove the producer stays inside that identity's grant (both versions' datasets, staging and quarantine
prefixes). Retirement of v1 is in ``test_retirement.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from housing_contracts import V1, V2, convert, list_snapshots, read_snapshot
from include.housing_data import quarantine as quarantine_files
from include.housing_data.settings import quarantine_uri, staging_uri

DAG_ID = "housing_producer"


def staged_files(s3_server, run: Any) -> list[str]:
    """Objects left in the run's staging folder."""
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(staging_uri(run.dataset_uri, run.run_id), **s3_server.storage_options)
    fs.invalidate_cache()
    return fs.find(path)


# --- a clean source, published twice -------------------------------------------------------------------


@pytest.fixture(scope="module")
def published_twice(producer_dag, lake: str, run_producer) -> tuple[Any, Any]:
    """Two runs on the default source (the real dataset), one after the other."""
    return run_producer(producer_dag, lake, source="sklearn"), run_producer(
        producer_dag, lake, source="sklearn"
    )


def test_first_run_succeeds(published_twice) -> None:
    """The first run on the real dataset succeeds with every task successful."""
    first, _ = published_twice
    assert first.state == "success"
    assert {task: state for task, (state, _) in first.tasks.items()} == dict.fromkeys(
        ["extract", "clean", "publish", "remove_staging"], "success"
    )


@pytest.mark.parametrize("contract", [V1, V2], ids=["v1", "v2"])
def test_first_run_publishes_a_snapshot_matching_its_manifest(published_twice, s3_server, contract) -> None:
    """Each version's snapshot reads back (sizes, sha256 and contract verified) with the manifest's row
    count, in that version's columns."""
    first, _ = published_twice
    snapshot = read_snapshot(
        first.uri(contract), contract=contract, storage_options=s3_server.storage_options
    )
    assert snapshot.manifest.row_count == len(snapshot.frame) == 20_621
    assert snapshot.manifest.producer == {"dag_id": DAG_ID, "run_id": first.run_id}
    assert (snapshot.manifest.contract.version, tuple(snapshot.frame.columns)) == (
        contract.version,
        contract.columns,
    )


def test_first_run_publishes_v1_and_v2_frames_that_convert_to_each_other(published_twice, s3_server) -> None:
    """The v2 snapshot is the v1 frame converted (snake_case, US dollars), and back, value for value."""
    first, _ = published_twice
    v1 = read_snapshot(first.uri(V1), storage_options=s3_server.storage_options).frame
    v2 = read_snapshot(first.uri(V2), storage_options=s3_server.storage_options).frame
    pd.testing.assert_frame_equal(convert(v1, V1, V2), v2, check_exact=True)
    pd.testing.assert_frame_equal(convert(v2, V2, V1), v1, check_exact=True)
    assert v2["median_house_value"].max() == 100_000 * v1["MedHouseVal"].max()


def test_only_the_v1_manifest_carries_the_deprecation(published_twice, s3_server) -> None:
    """The v1 manifest names its sunset and successor (the v2 URI); the v2 manifest is not deprecated."""
    first, _ = published_twice
    v1 = read_snapshot(first.uri(V1), storage_options=s3_server.storage_options).manifest
    v2 = read_snapshot(first.uri(V2), storage_options=s3_server.storage_options).manifest
    assert v1.deprecation == {"sunset": V1.deprecation.sunset.isoformat(), "successor_uri": V2.uri}
    assert v2.deprecation is None


def test_manifest_records_the_cleaning_counts_and_source(published_twice, s3_server) -> None:
    """The manifest's extras hold the per-rule cleaning counts (19 rows on the real data) and the source."""
    first, _ = published_twice
    extras = read_snapshot(first.dataset_uri, storage_options=s3_server.storage_options).manifest.extras
    assert extras["source"] == "sklearn"
    assert extras["cleaning"]["rows_removed"] == sum(extras["cleaning"]["removed"].values()) == 19


def test_first_run_emits_an_asset_event_per_version_with_its_manifest_summary(
    published_twice, s3_server, asset_events
) -> None:
    """One asset event on each version's Asset, carrying that version's snapshot id, row count,
    fingerprint, contract version and URI."""
    first, _ = published_twice
    manifests = {
        contract: read_snapshot(first.uri(contract), storage_options=s3_server.storage_options).manifest
        for contract in (V1, V2)
    }
    assert asset_events(first.run_id) == {
        "california_housing_v1": [manifests[V1].summary()],
        "california_housing_v2": [manifests[V2].summary()],
    }


def test_first_run_returns_each_versions_summary(published_twice, s3_server) -> None:
    """The publish task's XCom is ``{"v1": summary, "v2": summary}``."""
    first, _ = published_twice
    assert first.published == {
        f"v{contract.major}": read_snapshot(
            first.uri(contract), storage_options=s3_server.storage_options
        ).manifest.summary()
        for contract in (V1, V2)
    }


def test_second_run_on_the_same_source_publishes_nothing(published_twice, s3_server) -> None:
    """Unchanged content: the second run succeeds, publish is skipped, still one snapshot per version."""
    first, second = published_twice
    assert second.state == "success"
    assert second.tasks["publish"][0] == "skipped"
    for contract in (V1, V2):
        assert len(list_snapshots(first.uri(contract), storage_options=s3_server.storage_options)) == 1


@pytest.mark.parametrize("contract", [V1, V2], ids=["v1", "v2"])
def test_second_run_confirms_the_snapshot_current(published_twice, s3_server, contract) -> None:
    """The skipped publish still records, as the second run, that each version's newest snapshot is
    current (what keeps the freshness promise while the source does not change)."""
    from housing_contracts.lake.confirmation import read_confirmation
    from housing_contracts.lake.storage import resolve

    first, second = published_twice
    uri = first.uri(contract)
    manifest = read_snapshot(uri, storage_options=s3_server.storage_options).manifest
    confirmation = read_confirmation(*resolve(uri, s3_server.storage_options))
    assert confirmation.snapshot_id == manifest.snapshot_id
    assert confirmation.producer == {"dag_id": DAG_ID, "run_id": second.run_id}
    assert confirmation.confirmed_at > manifest.created_at


def test_second_run_emits_no_asset_event(published_twice, asset_events) -> None:
    """Unchanged content emits no asset event, so the consumer does not retrain."""
    _, second = published_twice
    assert asset_events(second.run_id) == {}


def test_staging_is_removed_after_each_run(published_twice, s3_server) -> None:
    """The teardown deletes the frames each run staged."""
    for run in published_twice:
        assert staged_files(s3_server, run) == []


# --- a corrupted source --------------------------------------------------------------------------------

#: Rows of the corrupted source that break the contract in ways cleaning must not repair.
CORRUPTED = {3: {"Latitude": 48.0}, 7: {"Latitude": 48.5}, 11: {"MedInc": -1.0}, 12: {"MedHouseVal": 0.0}}


@pytest.fixture(scope="module")
def quarantined(
    producer_dag, lake: str, run_producer, s3_server, california_housing_frame: pd.DataFrame
) -> Any:
    """A run on an s3:// Parquet source of 1,500 real rows, four of them corrupted."""
    frame = california_housing_frame.head(1_500).copy()
    for row, values in CORRUPTED.items():
        for column, value in values.items():
            frame.loc[row, column] = value
    source = f"{lake.rsplit('/', 1)[0]}/incoming/corrupted.parquet"
    frame.to_parquet(source, index=False, storage_options=s3_server.storage_options)
    return run_producer(producer_dag, lake, source=source)


def test_corrupted_source_fails_at_publish_without_retry(quarantined, lake: str, s3_server) -> None:
    """The run fails in publish on the first try, and commits no snapshot."""
    assert quarantined.state == "failed"
    assert quarantined.tasks["publish"] == ("failed", 1)
    committed = list_snapshots(lake, storage_options=s3_server.storage_options)
    assert [m.snapshot_id for m in committed if m.producer.get("run_id") == quarantined.run_id] == []


def test_quarantine_holds_the_report(quarantined, s3_server) -> None:
    """report.json names the failing checks with their counts and the quarantined row count."""
    import fsspec

    uri = f"{quarantine_uri(quarantined.run_id)}/{quarantine_files.REPORT_NAME}"
    with fsspec.open(uri, "r", **s3_server.storage_options) as handle:
        document = json.load(handle)
    failures = {(f["column"], f["check"]): f["failure_count"] for f in document["report"]["failures"]}
    assert failures == {
        ("MedInc", "greater_than(0)"): 1,
        ("Latitude", "less_than_or_equal_to(42.0)"): 2,
        ("MedHouseVal", "greater_than(0)"): 1,
    }
    assert document["quarantined_rows"] == len(CORRUPTED)


def test_quarantine_holds_the_offending_rows(quarantined, s3_server) -> None:
    """rows.parquet holds exactly the corrupted rows, with their values."""
    uri = f"{quarantine_uri(quarantined.run_id)}/{quarantine_files.ROWS_NAME}"
    rows = pd.read_parquet(uri, storage_options=s3_server.storage_options)
    assert sorted(rows.index) == sorted(CORRUPTED)
    assert rows.loc[3, "Latitude"] == 48.0


def test_corrupted_source_publishes_nothing(quarantined, s3_server, asset_events) -> None:
    """No snapshot appears under either version's URI from the quarantined run, and no asset event."""
    for contract in (V1, V2):
        manifests = list_snapshots(quarantined.uri(contract), storage_options=s3_server.storage_options)
        assert quarantined.run_id not in {m.producer.get("run_id") for m in manifests}
    assert asset_events(quarantined.run_id) == {}


def test_staging_is_removed_after_a_quarantined_run(quarantined, s3_server) -> None:
    """The teardown also runs when validation failed."""
    assert staged_files(s3_server, quarantined) == []


# --- sources that fail before validation ---------------------------------------------------------------


def test_cleaning_incident_fails_the_run_without_retry(
    producer_dag,
    lake: str,
    run_producer,
    asset_events,
    tmp_path: Path,
    california_housing_frame: pd.DataFrame,
) -> None:
    """A source where cleaning would remove 6% of the rows fails in clean, first try, publishing nothing."""
    frame = california_housing_frame.head(2_000).copy()
    frame.loc[frame.index[:120], "AveRooms"] = np.nan  # 120 of 2,000 = 6% > 5%
    source = tmp_path / "too_dirty.csv"
    frame.to_csv(source, index=False)
    run = run_producer(producer_dag, lake, source=source.as_uri())
    assert (run.state, run.tasks["clean"], run.tasks["publish"][0]) == (
        "failed",
        ("failed", 1),
        "upstream_failed",
    )
    assert asset_events(run.run_id) == {}


def test_missing_source_fails_without_retry(producer_dag, lake: str, run_producer, tmp_path: Path) -> None:
    """A source file that does not exist fails extract on the first try."""
    run = run_producer(producer_dag, lake, source=str(tmp_path / "absent.parquet"))
    assert (run.state, run.tasks["extract"]) == ("failed", ("failed", 1))
