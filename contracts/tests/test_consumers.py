"""Consumers' subscriptions and receipts, and their lag, on a real S3 server (SeaweedFS) and a folder."""

from __future__ import annotations

import json
import posixpath
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from housing_contracts import V1, publish
from housing_contracts.consumers.lag import ConsumerLag, consumer_lag, format_consumers, format_duration
from housing_contracts.consumers.records import (
    LATEST_RECEIPTS_NAME,
    RECEIPT_FORMAT,
    SUBSCRIPTION_FORMAT,
    LatestReceipts,
    Receipt,
    Subscription,
    check_consumer_name,
    consumer_uri,
    record_receipt,
    run_key,
    subscribe,
)
from housing_contracts.lake.layout import snapshot_time
from housing_contracts.lake.storage import ensure_dir, resolve
from housing_contracts.testing import S3Requests, sample_frame

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
UNSAFE_NAMES = ["../x", "a/b", "", "ML Team", "ml-team\n", ".hidden", "x" * 64]


@dataclass
class Lake:
    """A test's dataset and the consumer records beside it."""

    uri: str
    storage_options: dict[str, Any] | None
    published: int = 0

    def publish(self) -> str:
        """Publish a new snapshot (new content each time); its id."""
        self.published += 1
        frame = sample_frame(1000, seed=self.published)
        return publish(
            frame, self.uri, storage_options=self.storage_options, contract=V1
        ).manifest.snapshot_id

    def subscribe(self, consumer: str = "ml-team", **changes: Any) -> Subscription:
        fields = {
            "consumer": consumer,
            "dataset_uri": self.uri,
            "deployment": f"http://{consumer}.example:8080",
            "max_lag": timedelta(hours=6),
            "start_at": "latest",
            "start_after": None,
            "subscribed_at": T0,
            "contract_version": "1.1.0",
        }
        subscription = Subscription(**(fields | changes))
        subscribe(subscription, storage_options=self.storage_options)
        return subscription

    def receipt(
        self, snapshot_id: str, run_id: str = "run-1", consumer: str = "ml-team", **changes: Any
    ) -> Receipt:
        fields = {
            "consumer": consumer,
            "dataset_uri": self.uri,
            "snapshot_id": snapshot_id,
            "dag_id": "housing_consumer",
            "run_id": run_id,
            "outcome": "success",
            "reason": None,
            "started_at": T0,
            "finished_at": T0 + timedelta(seconds=1),
            "produced": {"model_version": "3", "decision": "champion"},
        }
        receipt = Receipt(**(fields | changes))
        record_receipt(receipt, storage_options=self.storage_options)
        return receipt

    def write(self, consumer: str, below: str, content: bytes) -> None:
        """Put raw bytes at ``below`` in ``consumer``'s records (a corrupt or foreign writer)."""
        fs, folder = resolve(consumer_uri(self.uri, consumer), self.storage_options)
        ensure_dir(fs, posixpath.dirname(f"{folder}/{below}"))
        fs.pipe_file(f"{folder}/{below}", content)

    def files(self, consumer: str = "ml-team") -> list[str]:
        fs, folder = resolve(consumer_uri(self.uri, consumer), self.storage_options)
        fs.invalidate_cache()
        return sorted(path.removeprefix(f"{folder}/") for path in fs.find(folder))

    def lag(self, now: datetime | None = None) -> dict[str, ConsumerLag]:
        rows = consumer_lag(self.uri, now=now, storage_options=self.storage_options)
        assert [row.consumer for row in rows] == sorted(row.consumer for row in rows)
        return {row.consumer: row for row in rows}


@pytest.fixture(params=["file", "s3"])
def lake(request: pytest.FixtureRequest, local_uri: str) -> Lake:
    """The same tests on a local folder and on the real S3 server."""
    if request.param == "file":
        return Lake(local_uri, None)
    return Lake(request.getfixturevalue("lake_uri"), request.getfixturevalue("s3_server").storage_options)


@pytest.fixture
def s3_lake(s3_server: Any, lake_uri: str) -> Lake:
    return Lake(lake_uri, s3_server.storage_options)


