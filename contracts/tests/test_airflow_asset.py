"""The dataset Asset, its watcher's serialization, connections and the event helpers (no servers)."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from airflow.sdk import Asset
from airflow.sdk.definitions.asset import AssetUniqueKey
from airflow.serialization.decoders import smart_decode_trigger_kwargs
from airflow.serialization.encoders import encode_trigger
from airflow.triggers.base import BaseEventTrigger

from housing_contracts import V1
from housing_contracts.airflow.asset import dataset_asset, manifests_from_events
from housing_contracts.airflow.connections import storage_options_from_connection
from housing_contracts.airflow.trigger import DEFAULT_POLL_INTERVAL, SnapshotCommittedTrigger, _Cursor
from housing_contracts.contract.versions import ASSET_NAME, DATASET_URI


def _snapshot_id(created: datetime, suffix: str = "0a1b2c3d") -> str:
    return f"{created:%Y%m%dT%H%M%S.%fZ}-{suffix}"


def _event(snapshot_id: str, *, from_trigger: bool = True) -> dict:
    return {"from_trigger": from_trigger, "payload": {"snapshot_id": snapshot_id, "row_count": 1000}}


def test_outlet_asset_is_the_contract_dataset():
    """dataset_asset() is the contract's Asset, with no watcher."""
    assert dataset_asset(V1) == Asset(name=ASSET_NAME, uri=DATASET_URI)


def test_watched_asset_carries_snapshot_trigger():
    """dataset_asset(watch=True) carries one watcher polling through the given connection every second."""
    (watcher,) = dataset_asset(watch=True, conn_id="lake_s3", contract=V1).watchers
    trigger = watcher.trigger
    assert (type(trigger), trigger.conn_id, trigger.asset_name, trigger.poll_interval) == (
        SnapshotCommittedTrigger,
        "lake_s3",
        ASSET_NAME,
        DEFAULT_POLL_INTERVAL,
    )


def test_outlet_and_watched_asset_are_one_asset():
    """Producer outlet and consumer schedule share name and URI, the key of triggering_asset_events."""
    assert AssetUniqueKey.from_asset(dataset_asset(V1)) == AssetUniqueKey.from_asset(
        dataset_asset(watch=True, conn_id="lake_s3", contract=V1)
    )


def test_trigger_survives_the_triggerers_round_trip():
    """Encoded as the DAG processor stores it and decoded as the triggerer reads it, it is unchanged."""
    trigger = dataset_asset(watch=True, conn_id="lake_s3", contract=V1).watchers[0].trigger
    encoded = encode_trigger(trigger)
    kwargs = {name: smart_decode_trigger_kwargs(value) for name, value in encoded["kwargs"].items()}
    assert SnapshotCommittedTrigger(**kwargs).serialize() == trigger.serialize()


def test_trigger_identity_is_stable_across_parses():
    """Two parses give the same trigger hash, so the DAG processor never replaces the watcher's trigger."""
    first, second = (
        dataset_asset(watch=True, conn_id="lake_s3", contract=V1).watchers[0].trigger for _ in range(2)
    )
    assert BaseEventTrigger.hash(*first.serialize()) == BaseEventTrigger.hash(*second.serialize())


