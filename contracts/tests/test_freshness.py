"""Freshness promises checked against a real S3 server: the producer's (a new snapshot, or a confirmation
that the newest is current, at least every N hours) and consumers' lag."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from housing_contracts import ASSET_NAME, V1, ContractError, PromiseBroken, publish
from housing_contracts.consumers.freshness import check_consumer_lag, check_freshness, freshness_promise
from housing_contracts.consumers.lag import format_duration
from housing_contracts.consumers.records import Receipt, Subscription, record_receipt, subscribe
from housing_contracts.contract.description import describe
from housing_contracts.lake.confirmation import Confirmation, confirm_current, read_confirmation
from housing_contracts.lake.layout import snapshot_time
from housing_contracts.lake.storage import resolve
from housing_contracts.testing import sample_frame

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
EXPECTS = (
    "the check expects a new snapshot, or a confirmation that the newest is still current, at least every"
)


@pytest.fixture
def options(s3_server: Any) -> dict[str, Any]:
    return s3_server.storage_options


def _publish(uri: str, options: dict[str, Any] | None, seed: int = 0) -> str:
    return publish(
        sample_frame(1000, seed=seed), uri, storage_options=options, contract=V1
    ).manifest.snapshot_id


def test_freshness_promise_is_the_contracts() -> None:
    """The promise comes from the live contract's description, in hours."""
    hours = describe(contract=V1)["freshness"]["max_snapshot_interval_hours"]
    assert freshness_promise() == timedelta(hours=hours)
    assert freshness_promise({"freshness": {"max_snapshot_interval_hours": 0.5}}) == timedelta(minutes=30)


def test_a_description_without_a_promise_says_so() -> None:
    """An older description (1.0.0 had no promise) is a ValueError naming its version."""
    with pytest.raises(ValueError, match=r"1\.0\.0 states no freshness promise"):
        freshness_promise({"contract": {"name": "california_housing", "version": "1.0.0"}})


def test_fresh_snapshot_passes(lake_uri: str, options: dict[str, Any]) -> None:
    """A snapshot younger than max_age gives an OK message naming it, its age and the limit."""
    snapshot_id = _publish(lake_uri, options)
    now = snapshot_time(snapshot_id) + timedelta(seconds=4)
    message = check_freshness(lake_uri, max_age=timedelta(seconds=10), now=now, storage_options=options)
    assert message == (
        f"OK: {ASSET_NAME} ({lake_uri}): newest snapshot {snapshot_id} is 4s old; {EXPECTS} 10s"
    )


def test_stale_snapshot_breaks_the_promise(lake_uri: str, options: dict[str, Any]) -> None:
    """An old newest snapshot raises PromiseBroken naming the dataset, the age and the promise."""
    _publish(lake_uri, options, seed=1)
    newest = _publish(lake_uri, options, seed=2)
    now = snapshot_time(newest) + timedelta(seconds=12)
    with pytest.raises(PromiseBroken) as broken:
        check_freshness(lake_uri, max_age=timedelta(seconds=10), now=now, storage_options=options)
    assert str(broken.value) == (
        f"{ASSET_NAME} ({lake_uri}): newest snapshot {newest} is 12s old; {EXPECTS} 10s"
    )
    assert isinstance(broken.value, ContractError)


def test_default_max_age_is_the_producers_promise(lake_uri: str, options: dict[str, Any]) -> None:
    """Without max_age the contract's promise applies, and the message says the producer promised it."""
    snapshot_id = _publish(lake_uri, options)
    promise = freshness_promise()
    created = snapshot_time(snapshot_id)
    assert check_freshness(lake_uri, now=created + promise, storage_options=options).startswith("OK: ")
    with pytest.raises(PromiseBroken) as broken:
        check_freshness(lake_uri, now=created + promise + timedelta(minutes=3), storage_options=options)
    assert str(broken.value).endswith(
        f"is {format_duration(promise + timedelta(minutes=3))} old; "
        "the producer promises a new snapshot, or a confirmation that the newest is still current, "
        f"at least every {format_duration(promise)}"
    )