def test_consumer_uri_on_s3_is_the_consumers_own_prefix() -> None:
    """On S3 the records live under <bucket>/_consumers/<consumer>/<dataset key>, outside the dataset."""
    uri = consumer_uri("s3://lake/california_housing/v1", "ml-team")
    assert uri == "s3://lake/_consumers/ml-team/california_housing/v1"


def test_consumer_uri_on_a_disk_is_inside_the_dataset(local_uri: str) -> None:
    """A dataset folder keeps its consumers' records in <dataset>/_consumers/<consumer>."""
    assert consumer_uri(local_uri, "ml-team") == f"{local_uri}/_consumers/ml-team"


def test_dataset_at_a_bucket_root_is_refused() -> None:
    """A bucket without a dataset key has no place for consumer records: ValueError says so."""
    with pytest.raises(ValueError, match="no key below its bucket"):
        consumer_uri("s3://lake", "ml-team")


def test_subscription_round_trip(lake: Lake) -> None:
    """subscribe() writes subscription.json in the consumer's folder; it reads back equal."""
    subscription = lake.subscribe(start_after="20261130T110000.000000Z-0a1b2c3d")
    assert lake.files() == ["subscription.json"]
    fs, folder = resolve(consumer_uri(lake.uri, "ml-team"), lake.storage_options)
    document = json.loads(fs.cat_file(f"{folder}/subscription.json"))
    assert document["format"] == SUBSCRIPTION_FORMAT
    assert document["max_lag_seconds"] == 6 * 3600
    assert Subscription.from_dict(document) == subscription


def test_receipt_round_trip(lake: Lake) -> None:
    """record_receipt() writes receipts/<snapshot>/<run key>.json, then the consumer's latest-receipts.json
    naming it; it reads back equal."""
    snapshot_id = lake.publish()
    receipt = lake.receipt(snapshot_id)
    key = run_key("housing_consumer", "run-1")
    assert lake.files() == [LATEST_RECEIPTS_NAME, f"receipts/{snapshot_id}/{key}.json"]
    fs, folder = resolve(consumer_uri(lake.uri, "ml-team"), lake.storage_options)
    latest = LatestReceipts.from_json(fs.cat_file(f"{folder}/{LATEST_RECEIPTS_NAME}"))
    assert (latest.last, latest.last_success) == (receipt, receipt)
    fs, folder = resolve(consumer_uri(lake.uri, "ml-team"), lake.storage_options)
    document = json.loads(fs.cat_file(f"{folder}/receipts/{snapshot_id}/{key}.json"))
    assert document["format"] == RECEIPT_FORMAT
    assert Receipt.from_dict(document) == receipt


def test_same_run_written_twice_is_one_receipt(lake: Lake) -> None:
    """A run that records twice (a retried callback, a re-run) leaves one receipt: the last one."""
    snapshot_id = lake.publish()
    lake.subscribe()
    lake.receipt(snapshot_id, outcome="failed", reason="train failed: ValueError: boom")
    lake.receipt(snapshot_id, finished_at=T0 + timedelta(minutes=5))
    assert len([f for f in lake.files() if f.startswith("receipts/")]) == 1
    row = lake.lag()["ml-team"]
    assert (row.last_outcome, row.last_finished_at) == ("success", T0 + timedelta(minutes=5))


def test_lag_is_zero_after_consuming_the_newest_and_one_after_a_new_snapshot(lake: Lake) -> None:
    """Consuming the newest snapshot gives lag 0; a new snapshot makes it 1."""
    first = lake.publish()
    lake.subscribe()
    lake.receipt(first)
    row = lake.lag()["ml-team"]
    assert (row.lag_snapshots, row.lag, row.consumed_snapshot_id, row.newest_snapshot_id) == (
        0,
        timedelta(0),
        first,
        first,
    )
    assert not row.breaks_promise and row.problems == ()
    second = lake.publish()
    row = lake.lag()["ml-team"]
    assert (row.lag_snapshots, row.consumed_snapshot_id, row.newest_snapshot_id) == (1, first, second)


