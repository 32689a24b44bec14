"""Contract 2.0.0 beside 1.x on real S3: one publish for both majors, v1's deprecation, its retirement
(refused while a consumer's subscription is live inside the window) and what retirement changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import housing_contracts.lake.snapshots as snapshots_module
from housing_contracts import (
    V1,
    V2,
    ContractViolation,
    RetiredError,
    RetirementRefused,
    check_freshness,
    convert,
    list_snapshots,
    publish,
    publish_all,
    read_snapshot,
    retire,
    retirement,
    subscribe,
)
from housing_contracts.cli import app
from housing_contracts.consumers.records import Subscription

runner = CliRunner()


@pytest.fixture
def uris(lake_uri: str) -> dict[Any, str]:
    """A private v1 dataset and its v2 sibling."""
    return {V1: lake_uri, V2: lake_uri.removesuffix("/v1") + "/v2"}


def _subscribe(
    uri: str, options: dict[str, Any], *, renewed_ago: timedelta, now: datetime | None = None
) -> None:
    now = now or datetime.now(UTC)
    subscribe(
        Subscription(
            consumer="ml-team",
            dataset_uri=uri,
            deployment="http://ml-airflow.example",
            max_lag=timedelta(hours=6),
            start_at="latest",
            start_after=None,
            subscribed_at=now - renewed_ago,
            contract_version=V1.version,
            renewed_at=now - renewed_ago,
            lease=timedelta(minutes=15),
        ),
        storage_options=options,
    )


def test_one_publish_validates_once_and_commits_each_major(
    s3_server: Any, uris: dict[Any, str], cleaned_frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """publish_all validates the 1.x frame once and commits a v1 and a v2 snapshot, each with its own
    manifest; the v1 one says it is deprecated; the two frames are the same data in each major's terms."""
    options = s3_server.storage_options
    calls: list[str] = []
    original = snapshots_module.validate
    monkeypatch.setattr(
        snapshots_module, "validate", lambda df, c=V1: calls.append(c.version) or original(df, c)
    )

    outcome = publish_all(
        cleaned_frame, uris=uris, producer={"run_id": "r1"}, storage_options=options, source=V1
    )

    assert calls == [V1.version]
    assert outcome.created and set(outcome.results) == {V1, V2} and not outcome.retired
    v1, v2 = (read_snapshot(uris[c], contract=c, storage_options=options) for c in (V1, V2))
    assert v1.manifest.contract.version == "1.1.0" and v2.manifest.contract.version == "2.0.0"
    assert v1.manifest.deprecation == {"sunset": V1.deprecation.sunset.isoformat(), "successor_uri": V2.uri}
    assert v2.manifest.deprecation is None
    assert list(v2.frame.columns) == list(V2.columns)
    pd.testing.assert_frame_equal(convert(v2.frame, V2, V1), v1.frame)
    assert v2.frame["median_house_value"].max() == pytest.approx(cleaned_frame["MedHouseVal"].max() * 100_000)


def test_consume_publishes_the_same_snapshots_and_empties_the_frame(
    s3_server: Any, uris: dict[Any, str], cleaned_frame: pd.DataFrame
) -> None:
    """With consume=True, each major gets the snapshot it gets without it (same content fingerprint), the
    results keep the order asked for, and the frame is left empty: the conversion took its columns."""
    options = s3_server.storage_options
    plain = publish_all(cleaned_frame.copy(), (V2, V1), uris=uris, storage_options=options, source=V1)
    frame = cleaned_frame.copy()
    consumed = publish_all(frame, (V2, V1), uris=uris, storage_options=options, source=V1, consume=True)

    assert list(consumed.results) == [V2, V1]
    assert not any(result.created for result in consumed.results.values())  # same content: unchanged
    for contract in (V1, V2):
        assert (
            consumed.results[contract].manifest.content_fingerprint
            == plain.results[contract].manifest.content_fingerprint
        )
    assert frame.columns.empty


def test_consume_leaves_the_frame_whole_on_a_violation(
    s3_server: Any, uris: dict[Any, str], frame: pd.DataFrame
) -> None:
    """The frame is consumed only after validation passed: a violating frame stays whole to quarantine."""
    broken = frame.assign(MedInc=-1.0)
    with pytest.raises(ContractViolation):
        publish_all(broken, uris=uris, storage_options=s3_server.storage_options, source=V1, consume=True)
    assert list(broken.columns) == list(frame.columns) and len(broken) == len(frame)


def test_a_violation_publishes_no_major(s3_server: Any, uris: dict[Any, str], frame: pd.DataFrame) -> None:
    """The single validation comes before anything is written, for every major."""
    broken = frame.assign(MedInc=-1.0)
    with pytest.raises(ContractViolation):
        publish_all(broken, uris=uris, storage_options=s3_server.storage_options, source=V1)
    assert all(list_snapshots(uri, storage_options=s3_server.storage_options) == [] for uri in uris.values())


def test_reading_a_deprecated_snapshot_warns(
    s3_server: Any, uris: dict[Any, str], frame: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    """A consumer of v1 reads a clear warning: the sunset and where to go."""
    publish_all(frame, uris=uris, storage_options=s3_server.storage_options, source=V1)
    with caplog.at_level("WARNING", logger="housing_contracts.lake.snapshots"):
        read_snapshot(uris[V1], storage_options=s3_server.storage_options)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "deprecated" in warning and V1.deprecation.sunset.isoformat() in warning and V2.uri in warning
    caplog.clear()
    with caplog.at_level("WARNING", logger="housing_contracts.lake.snapshots"):
        read_snapshot(uris[V2], storage_options=s3_server.storage_options)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]


