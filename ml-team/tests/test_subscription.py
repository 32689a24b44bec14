"""Which snapshot a run consumes: the event's, the param's, or the newest committed one."""

from __future__ import annotations

import re

import pytest

from housing_contracts import SnapshotNotFoundError
from include.housing_ml.settings import predictions_file_uri
from include.housing_ml.subscription import (
    AlreadyConsumed,
    SnapshotRef,
    choose_snapshot_id,
    resolve,
    resolve_snapshot_id,
)

OLD, NEW = "20260101T000000.000000Z-aaaaaaaa", "20260102T000000.000000Z-bbbbbbbb"


def test_events_win_over_the_param() -> None:
    """A run created by the watcher trains on the event's snapshot, whatever the param says."""
    assert choose_snapshot_id([{"snapshot_id": OLD}], requested=NEW) == OLD


def test_the_newest_of_several_events_is_chosen() -> None:
    """Snapshots committed while a run was queued fold into one run on the newest."""
    assert choose_snapshot_id([{"snapshot_id": NEW}, {"snapshot_id": OLD}], requested=None) == NEW


def test_a_manual_run_without_param_means_newest() -> None:
    """No events and no param: None, i.e. the newest committed snapshot."""
    assert choose_snapshot_id([], requested=None) is None


def test_snapshot_ref_round_trips_through_a_dict(published, team_lake_uri) -> None:
    """SnapshotRef survives to_dict/from_dict (what XCom carries) and names the snapshot's URI."""
    ref = SnapshotRef.from_manifest(published.to_dict(), team_lake_uri)
    assert SnapshotRef.from_dict(ref.to_dict()) == ref
    assert ref.snapshot_uri == published.snapshot_uri


def test_newest_committed_snapshot_is_resolved(team_lake_uri, storage_options, publish_sample) -> None:
    """Without a choice, the newest of two committed snapshots is consumed."""
    publish_sample(team_lake_uri, seed=1)
    newest = publish_sample(team_lake_uri, seed=2)
    assert resolve_snapshot_id(team_lake_uri, None, storage_options=storage_options) == newest.snapshot_id


def test_an_empty_dataset_is_refused(team_lake_uri, storage_options) -> None:
    """With nothing published, resolving names the dataset URI."""
    with pytest.raises(
        SnapshotNotFoundError, match=f"no committed snapshot under {re.escape(team_lake_uri)}"
    ):
        resolve_snapshot_id(team_lake_uri, None, storage_options=storage_options)


def test_resolve_reads_the_dataset_uri_override(
    published, team_lake_uri, storage_options, monkeypatch
) -> None:
    """The resolve step looks under $HOUSING_DATASET_URI and reports where the id came from."""
    monkeypatch.setenv("HOUSING_DATASET_URI", team_lake_uri)
    resolved = resolve([], None, storage_options=storage_options)
    assert resolved == {
        "dataset_uri": team_lake_uri,
        "snapshot_id": published.snapshot_id,
        "source": "newest",
    }


def test_a_redelivered_event_for_a_consumed_snapshot_is_skipped(
    published, team_lake_uri, predictions_root, storage_options, monkeypatch, reliability_row
) -> None:
    """Once a snapshot's predictions exist, an event for it raises AlreadyConsumed; a manual run proceeds."""
    import fsspec

    monkeypatch.setenv("HOUSING_DATASET_URI", team_lake_uri)
    monkeypatch.setenv("HOUSING_PREDICTIONS_URI", predictions_root)
    event = [{"snapshot_id": published.snapshot_id}]
    first = resolve(event, None, storage_options=storage_options)
    with fsspec.open(predictions_file_uri(published.snapshot_id), "wb", **storage_options) as handle:
        handle.write(b"the consumption of the first delivery")
    with pytest.raises(
        AlreadyConsumed, match=f"snapshot {published.snapshot_id} was already consumed"
    ) as again:
        resolve(event, None, storage_options=storage_options)
    manual = resolve([], published.snapshot_id, storage_options=storage_options)
    reliability_row(
        "the same snapshot's event delivered twice",
        "first consumed, the re-delivery skipped, a manual run still retrains",
        f"first -> {first['source']}; again -> {type(again.value).__name__}; manual -> {manual['source']}",
    )
    assert first["snapshot_id"] == manual["snapshot_id"] == published.snapshot_id