def test_lag_counts_snapshots_and_time_since_the_oldest_unconsumed(s3_lake: Lake) -> None:
    """Lag = snapshots newer than the consumed one, and the time since the oldest of them was created."""
    first, second, third = s3_lake.publish(), s3_lake.publish(), s3_lake.publish()
    s3_lake.subscribe(max_lag=timedelta(seconds=90))
    s3_lake.receipt(first)
    now = snapshot_time(second) + timedelta(seconds=90)
    row = s3_lake.lag(now)["ml-team"]
    assert (row.lag_snapshots, row.lag, row.newest_snapshot_id) == (2, timedelta(seconds=90), third)
    assert not row.breaks_promise  # exactly at the promise
    assert s3_lake.lag(now + timedelta(seconds=1))["ml-team"].breaks_promise


def test_never_consumed_consumer_shows_its_full_lag(s3_lake: Lake) -> None:
    """A subscriber without receipts lags every snapshot, timed from the oldest."""
    first, _ = s3_lake.publish(), s3_lake.publish()
    s3_lake.subscribe(max_lag=timedelta(minutes=1))
    row = s3_lake.lag(snapshot_time(first) + timedelta(minutes=2))["ml-team"]
    assert (row.lag_snapshots, row.lag, row.breaks_promise) == (2, timedelta(minutes=2), True)
    assert (row.last_snapshot_id, row.last_outcome, row.consumed_snapshot_id) == (None, None, None)
    assert row.deployment == "http://ml-team.example:8080"


def test_start_after_counts_older_snapshots_as_seen(s3_lake: Lake) -> None:
    """Snapshots up to the subscription's start_after are not lag, even never consumed."""
    _, second, third = s3_lake.publish(), s3_lake.publish(), s3_lake.publish()
    s3_lake.subscribe(start_after=second)
    row = s3_lake.lag(snapshot_time(third) + timedelta(seconds=5))["ml-team"]
    assert (row.lag_snapshots, row.lag) == (1, timedelta(seconds=5))


def test_failed_receipt_is_the_last_outcome_while_lag_counts_from_the_last_success(s3_lake: Lake) -> None:
    """A failure shows as the last outcome with its reason; lag still runs from the last success."""
    first, second = s3_lake.publish(), s3_lake.publish()
    s3_lake.subscribe()
    s3_lake.receipt(first, run_id="run-1")
    reason = "train failed: ValueError: Input contains NaN"
    s3_lake.receipt(
        second, run_id="run-2", outcome="failed", reason=reason, finished_at=T0 + timedelta(hours=1)
    )
    row = s3_lake.lag(snapshot_time(second) + timedelta(seconds=7))["ml-team"]
    assert (row.last_snapshot_id, row.last_outcome, row.last_reason) == (second, "failed", reason)
    assert (row.consumed_snapshot_id, row.lag_snapshots, row.lag) == (first, 1, timedelta(seconds=7))


def test_bad_receipts_are_reported_and_skipped(lake: Lake) -> None:
    """Corrupt, foreign and unknown-snapshot receipts are named in problems; none counts as consumed."""
    first, second = lake.publish(), lake.publish()
    lake.subscribe()
    lake.receipt(first)
    good = Receipt("ml-team", lake.uri, second, "housing_consumer", "r", "success", None, T0, T0)
    unknown = "20991231T000000.000000Z-0badf00d"
    for below, document in {
        f"receipts/{second}/corrupt.json": b"{not json",
        f"receipts/{second}/{run_key('d', 'other-consumer')}.json": good.to_dict()
        | {"consumer": "data-team", "run_id": "other-consumer", "dag_id": "d"},
        f"receipts/{second}/{run_key('d', 'other-format')}.json": good.to_dict()
        | {"format": "housing-contracts/receipt/0", "run_id": "other-format", "dag_id": "d"},
        f"receipts/{second}/{run_key('d', 'other-dataset')}.json": good.to_dict()
        | {"dataset_uri": "s3://lake/elsewhere/v1", "run_id": "other-dataset", "dag_id": "d"},
        f"receipts/{first}/{run_key('d', 'misplaced')}.json": good.to_dict()
        | {"run_id": "misplaced", "dag_id": "d"},
        f"receipts/{unknown}/{good.run_key}.json": good.to_dict() | {"snapshot_id": unknown},
    }.items():
        lake.write(
            "ml-team", below, document if isinstance(document, bytes) else json.dumps(document).encode()
        )
    row = lake.lag()["ml-team"]
    assert (row.consumed_snapshot_id, row.lag_snapshots) == (first, 1)
    problems = "\n".join(row.problems)
    assert len(row.problems) == 6, problems
    assert "corrupt.json: not valid JSON" in problems
    assert "foreign: written for consumer data-team" in problems
    assert "field 'format': expected 'housing-contracts/receipt/1'" in problems
    assert "foreign: written for consumer ml-team of s3://lake/elsewhere/v1" in problems
    assert "not the one its path names" in problems
    assert f"unknown snapshot {unknown}" in problems
    assert "BROKEN" not in row.status and row.status.startswith("problems: ")
    json.dumps(row.to_dict())


