"""Contract 2.0.0's rollout end to end, both deployments running, on a stack of its own (embedded profile):
the data team publishes v1 and v2 side by side, the ML team moves from v1 to v2, v1 is retired.

The ML team's deployment serves, beside its project's ``housing_consumer`` (subscribed to v2 by its
``settings.CONTRACT``), a v1 consumer: ``housing_consumer_v1``, made by the consumer DAG file's own factory
(``housing_testkit.write_v1_consumer``, through ``StackConfig.extra_dags``), consumer name ``ml-team`` for
both.
Subscriptions are renewed every 5 s (``HOUSING_SUBSCRIPTION_RENEW_SECONDS``; a lease is 3 renewals, so a
busy triggerer does not let a live one lapse), so a lease lapses within seconds of its watcher stopping.

1. the v1 consumer is unpaused and subscribes; producer run 1 (the real dataset) publishes v1#1 and
   v2#1; the v1 consumer takes v1#1;
2. ``housing-contract retire <v1>`` (the real CLI, the data team's keys) is refused, naming ml-team;
3. the switch: ``housing_consumer`` (v2) is unpaused and takes v2#1; producer run 2 (changed data)
   publishes v1#2 and v2#2, and each consumer takes its own, both watching at the same time;
4. the v1 consumer goes away (paused, its file deleted); once its lease has lapsed, retire is accepted;
5. producer run 3 (other data) publishes only v2#3 (v1 is retired), which the v2 consumer takes.

Then: no run or task failed in either deployment, no snapshot is missing (v1: 2, v2: 3), each snapshot
was consumed by exactly one run, with one success receipt and its predictions; the retired v1 snapshots
stay readable and ``housing-contract snapshots <v1>`` says RETIRED beside the deprecation.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import pytest

from housing_contracts import V1, V2, list_snapshots, read_snapshot, retirement
from housing_contracts.consumers.lag import consumer_lag
from housing_contracts.consumers.records import consumer_uri
from housing_stack.airflow_client import AirflowClient
from housing_stack.demo import clients
from housing_stack.flow import (
    CONSUMER_DAG,
    PRODUCER_DAG,
    FlowError,
    consumed_uri,
    find_consumer_run,
    start_producer,
    start_watcher,
    team_storage_options,
    wait_for_run,
)
from housing_stack.identities import ADMIN, DATA_TEAM, ML_TEAM
from housing_stack.stack import Stack, StackConfig
from housing_testkit import V1_CONSUMER_DAG, write_v1_consumer

#: The ML team's watchers renew their subscriptions this often (seconds); a lease is 3 renewals.
RENEW_SECONDS = 5
TIMEOUT = 600.0
#: The two teams' alert DAGs (freshness, consumer lag), unpaused at creation.
ALERT_DAGS = frozenset({"housing_freshness", "housing_consumer_lag"})
#: A stopped watcher's subscription lapses after 3 renewals; this leaves room for a slow S3 listing.
LAPSE_TIMEOUT = 120.0


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def only(snapshot_ids: list[str], what: str) -> str:
    """The one snapshot id a producer run committed under a dataset; fails naming ``what`` otherwise."""
    if len(snapshot_ids) != 1:
        raise FlowError(f"expected the producer run to commit one snapshot of {what}, found {snapshot_ids}")
    return snapshot_ids[0]


@pytest.fixture(scope="module")
def extra_dags(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ML team's second DAG folder, holding the v1 consumer."""
    folder = tmp_path_factory.mktemp("rollout-ml-dags")
    write_v1_consumer(folder)
    return folder


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, extra_dags: Path) -> Iterator[Stack]:
    """A stack of its own: the rollout needs both datasets empty and housing_consumer never unpaused."""
    config = StackConfig.ephemeral(
        tmp_path_factory.mktemp("stack-rollout"),
        extra_dags={ML_TEAM: extra_dags},
        airflow_env={"HOUSING_SUBSCRIPTION_RENEW_SECONDS": str(RENEW_SECONDS)},
    )
    with Stack(config) as running:
        yield running


def retire_cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """``housing-contract <args>`` run as a data-team operator would: the AWS variables hold its keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(stack.config.credentials[DATA_TEAM].aws_env(stack.config.s3_endpoint_url, stack.config.region))
    command = [str(Path(sys.executable).parent / "housing-contract"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


@dataclass
class Rollout:
    """What the rollout did, for the tests' assertions."""

    #: producer run id → dataset URI → the snapshot ids it committed there
    published: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    #: consumer DAG id → snapshot id → the runs created for it
    consumed: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    refused: subprocess.CompletedProcess[str] | None = None
    accepted: subprocess.CompletedProcess[str] | None = None
    #: both consumers' watchers were running when producer run 2 started
    watched_together: bool = False
    v1_subscribed: str = ""  #: the dataset housing_consumer_v1 is scheduled on, as its Airflow says
    v2_subscribed: str = ""  #: the dataset housing_consumer is scheduled on, as its Airflow says
    seconds: dict[str, float] = field(default_factory=dict)