def test_no_snapshot_breaks_the_promise(lake_uri: str, options: dict[str, Any]) -> None:
    """A dataset with no committed snapshot breaks the promise, and the message says so."""
    with pytest.raises(PromiseBroken, match=r"\): no snapshot has been published; the check expects"):
        check_freshness(lake_uri, max_age=timedelta(seconds=1), storage_options=options)


def _wait_until_older(snapshot_id: str, seconds: float) -> None:
    """Sleep until the snapshot is more than ``seconds`` old (a confirmation made then is later)."""
    while datetime.now(UTC) - snapshot_time(snapshot_id) <= timedelta(seconds=seconds):
        time.sleep(0.1)


def test_an_unchanged_republish_keeps_the_promise(
    team_lake_uri: str, data_team_s3: Any, ml_team_s3: Any
) -> None:
    """The producer republishes unchanged content: no new snapshot, but its confirmation counts, so the
    check passes although the snapshot itself is older than max_age (the ml-team identity reads it)."""
    data = data_team_s3.storage_options
    snapshot_id = _publish(team_lake_uri, data)
    _wait_until_older(snapshot_id, 1.0)
    assert not publish(sample_frame(1000, seed=0), team_lake_uri, storage_options=data, contract=V1).created
    confirmed = read_confirmation(*resolve(team_lake_uri, data)).confirmed_at
    now = confirmed + timedelta(seconds=0.5)
    message = check_freshness(
        team_lake_uri, max_age=timedelta(seconds=1), now=now, storage_options=ml_team_s3.storage_options
    )
    assert message == (
        f"OK: {ASSET_NAME} ({team_lake_uri}): newest snapshot {snapshot_id} is "
        f"{format_duration(now - snapshot_time(snapshot_id))} old, last confirmed current 0.5s ago; "
        f"{EXPECTS} 1s"
    )
    later = confirmed + timedelta(seconds=3)
    with pytest.raises(PromiseBroken, match=r"old, last confirmed current 3s ago; the check expects"):
        check_freshness(team_lake_uri, max_age=timedelta(seconds=1), now=later, storage_options=data)