def test_unreadable_subscription_is_reported(lake: Lake) -> None:
    """A corrupt subscription leaves the row without a promise (never broken) and says why."""
    lake.publish()
    lake.write("ml-team", "subscription.json", b'{"format": "housing-contracts/subscription/1"}')
    row = lake.lag()["ml-team"]
    assert (row.max_lag, row.deployment, row.breaks_promise) == (None, None, False)
    assert row.problems[0].startswith("subscription.json: subscription: field 'consumer': missing; ")


def test_receipts_without_subscription_are_listed(s3_lake: Lake) -> None:
    """A consumer with receipts but no subscription gets a row saying so, with no promise."""
    snapshot_id = s3_lake.publish()
    s3_lake.receipt(snapshot_id)
    row = s3_lake.lag()["ml-team"]
    assert (row.problems, row.max_lag, row.consumed_snapshot_id) == (("no subscription",), None, snapshot_id)


def test_rows_are_per_consumer_of_this_dataset_only(s3_lake: Lake, s3_server: Any) -> None:
    """Consumers come sorted by name; records of another dataset in the same bucket do not show."""
    s3_lake.publish()
    s3_lake.subscribe("reporting")
    s3_lake.subscribe("ml-team")
    other = Lake(f"s3://lake/tests/{uuid.uuid4().hex}/california_housing/v1", s3_server.storage_options)
    other.subscribe("dashboards")
    assert list(s3_lake.lag()) == ["ml-team", "reporting"]
    assert list(other.lag()) == ["dashboards"]


def test_foreign_folder_with_an_unsafe_name_is_reported(s3_lake: Lake, s3_server: Any) -> None:
    """A folder under _consumers/ that is no safe consumer name is a row with a problem, not a crash."""
    s3_lake.publish()
    fs, root = resolve(s3_lake.uri, s3_lake.storage_options)
    bucket, _, key = root.partition("/")
    fs.pipe_file(f"{bucket}/_consumers/ML Team/{key}/subscription.json", b"{}")
    row = s3_lake.lag()["ML Team"]
    assert "'ML Team' is not a valid consumer name" in row.problems[-1]


def test_no_records_no_rows(lake: Lake) -> None:
    """A dataset nobody subscribed to has no rows (and its _consumers folder need not exist)."""
    lake.publish()
    assert lake.lag() == {}


@pytest.mark.parametrize("name", UNSAFE_NAMES)
def test_unsafe_consumer_names_are_refused(name: str, tmp_path: Path) -> None:
    """A name that is no safe path segment is refused at subscribe, record and consumer_uri."""
    local_uri = (tmp_path / "lake" / "california_housing" / "v1").as_uri()
    lake = Lake(local_uri, None)
    with pytest.raises(ValueError, match="is not a safe path segment"):
        lake.subscribe(name)
    with pytest.raises(ValueError, match="is not a safe path segment"):
        lake.receipt("20261130T110000.000000Z-0a1b2c3d", consumer=name)
    with pytest.raises(ValueError, match="is not a safe path segment"):
        consumer_uri(local_uri, name)
    with pytest.raises(ValueError, match="is not a safe path segment"):
        check_consumer_name(name)
    assert not (tmp_path / "lake").exists()  # nothing written anywhere