class Driver:
    """The rollout's steps on the stack's two REST APIs and its lake."""

    def __init__(self, stack: Stack, record: Rollout) -> None:
        self.stack = stack
        self.data, self.ml = clients(stack.config)
        self.lake = team_storage_options(stack.config, ADMIN)
        self.record = record
        self.seen: dict[str, set[str]] = {CONSUMER_DAG: set(), V1_CONSUMER_DAG: set()}

    def snapshot_ids(self, uri: str) -> list[str]:
        return [m.snapshot_id for m in list_snapshots(uri, storage_options=self.lake)]

    def produce(self, source: str) -> dict[str, list[str]]:
        """One producer run on ``source``; the snapshots it committed under each version's dataset."""
        before = {uri: set(self.snapshot_ids(uri)) for uri in (V1.uri, V2.uri)}
        run_id = start_producer(self.data, {"source": source}, timeout=TIMEOUT, say=_say)
        wait_for_run(self.data, PRODUCER_DAG, run_id, timeout=TIMEOUT, progress=_say)
        new = {uri: [s for s in self.snapshot_ids(uri) if s not in before[uri]] for uri in before}
        self.record.published[run_id] = new
        _say(f"producer run {run_id} committed {new}")
        return new

    def consume(self, dag_id: str, snapshot_id: str) -> None:
        """Wait for ``dag_id``'s run for ``snapshot_id`` and for it to succeed."""
        found = find_consumer_run(self.ml, snapshot_id, self.seen[dag_id], timeout=TIMEOUT, dag_id=dag_id)
        if found is None:
            raise FlowError(f"no {dag_id} run for snapshot {snapshot_id} within {TIMEOUT:.0f} s")
        run_id = found[0]["dag_run_id"]
        self.seen[dag_id].add(run_id)
        self.record.consumed.setdefault(dag_id, {}).setdefault(snapshot_id, []).append(run_id)
        wait_for_run(self.ml, dag_id, run_id, timeout=TIMEOUT, progress=_say)

    def watch(self, dag_id: str, uri: str) -> None:
        start_watcher(self.ml, uri, self.lake, timeout=TIMEOUT, say=_say, dag_id=dag_id)

    def remove_v1_consumer(self, extra_dags: Path) -> None:
        """Pause the v1 consumer, wait until its watcher stops, delete its file, wait for its lease to
        lapse (the watcher no longer renews it)."""
        self.ml.pause(V1_CONSUMER_DAG)
        self.ml.reparse(V1_CONSUMER_DAG)  # a paused DAG's watcher goes at its next parse
        deadline = time.monotonic() + TIMEOUT
        while self.ml.asset_watchers(V1.uri):
            if time.monotonic() > deadline:
                raise FlowError(f"{V1_CONSUMER_DAG}'s watcher still runs {TIMEOUT:.0f} s after pausing")
            time.sleep(1.0)
        (extra_dags / f"{V1_CONSUMER_DAG}.py").unlink()
        deadline = time.monotonic() + LAPSE_TIMEOUT
        while True:
            rows = [r for r in consumer_lag(V1.uri, storage_options=self.lake) if r.consumer == ML_TEAM]
            if rows and rows[0].subscription_live is False:
                return
            if time.monotonic() > deadline:
                raise FlowError(
                    f"ml-team's subscription to {V1.uri} still live {LAPSE_TIMEOUT:.0f} s after its watcher "
                    f"stopped: {rows}"
                )
            time.sleep(1.0)