def test_reader_expecting_one_major_refuses_the_other(
    s3_server: Any, uris: dict[Any, str], frame: pd.DataFrame
) -> None:
    from housing_contracts import IncompatibleContractError

    publish_all(frame, uris=uris, storage_options=s3_server.storage_options, source=V1)
    with pytest.raises(IncompatibleContractError, match=r"2\.0\.0"):
        read_snapshot(uris[V2], contract=V1, storage_options=s3_server.storage_options)


def test_retire_is_refused_while_a_subscription_is_live_and_names_the_consumer(
    s3_server: Any, uris: dict[Any, str]
) -> None:
    options = s3_server.storage_options
    _subscribe(uris[V1], options, renewed_ago=timedelta(seconds=5))
    with pytest.raises(RetirementRefused, match="ml-team") as refused:
        retire(uris[V1], by="data-team", storage_options=options)
    assert refused.value.consumers == ("ml-team",)
    assert retirement(uris[V1], storage_options=options) is None


def test_retire_goes_ahead_once_the_subscription_lapsed(s3_server: Any, uris: dict[Any, str]) -> None:
    """The consumer's watcher stopped renewing (it moved to v2): its lease ran out, retirement proceeds."""
    options = s3_server.storage_options
    _subscribe(uris[V1], options, renewed_ago=timedelta(minutes=16))
    record = retire(uris[V1], by="data-team", storage_options=options)
    assert (record.retired_by, record.successor_uri, record.contract_version) == (
        "data-team",
        V2.uri,
        "1.1.0",
    )
    assert retirement(uris[V1], storage_options=options) == record
    assert retire(uris[V1], by="someone-else", storage_options=options) == record  # idempotent


def test_retire_after_the_sunset_goes_ahead_despite_readers(s3_server: Any, uris: dict[Any, str]) -> None:
    """The deprecation window is over after the sunset: live readers no longer hold it up."""
    options = s3_server.storage_options
    after_sunset = datetime.combine(V1.deprecation.sunset + timedelta(days=1), datetime.min.time(), UTC)
    _subscribe(uris[V1], options, renewed_ago=timedelta(0), now=after_sunset - timedelta(days=2))
    with pytest.raises(RetirementRefused):
        retire(uris[V1], by="data-team", now=after_sunset - timedelta(days=2), storage_options=options)
    _subscribe(uris[V1], options, renewed_ago=timedelta(0), now=after_sunset)
    assert (
        retire(uris[V1], by="data-team", now=after_sunset, storage_options=options).retired_at == after_sunset
    )


def test_only_a_deprecated_major_can_be_retired(s3_server: Any, uris: dict[Any, str]) -> None:
    with pytest.raises(ValueError, match="not deprecated"):
        retire(uris[V2], by="data-team", storage_options=s3_server.storage_options)
    with pytest.raises(ValueError, match="not the dataset of a released contract"):
        retire("s3://lake/elsewhere/v1", by="data-team", storage_options=s3_server.storage_options)


def test_retired_major_is_no_longer_published_and_stays_readable(
    s3_server: Any, uris: dict[Any, str], frame: pd.DataFrame
) -> None:
    """After retirement: publish refuses v1, publish_all skips it and still publishes v2, the old v1
    snapshot reads as before, and v1's freshness promise is over rather than broken."""
    options = s3_server.storage_options
    before = publish_all(frame, uris=uris, storage_options=options, source=V1)
    retire(uris[V1], by="data-team", storage_options=options)

    changed = frame.assign(HouseAge=frame["HouseAge"].clip(upper=40.0))
    after = publish_all(changed, uris=uris, storage_options=options, source=V1)
    assert set(after.results) == {V2} and set(after.retired) == {V1}
    assert after.results[V2].created
    with pytest.raises(RetiredError, match="retired"):
        publish(changed, uris[V1], storage_options=options, contract=V1)
    v1_ids = [m.snapshot_id for m in list_snapshots(uris[V1], storage_options=options)]
    assert v1_ids == [before.results[V1].manifest.snapshot_id]
    assert len(list_snapshots(uris[V2], storage_options=options)) == 2
    old = read_snapshot(uris[V1], v1_ids[0], storage_options=options)
    pd.testing.assert_frame_equal(old.frame, frame, check_like=True)
    assert "RETIRED" in check_freshness(uris[V1], max_age=timedelta(0), storage_options=options)


def test_cli_retire_refuses_then_retires_and_snapshots_shows_it(
    s3_server: Any, uris: dict[Any, str], frame: pd.DataFrame
) -> None:
    options = s3_server.storage_options
    publish_all(frame, uris=uris, storage_options=options, source=V1)
    _subscribe(uris[V1], options, renewed_ago=timedelta(0))
    refused = runner.invoke(app, ["retire", uris[V1], "--by", "data-team"], env=s3_server.env)
    assert refused.exit_code == 1 and "ml-team" in refused.output and "refused" in refused.output

    _subscribe(uris[V1], options, renewed_ago=timedelta(hours=1))  # its watcher stopped an hour ago
    done = runner.invoke(app, ["retire", uris[V1], "--by", "data-team"], env=s3_server.env)
    assert done.exit_code == 0, done.output
    assert "RETIRED" in done.stdout and V2.uri in done.stdout

    listed = runner.invoke(app, ["snapshots", uris[V1]], env=s3_server.env)
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert "deprecated: sunset 2027-03-31" in lines[0] and "RETIRED" in lines[1]
    record = json.loads(
        options and runner.invoke(app, ["snapshots", uris[V1], "--json"], env=s3_server.env).stdout
    )
    assert record[0]["deprecation"]["successor_uri"] == V2.uri