@pytest.mark.parametrize("name", ["ml-team", "a", "team_2", "x" * 63])
def test_safe_consumer_names_are_accepted(name: str) -> None:
    """Lower-case letters, digits, '-' and '_' up to 63 characters are names."""
    assert check_consumer_name(name) == name


def _subscription_document() -> dict[str, Any]:
    return Subscription(
        "ml-team", "s3://lake/x/v1", "d", timedelta(seconds=30), "new", None, T0, "1.1.0"
    ).to_dict()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"format": "other"}, "field 'format'"),
        ({"max_lag_seconds": "30"}, "field 'max_lag_seconds'"),
        ({"max_lag_seconds": 0}, "field 'max_lag_seconds': Input should be greater than"),
        ({"max_lag_seconds": True}, "field 'max_lag_seconds': Input should be a valid duration"),
        ({"max_lag_seconds": 1e300}, "field 'max_lag_seconds': 1e\\+300 seconds is out of range"),
        ({"max_lag": 30}, "field 'max_lag': unknown field"),
        ({"start_at": "tomorrow"}, "field 'start_at'"),
        ({"start_after": "yesterday"}, "field 'start_after'"),
        ({"subscribed_at": "2026-11-30T12:00:00"}, "field 'subscribed_at': Input should have timezone info"),
        ({"subscribed_at": "noon"}, "field 'subscribed_at': Input should be a valid datetime"),
        ({"subscribed_at": 1764504000}, "field 'subscribed_at': Input should be a valid datetime"),
        ({"deployment": 3}, "field 'deployment'"),
        ({"extra": 1}, "field 'extra': unknown field"),
        ({"consumer": "../x"}, "not a safe path segment"),
    ],
)
def test_subscription_from_dict_is_strict(edit: dict[str, Any], message: str) -> None:
    """A bad subscription document is a ValueError naming the field."""
    with pytest.raises(ValueError, match=message):
        Subscription.from_dict(_subscription_document() | edit)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"outcome": "maybe"}, "field 'outcome'"),
        ({"outcome": "failed", "reason": None}, "field 'reason': required"),
        ({"snapshot_id": "../../x"}, "field 'snapshot_id'"),
        ({"produced": []}, "field 'produced'"),
        ({"finished_at": None}, "field 'finished_at'"),
        ({"run_id": None}, "field 'run_id'"),
    ],
)
def test_receipt_from_dict_is_strict(edit: dict[str, Any], message: str) -> None:
    """A bad receipt document is a ValueError naming the field."""
    document = Receipt(
        "ml-team", "s3://lake/x/v1", "20261130T110000.000000Z-0a1b2c3d", "d", "r", "success", None, T0, T0
    ).to_dict()
    with pytest.raises(ValueError, match=message):
        Receipt.from_dict(document | edit)


def test_receipt_from_dict_names_missing_fields() -> None:
    """A receipt document without a field is a ValueError naming it."""
    document = Receipt(
        "ml-team", "s3://lake/x/v1", "20261130T110000.000000Z-0a1b2c3d", "d", "r", "success", None, T0, T0
    ).to_dict()
    del document["dag_id"]
    with pytest.raises(ValueError, match=r"^receipt: field 'dag_id': missing$"):
        Receipt.from_dict(document)