def test_a_confirmation_of_an_older_snapshot_is_ignored(lake_uri: str, options: dict[str, Any]) -> None:
    """A confirmation naming any snapshot but the newest does not vouch for the newest; the message says
    it was ignored."""
    older = _publish(lake_uri, options, seed=1)
    newest = _publish(lake_uri, options, seed=2)
    now = snapshot_time(newest) + timedelta(seconds=12)
    fs, root = resolve(lake_uri, options)
    confirm_current(fs, root, Confirmation(older, now - timedelta(seconds=1), {"run_id": "other"}))
    with pytest.raises(PromiseBroken) as broken:
        check_freshness(lake_uri, max_age=timedelta(seconds=10), now=now, storage_options=options)
    assert str(broken.value) == (
        f"{ASSET_NAME} ({lake_uri}): newest snapshot {newest} is 12s old "
        f"(_current.json ignored: it confirms snapshot {older}, not the newest); {EXPECTS} 10s"
    )


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not valid JSON: "),
        (
            b'{"format": "someone-else/1", "snapshot_id": "x"}',
            "confirmation: field 'format': expected 'housing-contracts/current/1', got 'someone-else/1'",
        ),
        (
            b'{"format": "housing-contracts/current/1"}',
            "confirmation: field 'snapshot_id': missing; field 'confirmed_at': missing",
        ),
    ],
    ids=["not-json", "foreign", "incomplete"],
)
def test_a_corrupt_confirmation_is_ignored_and_reported(
    lake_uri: str, options: dict[str, Any], content: bytes, why: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An unreadable or foreign _current.json never raises: the snapshot's own age decides, and the
    message (and a warning) say why the confirmation was ignored."""
    snapshot_id = _publish(lake_uri, options)
    fs, root = resolve(lake_uri, options)
    fs.pipe_file(f"{root}/_current.json", content)
    now = snapshot_time(snapshot_id) + timedelta(seconds=4)
    message = check_freshness(lake_uri, max_age=timedelta(seconds=10), now=now, storage_options=options)
    assert message.startswith(f"OK: {ASSET_NAME} ({lake_uri}): newest snapshot {snapshot_id} is 4s old (")
    assert f"(_current.json ignored: {why}" in message
    assert f"_current.json ignored: {why}" in caplog.text
    with pytest.raises(PromiseBroken, match=r"is 12s old \(_current\.json ignored: "):
        check_freshness(
            lake_uri, max_age=timedelta(seconds=10), now=now + timedelta(seconds=8), storage_options=options
        )


def test_a_confirmation_later_than_now_is_ignored(lake_uri: str, options: dict[str, Any]) -> None:
    """A confirmed_at after the check's ``now`` (a skewed clock) cannot keep the promise."""
    snapshot_id = _publish(lake_uri, options)
    now = snapshot_time(snapshot_id) + timedelta(seconds=12)
    fs, root = resolve(lake_uri, options)
    confirm_current(fs, root, Confirmation(snapshot_id, now + timedelta(hours=1)))
    with pytest.raises(PromiseBroken, match=r"is 12s old \(_current\.json ignored: confirmed_at .* is later"):
        check_freshness(lake_uri, max_age=timedelta(seconds=10), now=now, storage_options=options)


def _subscribe(uri: str, consumer: str, max_lag: timedelta, options: dict[str, Any]) -> None:
    subscribe(
        Subscription(consumer, uri, f"http://{consumer}:8080", max_lag, "latest", None, T0, "1.1.0"),
        storage_options=options,
    )


def _receipt(uri: str, consumer: str, snapshot_id: str, options: dict[str, Any], **changes: Any) -> None:
    fields = {"outcome": "success", "reason": None, "run_id": snapshot_id} | changes
    receipt = Receipt(consumer, uri, snapshot_id, "housing_consumer", started_at=T0, finished_at=T0, **fields)
    record_receipt(receipt, storage_options=options)


def test_consumer_lag_beyond_its_promise_is_named(lake_uri: str, options: dict[str, Any]) -> None:
    """PromiseBroken names every lagging consumer: lag in snapshots and time, its promise, its last run."""
    first, second = (_publish(lake_uri, options, seed=1), _publish(lake_uri, options, seed=2))
    _subscribe(lake_uri, "ml-team", timedelta(seconds=30), options)
    _receipt(lake_uri, "ml-team", first, options)
    _receipt(lake_uri, "ml-team", second, options, outcome="failed", reason="train failed: ValueError: boom")
    _subscribe(lake_uri, "patient", timedelta(hours=1), options)  # lags too, within its promise
    _subscribe(lake_uri, "sleepy", timedelta(seconds=5), options)
    now = snapshot_time(second) + timedelta(seconds=123)
    with pytest.raises(PromiseBroken) as broken:
        check_consumer_lag(lake_uri, now=now, storage_options=options)
    assert str(broken.value) == (
        f"{ASSET_NAME} ({lake_uri}): "
        f"consumer ml-team lags 1 snapshot(s), 2m 3s behind; it promises at most 30s "
        f"(last: {second} failed: train failed: ValueError: boom); "
        f"consumer sleepy lags 2 snapshot(s), {format_duration(now - snapshot_time(first))} behind; "
        "it promises at most 5s (it has consumed nothing yet)"
    )


def test_consumers_within_their_promise_pass(lake_uri: str, options: dict[str, Any]) -> None:
    """When no consumer lags beyond its promise, the rows come back."""
    snapshot_id = _publish(lake_uri, options)
    _subscribe(lake_uri, "ml-team", timedelta(seconds=30), options)
    _receipt(lake_uri, "ml-team", snapshot_id, options)
    now = snapshot_time(snapshot_id) + timedelta(hours=2)
    rows = check_consumer_lag(lake_uri, now=now, storage_options=options)
    assert [(row.consumer, row.lag_snapshots, row.breaks_promise) for row in rows] == [("ml-team", 0, False)]
