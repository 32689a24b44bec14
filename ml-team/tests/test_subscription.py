"""Which snapshot a run consumes: the event's, the param's, or the newest committed one."""

from __future__ import annotations

import logging
import re

import pytest

from housing_contracts import V1, V2, SnapshotNotFoundError
from include.housing_ml.settings import predictions_file_uri, predictions_uri
from include.housing_ml.subscription import (
    AlreadyConsumed,
    SnapshotRef,
    choose_snapshot_id,
    contract_of_ref,
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


def test_snapshot_ref_round_trips_through_a_dict(published, subscribed_uri) -> None:
    """SnapshotRef survives to_dict/from_dict (what XCom carries), names the snapshot's URI and the
    contract it was published under."""
    ref = SnapshotRef.from_manifest(published.to_dict(), subscribed_uri)
    assert SnapshotRef.from_dict(ref.to_dict()) == ref
    assert ref.snapshot_uri == published.snapshot_uri
    assert ref.contract == contract_of_ref(ref.to_dict()) == V2


def test_a_reference_without_a_released_contract_is_refused() -> None:
    """A reference naming no released contract is a ValueError naming what it holds."""
    with pytest.raises(ValueError, match=r"'california_housing' '3\.0\.0' is no released contract"):
        contract_of_ref({"contract_name": "california_housing", "contract_version": "3.0.0"})


def test_newest_committed_snapshot_is_resolved(subscribed_uri, storage_options, publish_sample) -> None:
    """Without a choice, the newest of two committed snapshots is consumed."""
    publish_sample(subscribed_uri, seed=1)
    newest = publish_sample(subscribed_uri, seed=2)
    assert resolve_snapshot_id(subscribed_uri, None, storage_options=storage_options) == newest.snapshot_id


def test_an_empty_dataset_is_refused(subscribed_uri, storage_options) -> None:
    """With nothing published, resolving names the dataset URI."""
    with pytest.raises(
        SnapshotNotFoundError, match=f"no committed snapshot under {re.escape(subscribed_uri)}"
    ):
        resolve_snapshot_id(subscribed_uri, None, storage_options=storage_options)


def test_resolve_looks_under_the_subscribed_contracts_dataset(
    published, team_lake_uri, subscribed_uri, storage_options, monkeypatch
) -> None:
    """The resolve step looks under the subscribed contract's dataset ($HOUSING_DATASET_URI's v2 sibling
    here) and reports where the id came from and the contract it reads it with."""
    monkeypatch.setenv("HOUSING_DATASET_URI", team_lake_uri)
    resolved = resolve([], None, contract=V2, storage_options=storage_options)
    assert resolved == {
        "dataset_uri": subscribed_uri,
        "snapshot_id": published.snapshot_id,
        "source": "newest",
        "contract_name": "california_housing",
        "contract_version": "2.0.0",
    }


def test_a_deprecated_subscription_warns_with_sunset_and_successor(
    team_lake_uri, storage_options, publish_sample, monkeypatch, caplog
) -> None:
    """Subscribed to 1.x (deprecated), resolve logs a WARNING naming the sunset and the successor."""
    monkeypatch.setenv("HOUSING_DATASET_URI", team_lake_uri)
    publish_sample(team_lake_uri, contract=V1)
    with caplog.at_level(logging.WARNING, logger="include.housing_ml.subscription"):
        resolve([], None, contract=V1, storage_options=storage_options)
    (record,) = [r for r in caplog.records if r.name == "include.housing_ml.subscription"]
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith(
        "this consumer subscribes to california_housing 1.1.0, which is deprecated: sunset 2027-03-31, "
        "successor s3://lake/california_housing/v2"
    ), record.getMessage()


def test_a_current_subscription_does_not_warn(published, team_lake_uri, storage_options, monkeypatch, caplog):
    """Subscribed to 2.0.0 (not deprecated), resolve logs no warning."""
    monkeypatch.setenv("HOUSING_DATASET_URI", team_lake_uri)
    with caplog.at_level(logging.WARNING):
        resolve([], None, contract=V2, storage_options=storage_options)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_redelivered_event_for_a_consumed_snapshot_is_skipped(
    published, team_lake_uri, predictions_root, storage_options, monkeypatch, reliability_row
) -> None:
    """Once a snapshot's predictions exist, an event for it raises AlreadyConsumed; a manual run proceeds."""
    import fsspec

    monkeypatch.setenv("HOUSING_DATASET_URI", team_lake_uri)
    monkeypatch.setenv("HOUSING_PREDICTIONS_URI", predictions_root)
    event = [{"snapshot_id": published.snapshot_id}]
    first = resolve(event, None, contract=V2, storage_options=storage_options)
    consumed = predictions_file_uri(published.snapshot_id, predictions_uri(V2))
    with fsspec.open(consumed, "wb", **storage_options) as handle:
        handle.write(b"the consumption of the first delivery")
    with pytest.raises(
        AlreadyConsumed, match=f"snapshot {published.snapshot_id} was already consumed"
    ) as again:
        resolve(event, None, contract=V2, storage_options=storage_options)
    manual = resolve([], published.snapshot_id, contract=V2, storage_options=storage_options)
    reliability_row(
        "the same snapshot's event delivered twice",
        "first consumed, the re-delivery skipped, a manual run still retrains",
        f"first -> {first['source']}; again -> {type(again.value).__name__}; manual -> {manual['source']}",
    )
    assert first["snapshot_id"] == manual["snapshot_id"] == published.snapshot_id