def test_record_documents_are_pinned() -> None:
    """The JSON documents in the lake: format first, times in UTC ISO 8601, durations in float seconds."""
    paris = timezone(timedelta(hours=1))
    subscription = Subscription(
        consumer="ml-team",
        dataset_uri="s3://lake/x/v1",
        deployment="d",
        max_lag=timedelta(milliseconds=1500),
        start_at="new",
        start_after=None,
        subscribed_at=datetime(2026, 11, 30, 13, 0, 0, 7, tzinfo=paris),
        contract_version="1.1.0",
    )
    assert subscription.subscribed_at == T0 + timedelta(microseconds=7)
    assert subscription.subscribed_at.tzinfo is UTC
    assert list(subscription.to_dict().items()) == [
        ("format", SUBSCRIPTION_FORMAT),
        ("consumer", "ml-team"),
        ("dataset_uri", "s3://lake/x/v1"),
        ("deployment", "d"),
        ("max_lag_seconds", 1.5),
        ("start_at", "new"),
        ("start_after", None),
        ("subscribed_at", "2026-11-30T12:00:00.000007+00:00"),
        ("contract_version", "1.1.0"),
        ("renewed_at", None),
        ("lease_seconds", None),
    ]
    receipt = Receipt(
        consumer="ml-team",
        dataset_uri="s3://lake/x/v1",
        snapshot_id="20261130T110000.000000Z-0a1b2c3d",
        dag_id="d",
        run_id="r",
        outcome="failed",
        reason="boom",
        started_at=datetime(2026, 11, 30, 13, tzinfo=paris),
        finished_at=T0,
        produced={"metrics": {"rmse": 0.5, "rows": [1, None, True]}},
    )
    assert list(receipt.to_dict().items()) == [
        ("format", RECEIPT_FORMAT),
        ("consumer", "ml-team"),
        ("dataset_uri", "s3://lake/x/v1"),
        ("snapshot_id", "20261130T110000.000000Z-0a1b2c3d"),
        ("dag_id", "d"),
        ("run_id", "r"),
        ("outcome", "failed"),
        ("reason", "boom"),
        ("started_at", "2026-11-30T12:00:00+00:00"),
        ("finished_at", "2026-11-30T12:00:00+00:00"),
        ("produced", {"metrics": {"rmse": 0.5, "rows": [1, None, True]}}),
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"max_lag": timedelta(0)}, "greater than"),
        ({"max_lag": True}, "valid timedelta"),
        ({"subscribed_at": datetime(2026, 11, 30, 12)}, "timezone info"),
        ({"subscribed_at": "2026-11-30T12:00:00+00:00"}, "valid datetime"),
        ({"start_at": "tomorrow"}, "'latest', 'earliest' or 'new'"),
        ({"contract_version": None}, "valid string"),
    ],
)
def test_subscription_constructor_is_strict(edit: dict[str, Any], message: str) -> None:
    """A subscription is checked when built, not only when read: nothing invalid gets written."""
    fields = _subscription_document() | {"max_lag": timedelta(seconds=30), "subscribed_at": T0}
    del fields["format"], fields["max_lag_seconds"]
    with pytest.raises(ValueError, match=message):
        Subscription(**(fields | edit))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"outcome": "failed", "reason": None}, "field 'reason': required when the outcome is 'failed'"),
        ({"outcome": "failed", "reason": ""}, "field 'reason': required when the outcome is 'failed'"),
        ({"produced": {"rmse": float("nan")}}, "finite number"),
        ({"produced": {"model": object()}}, "not a valid JSON value"),
        ({"finished_at": datetime(2026, 11, 30, 12)}, "timezone info"),
    ],
)
def test_receipt_constructor_is_strict(edit: dict[str, Any], message: str) -> None:
    """A receipt is checked when built: a failure needs its reason, ``produced`` must be JSON."""
    fields = {
        "consumer": "ml-team",
        "dataset_uri": "s3://lake/x/v1",
        "snapshot_id": "20261130T110000.000000Z-0a1b2c3d",
        "dag_id": "d",
        "run_id": "r",
        "outcome": "success",
        "reason": None,
        "started_at": T0,
        "finished_at": T0,
    }
    with pytest.raises(ValueError, match=message):
        Receipt(**(fields | edit))


def test_from_dict_refuses_documents_without_format_or_not_json() -> None:
    """A document without its format tag, or holding what JSON cannot, is a ValueError saying so."""
    document = _subscription_document()
    del document["format"]
    with pytest.raises(
        ValueError, match="field 'format': expected 'housing-contracts/subscription/1', got None"
    ):
        Subscription.from_dict(document)
    with pytest.raises(ValueError, match="subscription must be a JSON object, got list"):
        Subscription.from_dict([document])
    with pytest.raises(ValueError, match="not a JSON document: Out of range float"):
        Subscription.from_dict(_subscription_document() | {"max_lag_seconds": float("nan")})