@pytest.fixture(scope="module")
def rollout(stack: Stack, extra_dags: Path, changed_source: str, source: Callable[[int], str]) -> Rollout:
    """The whole rollout, once; each step timed in ``Rollout.seconds``."""
    record = Rollout()
    driver = Driver(stack, record)
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        record.seconds[name] = time.monotonic() - clock
        clock = time.monotonic()
        _say(f"rollout: {name} took {record.seconds[name]:.1f} s")

    # 1. the v1 consumer subscribes; v1 and v2 appear; the v1 consumer keeps working
    record.v1_subscribed = consumed_uri(driver.ml, V1_CONSUMER_DAG)
    driver.watch(V1_CONSUMER_DAG, record.v1_subscribed)
    first = driver.produce("sklearn")
    driver.consume(V1_CONSUMER_DAG, only(first[V1.uri], "v1 (run 1)"))
    lap("v1 consumer subscribes; run 1 publishes v1#1 and v2#1; v1#1 consumed")

    # 2. retiring v1 is refused while ml-team reads it
    record.refused = retire_cli(stack, "retire", V1.uri)
    lap("retire refused")

    # 3. the switch: housing_consumer subscribes to what settings.CONTRACT names
    record.v2_subscribed = consumed_uri(driver.ml)
    driver.watch(CONSUMER_DAG, record.v2_subscribed)
    driver.consume(CONSUMER_DAG, only(first[V2.uri], "v2 (run 1)"))
    record.watched_together = bool(driver.ml.asset_watchers(V1.uri) and driver.ml.asset_watchers(V2.uri))
    second = driver.produce(changed_source)
    driver.consume(V1_CONSUMER_DAG, only(second[V1.uri], "v1 (run 2)"))
    driver.consume(CONSUMER_DAG, only(second[V2.uri], "v2 (run 2)"))
    lap("switch: v2#1 consumed; run 2's v1#2 and v2#2 consumed by both consumers")

    # 4. the v1 consumer goes; its lease lapses; retirement goes ahead
    driver.remove_v1_consumer(extra_dags)
    lap("v1 consumer removed, its lease lapsed")
    record.accepted = retire_cli(stack, "retire", V1.uri)

    # 5. the producer publishes v2 only
    third = driver.produce(source(5))
    driver.consume(CONSUMER_DAG, only(third[V2.uri], "v2 (run 3)"))
    lap("retired; run 3 publishes v2#3 only, consumed")
    return record


@pytest.fixture(scope="module")
def apis(stack: Stack, rollout: Rollout) -> tuple[AirflowClient, AirflowClient]:
    return clients(stack.config)


@pytest.fixture(scope="module")
def lake(stack: Stack) -> dict[str, Any]:
    return team_storage_options(stack.config, ADMIN)


def test_v1_consumer_works_while_v2_appears(rollout: Rollout) -> None:
    """Run 1 published one snapshot of each version; the v1 consumer took v1's with one run."""
    first = next(iter(rollout.published.values()))
    assert [len(first[V1.uri]), len(first[V2.uri])] == [1, 1]
    assert next(iter(rollout.consumed[V1_CONSUMER_DAG])) == first[V1.uri][0]


def test_retire_is_refused_before_the_switch_naming_the_consumer(rollout: Rollout) -> None:
    """While ml-team's v1 watcher renews its subscription, retire exits 1 and names ml-team."""
    refused = rollout.refused
    assert refused is not None and refused.returncode == 1, (refused.stdout, refused.stderr)
    assert ML_TEAM in refused.stdout + refused.stderr


def test_the_ml_team_switches_by_its_contract_line(rollout: Rollout) -> None:
    """housing_consumer is scheduled on v2 (settings.CONTRACT), the v1 consumer on v1; both consumers
    watched at once."""
    assert (rollout.v1_subscribed, rollout.v2_subscribed) == (V1.uri, V2.uri)
    assert rollout.watched_together


def test_retire_is_accepted_after_the_switch(rollout: Rollout, lake: dict[str, Any]) -> None:
    """Once the v1 consumer is gone and its lease has lapsed, retire exits 0 and v1 is retired."""
    accepted = rollout.accepted
    assert accepted is not None and accepted.returncode == 0, (accepted.stdout, accepted.stderr)
    retired = retirement(V1.uri, storage_options=lake)
    assert retired is not None and retired.successor_uri == V2.uri


def test_no_snapshot_is_lost_and_retired_v1_gets_no_new_one(rollout: Rollout, lake: dict[str, Any]) -> None:
    """v1 holds runs 1-2's snapshots, v2 runs 1-3's: exactly those the producer runs reported."""
    runs = list(rollout.published.values())
    assert [len(run[V1.uri]) for run in runs] == [1, 1, 0]
    assert [len(run[V2.uri]) for run in runs] == [1, 1, 1]
    for uri, count in ((V1.uri, 2), (V2.uri, 3)):
        listed = [m.snapshot_id for m in list_snapshots(uri, storage_options=lake)]
        assert listed == [sid for run in runs for sid in run[uri]] and len(listed) == count


