"""Retiring v1: the producer DAG (``dag.test()``, real SeaweedFS on 127.0.0.1) before and after
``housing_contracts.consumers.lifecycle.retire`` of its v1 dataset.

One run publishes both versions; v1 is retired (nobody subscribes to this test's lake, so nothing
refuses it); the next run, on new content, publishes v2 only, logs why, and announces v2 only. The guard
at the end shows the skip is what keeps that run green.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest

import housing_contracts
from housing_contracts import V1, V2, list_snapshots, read_snapshot
from housing_contracts.consumers.lifecycle import retire
from housing_contracts.lake.retirement import Retirement, retirement

RETIRED_BY = "data-team operator"


@dataclass(frozen=True)
class Rollout:
    """A run before the retirement, the retirement, a run after it and what that run logged."""

    before: Any
    retired: Retirement
    after: Any
    after_log: str


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _source(lake: str, name: str, frame: pd.DataFrame, storage_options: dict[str, Any]) -> str:
    uri = f"{lake.rsplit('/', 1)[0]}/incoming/{name}.parquet"
    frame.to_parquet(uri, index=False, storage_options=storage_options)
    return uri


@pytest.fixture(scope="module")
def sources(lake: str, s3_server, california_housing_frame: pd.DataFrame) -> tuple[str, str]:
    """Two sources of 1,500 different real rows each (s3:// Parquet)."""
    options = s3_server.storage_options
    return (
        _source(lake, "first", california_housing_frame.iloc[:1_500], options),
        _source(lake, "second", california_housing_frame.iloc[1_500:3_000], options),
    )


@pytest.fixture(scope="module")
def rollout(producer_dag, lake: str, run_producer, sources, data_team_s3) -> Iterator[Rollout]:
    """Run on the first source, retire v1 as the data team, run on the second source."""
    first, second = sources
    before = run_producer(producer_dag, lake, source=first)
    retired = retire(lake, by=RETIRED_BY, storage_options=data_team_s3.storage_options)
    producer_log, lines = logging.getLogger("include.housing_data.producer"), _Lines()
    producer_log.addHandler(lines)
    try:
        after = run_producer(producer_dag, lake, source=second)
    finally:
        producer_log.removeHandler(lines)
    yield Rollout(before, retired, after, "\n".join(lines.lines))


def test_before_retirement_a_run_publishes_both_versions(rollout: Rollout) -> None:
    """The first run creates a snapshot in v1 and in v2."""
    assert rollout.before.state == "success"
    assert {key: summary is not None for key, summary in rollout.before.published.items()} == {
        "v1": True,
        "v2": True,
    }


def test_retire_records_who_retired_v1(rollout: Rollout, lake: str, data_team_s3) -> None:
    """Without a live subscriber, retire goes ahead and the lake holds its record."""
    found = retirement(lake, storage_options=data_team_s3.storage_options)
    assert found == rollout.retired
    assert (found.retired_by, found.successor_uri, found.contract_version) == (RETIRED_BY, V2.uri, V1.version)


def test_after_retirement_a_run_publishes_v2_only(rollout: Rollout, s3_server) -> None:
    """The next run succeeds; v2 gets its second snapshot, v1 keeps its one; the XCom says so."""
    after = rollout.after
    assert (after.state, after.tasks["publish"]) == ("success", ("success", 1))
    v1 = list_snapshots(after.uri(V1), storage_options=s3_server.storage_options)
    v2 = list_snapshots(after.uri(V2), storage_options=s3_server.storage_options)
    assert [m.producer["run_id"] for m in v1] == [rollout.before.run_id]
    assert [m.producer["run_id"] for m in v2] == [rollout.before.run_id, after.run_id]
    assert after.published["v1"] is None
    assert after.published["v2"]["snapshot_id"] == v2[-1].snapshot_id


def test_after_retirement_only_v2_gets_an_asset_event(rollout: Rollout, asset_events) -> None:
    """The retired version's Asset gets no event (Airflow would emit one per declared outlet)."""
    assert list(asset_events(rollout.after.run_id)) == ["california_housing_v2"]
    assert sorted(asset_events(rollout.before.run_id)) == ["california_housing_v1", "california_housing_v2"]


def test_the_run_logs_that_v1_was_not_published(rollout: Rollout) -> None:
    """The publish log names the retired version, when and by whom it was retired."""
    retired_at = re.escape(rollout.retired.retired_at.isoformat(timespec="seconds"))
    assert re.search(
        rf"california_housing v1 retired at {retired_at} by {RETIRED_BY}: not published", rollout.after_log
    )


def test_retired_v1_stays_readable(rollout: Rollout, s3_server) -> None:
    """v1's snapshot reads back, verified, still saying it is deprecated."""
    snapshot = read_snapshot(rollout.after.uri(V1), contract=V1, storage_options=s3_server.storage_options)
    assert snapshot.manifest.producer["run_id"] == rollout.before.run_id
    assert snapshot.manifest.deprecation == V1.deprecation.to_dict()


def test_without_the_retired_skip_the_run_would_fail(
    rollout: Rollout, producer_dag, lake: str, run_producer, sources, s3_server, monkeypatch
) -> None:
    """Guard: a publish_all that published every version regardless would fail the run on v1
    (RetiredError, not retried) and publish nothing, so the skip is what keeps the runs above green."""
    from housing_contracts import PublishAll, RetiredError, convert, publish

    refused: list[tuple[str, type[Exception]]] = []

    def publish_every_version(
        df, contracts=housing_contracts.CONTRACTS, *, source=V1, consume=False, **kwargs
    ):
        outcome = PublishAll()
        for contract in contracts:
            try:
                outcome.results[contract] = publish(
                    convert(df, source, contract), contract.dataset_uri(), contract=contract, **kwargs
                )
            except Exception as err:
                refused.append((contract.label, type(err)))
                raise
        return outcome

    monkeypatch.setattr(housing_contracts, "publish_all", publish_every_version)
    run = run_producer(producer_dag, lake, source=sources[0])
    assert (run.state, run.tasks["publish"]) == ("failed", ("failed", 1))
    assert refused == [(V1.label, RetiredError)]  # v1 refused first, so v2 never started
    for contract, count in ((V1, 1), (V2, 2)):
        assert len(list_snapshots(run.uri(contract), storage_options=s3_server.storage_options)) == count