def test_row_to_dict_is_json_with_seconds_and_iso_times(s3_lake: Lake) -> None:
    """to_dict() is what --json and the Contract page serve: durations in seconds, times in ISO 8601."""
    snapshot_id = s3_lake.publish()
    s3_lake.subscribe(max_lag=timedelta(minutes=2))
    s3_lake.receipt(snapshot_id)
    document = json.loads(json.dumps(s3_lake.lag()["ml-team"].to_dict()))
    assert document == {
        "consumer": "ml-team",
        "deployment": "http://ml-team.example:8080",
        "max_lag_seconds": 120.0,
        "subscribed_at": T0.isoformat(),
        "last_snapshot_id": snapshot_id,
        "last_outcome": "success",
        "last_reason": None,
        "last_finished_at": (T0 + timedelta(seconds=1)).isoformat(),
        "consumed_snapshot_id": snapshot_id,
        "newest_snapshot_id": snapshot_id,
        "lag_snapshots": 0,
        "lag_seconds": 0.0,
        "breaks_promise": False,
        "problems": [],
        "subscription_live": True,
    }


def test_format_consumers_table(s3_lake: Lake) -> None:
    """The table has one line per consumer: last snapshot, outcome, lag, promise and status."""
    first, second = s3_lake.publish(), s3_lake.publish()
    s3_lake.subscribe(max_lag=timedelta(seconds=30))
    s3_lake.receipt(first)
    s3_lake.receipt(
        second,
        run_id="run-2",
        outcome="failed",
        reason="train failed: boom",
        finished_at=T0 + timedelta(hours=1),
    )
    text = format_consumers(list(s3_lake.lag(snapshot_time(second) + timedelta(seconds=123)).values()))
    header, _, line = text.splitlines()
    assert header.split(" | ")[0] == "consumer" and "lag (time)" in header and header.endswith("status")
    cells = [cell.strip() for cell in line.split(" | ")]
    assert cells == [
        "ml-team",
        "http://ml-team.example:8080",
        second,
        "failed: train failed: boom",
        "1",
        "2m 3s",
        "≤ 30s",
        "BROKEN",
    ]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "0.5s"), (30, "30s"), (123, "2m 3s"), (3600, "1h"), (26 * 3600 + 185, "26h 3m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    """Durations read as the two largest units."""
    assert format_duration(timedelta(seconds=seconds)) == text


def test_consumers_module_imports_no_data_stack() -> None:
    """The triggerer and the UI plugin import the consumers' modules without pandas, pyarrow or pandera."""
    code = (
        "import sys, json, housing_contracts.consumers.records, housing_contracts.consumers.lag, "
        "housing_contracts.consumers.freshness, housing_contracts.consumers.lifecycle; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pandas', 'pandera', 'numpy', 'pyarrow', 'airflow'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


# --- receipts read from a position ------------------------------------------------------------------------


def _synthetic_receipts(lake: Lake, template: Receipt, count: int) -> None:
    """``count`` older receipts of ``template``'s consumer (two keys each: 2 x count keys), in concurrent
    PUTs: a long history of consumption before the newest one."""
    fs, folder = resolve(consumer_uri(lake.uri, template.consumer), lake.storage_options)
    end = snapshot_time(template.snapshot_id) - timedelta(hours=1)
    documents = {}
    for i in range(count):
        snapshot_id = f"{(end - timedelta(minutes=i)).strftime('%Y%m%dT%H%M%S.%fZ')}-{i:08x}"
        for run in ("a", "b"):
            body = template.to_dict() | {"snapshot_id": snapshot_id, "run_id": run}
            documents[f"{folder}/receipts/{snapshot_id}/{run_key(template.dag_id, run)}.json"] = json.dumps(
                body
            ).encode()
    fs.pipe(documents)


def test_lag_requests_do_not_grow_with_a_consumers_receipts(s3_lake: Lake) -> None:
    """The lag lists a consumer's receipts from its last success (latest-receipts.json) on: 1,100 older
    receipts (two LIST pages for a whole listing) add no request."""
    snapshot_id = s3_lake.publish()
    s3_lake.subscribe()
    s3_lake.receipt(snapshot_id)
    fs, _ = resolve(s3_lake.uri, s3_lake.storage_options)
    with S3Requests(fs) as before:
        row = s3_lake.lag()["ml-team"]
    assert (row.consumed_snapshot_id, row.lag_snapshots, row.problems) == (snapshot_id, 0, ())
    template = s3_lake.receipt(snapshot_id)
    _synthetic_receipts(s3_lake, template, 550)
    with S3Requests(fs) as after:
        row = s3_lake.lag()["ml-team"]
    assert (row.consumed_snapshot_id, row.lag_snapshots, row.problems) == (snapshot_id, 0, ())
    assert after.by_operation == before.by_operation


def test_lag_reads_no_receipt_file_its_index_holds(s3_lake: Lake) -> None:
    """The index's two receipts (last, last_success) are copies of their files: the lag takes them from
    the index and sends no GET for those files (removing the files changes no request and no row)."""
    first, second = s3_lake.publish(), s3_lake.publish()
    s3_lake.subscribe()
    s3_lake.receipt(first)
    s3_lake.receipt(
        second, run_id="run-2", outcome="failed", reason="boom", finished_at=T0 + timedelta(hours=1)
    )
    fs, folder = resolve(consumer_uri(s3_lake.uri, "ml-team"), s3_lake.storage_options)
    now = datetime.now(UTC)
    with S3Requests(fs) as with_files:
        expected = s3_lake.lag(now)["ml-team"]
    assert (expected.consumed_snapshot_id, expected.last_outcome, expected.lag_snapshots) == (
        first,
        "failed",
        1,
    )
    fs.rm([path for path in fs.find(f"{folder}/receipts")])
    with S3Requests(fs) as without_files:
        assert s3_lake.lag(now)["ml-team"] == expected
    assert with_files.by_operation == without_files.by_operation


QUOTED = "enclosed in double quotes: line 1 column 2 (char 1)"


def test_lag_without_its_index_lists_every_receipt(lake: Lake) -> None:
    """Receipts from before latest-receipts.json existed (or with it deleted or corrupt) give the same lag."""
    first, second = lake.publish(), lake.publish()
    lake.subscribe()
    lake.receipt(first)
    lake.receipt(second, run_id="run-2", outcome="failed", reason="boom", finished_at=T0 + timedelta(hours=1))
    now = datetime.now(UTC)
    expected = lake.lag(now)["ml-team"]
    fs, folder = resolve(consumer_uri(lake.uri, "ml-team"), lake.storage_options)
    fs.rm_file(f"{folder}/{LATEST_RECEIPTS_NAME}")
    assert lake.lag(now)["ml-team"] == expected
    fs.pipe_file(f"{folder}/{LATEST_RECEIPTS_NAME}", b"{not json")
    corrupt = lake.lag(now)["ml-team"]
    assert corrupt.problems == (f"{LATEST_RECEIPTS_NAME}: not valid JSON: Expecting property name {QUOTED}",)
    assert corrupt == ConsumerLag(**(expected.__dict__ | {"problems": corrupt.problems}))
    assert (expected.consumed_snapshot_id, expected.last_outcome, expected.lag_snapshots) == (
        first,
        "failed",
        1,
    )


def test_a_stale_index_still_counts_the_newer_receipts(lake: Lake) -> None:
    """An index that lost an update (two runs writing it at once) names an older success: the listing from
    it finds the newer receipt."""
    first, second = lake.publish(), lake.publish()
    lake.subscribe()
    lake.receipt(first)
    fs, folder = resolve(consumer_uri(lake.uri, "ml-team"), lake.storage_options)
    stale = fs.cat_file(f"{folder}/{LATEST_RECEIPTS_NAME}")
    lake.receipt(second, run_id="run-2")
    fs.pipe_file(f"{folder}/{LATEST_RECEIPTS_NAME}", stale)
    row = lake.lag()["ml-team"]
    assert (row.consumed_snapshot_id, row.last_snapshot_id, row.lag_snapshots) == (second, second, 0)