def test_consumer_dag_parses_without_connections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A DAG scheduled on the watched asset parses with no connection defined (nothing is looked up)."""
    from airflow.models import DagBag

    monkeypatch.delenv("AIRFLOW_CONN_LAKE_S3", raising=False)
    (tmp_path / "consumer.py").write_text(
        textwrap.dedent(
            """
            from airflow.sdk import dag, task
            from pendulum import datetime

            from housing_contracts import V1
            from housing_contracts.airflow.asset import dataset_asset


            @dag(schedule=[dataset_asset(V1, watch=True, conn_id="lake_s3")], start_date=datetime(2026, 1, 1))
            def consumer():
                @task
                def noop():
                    pass

                noop()


            consumer()
            """
        )
    )
    bag = DagBag(dag_folder=str(tmp_path))
    assert (bag.import_errors, list(bag.dags)) == ({}, ["consumer"])


def test_storage_options_from_aws_connection(monkeypatch: pytest.MonkeyPatch):
    """An aws connection gives s3fs keys and client_kwargs from login, password and extra."""
    connection = {
        "conn_type": "aws",
        "login": "AKIA-team",
        "password": "s3cret",
        "extra": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3_OPTIONS_TEST", json.dumps(connection))
    assert storage_options_from_connection("lake_s3_options_test") == {
        "key": "AKIA-team",
        "secret": "s3cret",
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000", "region_name": "us-east-1"},
    }


def test_storage_options_reject_other_connection_types(monkeypatch: pytest.MonkeyPatch):
    """A connection of another type is refused, naming the connection and the expected type."""
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3_WRONG_TYPE", json.dumps({"conn_type": "postgres", "login": "x"}))
    with pytest.raises(ValueError, match=r"'lake_s3_wrong_type' has type 'postgres'; expected an 'aws'"):
        storage_options_from_connection("lake_s3_wrong_type")


def test_manifests_from_events_folds_duplicates_oldest_first():
    """Several and re-delivered events of one run give each manifest once, ordered by snapshot id."""
    now = datetime.now(UTC)
    older, newer = _snapshot_id(now - timedelta(hours=1)), _snapshot_id(now)
    events = [_event(newer), _event(older), _event(newer)]
    assert [manifest["snapshot_id"] for manifest in manifests_from_events(events)] == [older, newer]


def test_manifests_from_events_ignores_events_not_from_the_trigger():
    """Asset events from elsewhere (e.g. a manual one) carry no manifest."""
    events = [_event(_snapshot_id(datetime.now(UTC)), from_trigger=False), {"note": "manual"}]
    assert manifests_from_events(events) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"poll_interval": 0}, "poll_interval must be a positive number of seconds, got 0"),
        ({"start_at": "oldest"}, "start_at must be one of .*'latest'.*got 'oldest'"),
    ],
)
def test_trigger_rejects_bad_arguments(kwargs: dict, message: str):
    """A non-positive poll interval or an unknown start position is refused at DAG parse time."""
    with pytest.raises(ValueError, match=message):
        SnapshotCommittedTrigger(**kwargs)


def test_cursor_folds_old_snapshots_into_watermark():
    """Acknowledged snapshots older than the horizon leave the id list but still count as seen."""
    now = datetime.now(UTC)
    old, recent = _snapshot_id(now - timedelta(days=30)), _snapshot_id(now)
    cursor = _Cursor()
    cursor.add([old, recent])
    restored = _Cursor.from_json(json.loads(json.dumps(cursor.to_json())), key="k")
    assert (sorted(restored.acked), old in restored, recent in restored) == ([recent], True, True)


def test_cursor_keeps_unacknowledged_snapshots_unseen():
    """A snapshot inside the horizon that was never acknowledged is not in the cursor."""
    now = datetime.now(UTC)
    cursor = _Cursor()
    cursor.add([_snapshot_id(now)])
    assert _snapshot_id(now - timedelta(hours=1), "ffffffff") not in cursor


def test_cursor_rejects_foreign_state():
    """A state store value that is not a cursor fails naming the key and the expected shape."""
    with pytest.raises(ValueError, match=r"key 'snapshot_cursor:s3://x' holds .*expected a snapshot cursor"):
        _Cursor.from_json({"offset": 3}, key="snapshot_cursor:s3://x")


def test_subscribing_asset_passes_consumer_and_promise_to_the_trigger():
    """consumer and max_lag reach the trigger as plain kwargs that survive the triggerer's round trip."""
    trigger = (
        dataset_asset(
            watch=True, conn_id="lake_s3", consumer="ml-team", max_lag=timedelta(hours=6), contract=V1
        )
        .watchers[0]
        .trigger
    )
    assert (trigger.consumer, trigger.max_lag_seconds) == ("ml-team", 21600.0)
    encoded = encode_trigger(trigger)
    kwargs = {name: smart_decode_trigger_kwargs(value) for name, value in encoded["kwargs"].items()}
    assert SnapshotCommittedTrigger(**kwargs).serialize() == trigger.serialize()


@pytest.mark.parametrize("consumer", ["../ml-team", "ml/team", "ML-Team", "ml team", "", "-ml"])
def test_unsafe_consumer_name_is_refused(consumer: str):
    """A consumer name that is not one safe path segment is refused when the DAG is parsed."""
    with pytest.raises(ValueError, match="not a safe path segment"):
        dataset_asset(watch=True, consumer=consumer, max_lag=timedelta(hours=1), contract=V1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"consumer": "ml-team"}, "consumer and max_lag go together"),
        ({"max_lag": timedelta(hours=1)}, "consumer and max_lag go together"),
        ({"consumer": "ml-team", "max_lag": timedelta(0)}, "max_lag must be a positive duration, got 0.0"),
        ({"consumer": "ml-team", "max_lag": timedelta(seconds=-5)}, "max_lag must be a positive duration"),
        (
            {"watch": False, "consumer": "ml-team", "max_lag": timedelta(hours=1)},
            "subscribe through the watcher: pass watch=True",
        ),
    ],
)
def test_subscription_needs_a_positive_promise(kwargs: dict, message: str):
    """A consumer subscribes with the lag it accepts: neither without the other, and never zero or less."""
    with pytest.raises(ValueError, match=message):
        dataset_asset(**({"watch": True} | kwargs))


def test_version_1_cursor_is_read_with_its_newest_snapshot_as_start():
    """A cursor written before subscriptions existed reads as version 2: start_after = its newest id."""
    now = datetime.now(UTC)
    older, newer = _snapshot_id(now - timedelta(hours=1)), _snapshot_id(now)
    cursor = _Cursor.from_json({"version": 1, "watermark": None, "acked": [newer, older]}, key="k")
    assert (cursor.acked, cursor.start_after) == ({older, newer}, newer)
    assert cursor.to_json()["version"] == 2
    assert _Cursor.from_json(cursor.to_json(), key="k") == cursor


def test_run_snapshot_is_the_newest_triggering_event_before_params():
    """An asset-triggered run's snapshot: the newest manifest of its triggering events, ahead of params."""
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    from housing_contracts.airflow.receipts import _run_snapshot_id

    now = datetime.now(UTC)
    older, newer = _snapshot_id(now - timedelta(minutes=5)), _snapshot_id(now)
    events = [
        AssetEventDagRunReferenceResult(
            asset={"name": ASSET_NAME, "uri": DATASET_URI, "extra": {}},
            extra=_event(snapshot_id),
            source_task_id=None,
            source_dag_id=None,
            source_run_id=None,
            source_map_index=None,
            source_aliases=[],
            timestamp=now,
        )
        for snapshot_id in (newer, older)
    ]
    context = {
        "triggering_asset_events": TriggeringAssetEventsAccessor.build(events),
        "params": {"snapshot_id": _snapshot_id(now, "ffffffff")},
    }
    assert _run_snapshot_id(context) == newer