def test_each_snapshot_is_consumed_by_exactly_one_run(
    rollout: Rollout, apis: tuple[AirflowClient, AirflowClient], lake: dict[str, Any]
) -> None:
    """Each consumer DAG has one run per snapshot of its version, and no other run."""
    _, ml = apis
    # every DAG's runs: the v1 consumer's file is gone, its runs stay
    runs = ml.request("GET", "/dags/~/dagRuns", params={"limit": 100})["dag_runs"]
    for dag_id, uri in ((V1_CONSUMER_DAG, V1.uri), (CONSUMER_DAG, V2.uri)):
        snapshots = [m.snapshot_id for m in list_snapshots(uri, storage_options=lake)]
        consumed = rollout.consumed[dag_id]
        assert sorted(consumed) == snapshots
        assert all(len(ids) == 1 for ids in consumed.values()), consumed
        ran = sorted(r["dag_run_id"] for r in runs if r["dag_id"] == dag_id)
        assert ran == sorted(run_id for [run_id] in consumed.values())


def test_no_run_or_task_failed_in_either_deployment(
    rollout: Rollout, apis: tuple[AirflowClient, AirflowClient], lake: dict[str, Any]
) -> None:
    """Neither deployment has a failed DAG run or task instance, of any DAG, except an alert DAG's run
    queued before the first snapshot existed: the alerts are unpaused at creation and their first check
    rightly fails on an empty lake."""
    first = min(m.created_at for uri in (V1.uri, V2.uri) for m in list_snapshots(uri, storage_options=lake))
    for client in apis:
        runs = client.request("GET", "/dags/~/dagRuns", params={"state": "failed", "limit": 100})["dag_runs"]
        tasks = client.request(
            "GET", "/dags/~/dagRuns/~/taskInstances", params={"state": ["failed", "upstream_failed"]}
        )["task_instances"]
        empty_lake = {
            (r["dag_id"], r["dag_run_id"])
            for r in runs
            if r["dag_id"] in ALERT_DAGS and datetime.fromisoformat(r["queued_at"]) < first
        }
        assert [r for r in runs if (r["dag_id"], r["dag_run_id"]) not in empty_lake] == [], client.base_url
        assert [t for t in tasks if (t["dag_id"], t["dag_run_id"]) not in empty_lake] == [], client.base_url


def _receipts(uri: str, snapshot_id: str, lake: dict[str, Any]) -> list[dict[str, Any]]:
    fs, folder = fsspec.url_to_fs(consumer_uri(uri, ML_TEAM), **lake)
    fs.invalidate_cache()
    return [json.loads(fs.cat(path)) for path in fs.glob(f"{folder}/receipts/{snapshot_id}/*.json")]


def test_each_snapshot_has_one_success_receipt_and_its_predictions(
    rollout: Rollout, lake: dict[str, Any]
) -> None:
    """Every snapshot of both versions has exactly one receipt of ml-team, a success, whose predictions
    file has a row per snapshot row; ml-team lags neither version."""
    for uri in (V1.uri, V2.uri):
        for manifest in list_snapshots(uri, storage_options=lake):
            [receipt] = _receipts(uri, manifest.snapshot_id, lake)
            assert receipt["outcome"] == "success", receipt
            predictions = pd.read_parquet(receipt["produced"]["predictions_uri"], storage_options=lake)
            assert len(predictions) == manifest.row_count
        [row] = [r for r in consumer_lag(uri, storage_options=lake) if r.consumer == ML_TEAM]
        assert row.lag_snapshots == 0, row


def test_retired_v1_snapshots_stay_readable_and_say_they_are_deprecated(
    rollout: Rollout, lake: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """After retirement each v1 snapshot reads back whole under contract 1.x, with the deprecation
    warning naming its successor."""
    for manifest in list_snapshots(V1.uri, storage_options=lake):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="housing_contracts.lake.snapshots"):
            snapshot = read_snapshot(V1.uri, manifest.snapshot_id, contract=V1, storage_options=lake)
        assert len(snapshot.frame) == manifest.row_count
        assert list(snapshot.frame.columns) == list(V1.columns)
        assert any("deprecated" in r.getMessage() and V2.uri in r.getMessage() for r in caplog.records)


def test_snapshots_cli_shows_retired_and_the_deprecation(stack: Stack, rollout: Rollout) -> None:
    """``housing-contract snapshots <v1>`` says RETIRED, the sunset and the successor, and lists the two
    v1 snapshots."""
    done = retire_cli(stack, "snapshots", V1.uri)
    assert done.returncode == 0, done.stderr
    assert "RETIRED" in done.stdout
    assert f"sunset {V1.deprecation.sunset.isoformat()}" in done.stdout and V2.uri in done.stdout
    for sid in (sid for run in rollout.published.values() for sid in run[V1.uri]):
        assert sid in done.stdout
