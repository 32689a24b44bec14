"""Event latency, snapshot manifest committed → subscriber DagRun queued, beside the in-Airflow
same-deployment asset event (producer task end → consumer DagRun queued).

Both are measured in one Airflow of the benchmark's own (:mod:`bench.deployment`) running bench/dags/:
``bench_snapshot_subscriber`` is scheduled on the watched Asset of the contract version the ML team's
consumer subscribes to, exactly as that consumer is (``SnapshotCommittedTrigger`` polling the bench's
SeaweedFS with the ML team's identity), and the bench publishes small distinct snapshots of that version
(bootstrapped 1.x rows, converted with ``housing_contracts.convert``) with ``housing_contracts.publish``
as the data team's identity. The commit time is taken when ``publish`` returns, right after the manifest PUT.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench import deployment
from bench.data import bootstrap
from bench.results import Goal, Result, not_measured, progress
from housing_contracts import V1, Contract, contract_for, convert, publish
from housing_stack.airflow_client import AirflowClient, AirflowError
from housing_stack.airflow_standalone import LAKE_CONN_ID, lake_connection
from housing_stack.flow import FlowError, consumed_uri
from housing_stack.identities import DATA_TEAM, ML_TEAM
from housing_stack.process import StackError
from housing_stack.seaweedfs import SeaweedFS
from housing_stack.settings import REPO_ROOT

SUBSCRIBER_DAG = "bench_snapshot_subscriber"
PRODUCER_DAG = "bench_asset_producer"
PRODUCER_TASK = "publish"
CONSUMER_DAG = "bench_asset_consumer"
#: The ML team's project root: its DAG imports ``include.housing_ml.settings`` (the connection id).
ML_TEAM_DIR = REPO_ROOT / "ml-team"
GOAL = Goal("<=", 3.0)
FIRST_GOAL = Goal("<=", 5.0)
FIRST_NAME = "event latency, first event after the watcher starts"
#: The subscriber's consumer name (bench/dags/bench_snapshot_subscriber.py subscribes as the ML team).
CONSUMER = ML_TEAM
#: A published snapshot must have produced its run within this many seconds, or the run is reported lost.
RUN_TIMEOUT = 120.0
REST_ERRORS = (AirflowError, httpx.HTTPError)
MEASUREMENT_ERRORS = (*REST_ERRORS, TimeoutError)


@dataclass(frozen=True)
class Sample:
    """One handoff: when the producer side finished, when the event was stored, when the run was queued."""

    committed: datetime
    event_at: datetime
    queued_at: datetime

    @property
    def latency(self) -> float:
        return (self.queued_at - self.committed).total_seconds()


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def run(
    s3: SeaweedFS, workdir: Path, *, publishes: int = 12, interval: float = 3.0, rows: int = 2_000
) -> list[Result]:
    """Start the bench Airflow, measure both latencies ``publishes`` times, stop it."""
    names = (
        "event latency p50: manifest → run queued",
        "event latency p95: manifest → run queued",
    )
    env = {
        f"AIRFLOW_CONN_{LAKE_CONN_ID.upper()}": lake_connection(
            s3.identity(ML_TEAM), s3.endpoint_url, s3.region
        ),
    }
    airflow = deployment.bench_deployment(workdir / "airflow", env, pythonpath=[ML_TEAM_DIR])
    progress(f"event latency: starting the bench Airflow on {airflow.base_url}")
    watched: list[Sample] = []
    same: list[Sample] = []
    first: tuple[Sample, float] | None = None
    failures: dict[str, str] = {}
    try:
        with deployment.running(airflow):
            client = deployment.client(airflow)
            for dag_id in (PRODUCER_DAG, CONSUMER_DAG):
                client.wait_for_dag(dag_id)
                client.unpause(dag_id)
            contract = _subscribed_contract(client)
            progress(f"event latency: the subscriber watches {contract.uri} ({contract.label})")
            # each half is reported on its own: a failed baseline must not discard the watcher's figures
            try:
                first = _first_sample(client, s3, contract, rows)
            except MEASUREMENT_ERRORS as error:
                failures["first"] = _short(error)
            try:
                watched = _watcher_samples(
                    client, s3, contract, publishes, interval, rows, warm=first is None
                )
            except MEASUREMENT_ERRORS as error:
                failures["watcher"] = _short(error)
            try:
                same = _same_deployment_samples(client, publishes)
            except MEASUREMENT_ERRORS as error:
                failures["baseline"] = _short(error)
    except (StackError, FlowError, *MEASUREMENT_ERRORS) as error:
        for half in ("first", "watcher", "baseline"):
            failures.setdefault(half, _short(error))

    if first is None:
        first_row = not_measured(FIRST_NAME, "s", failures.get("first", "no sample"), FIRST_GOAL)
    else:
        sample, live_s = first
        first_row = Result(
            FIRST_NAME,
            sample.latency,
            "s",
            goal=FIRST_GOAL,
            note=(
                f"subscriber unpaused and its file parsed; the watcher was live (subscription written) "
                f"{live_s:.1f} s later, then one snapshot of {rows:,} rows published at once; split: trigger "
                f"poll → event stored {(sample.event_at - sample.committed).total_seconds():.2f} s, event → "
                f"run queued {(sample.queued_at - sample.event_at).total_seconds():.2f} s"
            ),
        )
    if not watched:
        reason = failures.get("watcher", "no samples")
        return [not_measured(names[0], "s", reason), not_measured(names[1], "s", reason, GOAL), first_row]
    latencies = [s.latency for s in watched]
    baseline = [s.latency for s in same]
    trigger_part = [(s.event_at - s.committed).total_seconds() for s in watched]
    scheduler_part = [(s.queued_at - s.event_at).total_seconds() for s in watched]
    note = (
        f"{len(latencies)} snapshots of {rows:,} rows, {interval:g} s apart; max {max(latencies):.2f} s; "
        f"p50 split: trigger poll → event stored {_percentile(trigger_part, 50):.2f} s, "
        f"event → run queued {_percentile(scheduler_part, 50):.2f} s; "
        + (
            f"baseline: {len(baseline)} producer runs, task end → consumer run queued"
            if baseline
            else f"baseline not measured: {failures.get('baseline', 'no samples')}"
        )
    )
    baseline_name = "same-deployment asset event" if baseline else None
    return [
        Result(
            names[0],
            _percentile(latencies, 50),
            "s",
            baseline_name,
            _percentile(baseline, 50) if baseline else None,
            note=note,
        ),
        Result(
            names[1],
            _percentile(latencies, 95),
            "s",
            baseline_name,
            _percentile(baseline, 95) if baseline else None,
            GOAL,
        ),
        first_row,
    ]


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: " + " ".join(str(error).split())[:400]


def _started_runs(client: AirflowClient, dag_id: str) -> list[dict[str, Any]]:
    """Runs of ``dag_id`` that have started: Airflow 3.3.2 answers HTTP 500 for the asset events of a run
    still queued (apache/airflow#71360, ``DagRunAssetReference.start_date`` is not nullable)."""
    return [dag_run for dag_run in client.runs(dag_id) if dag_run.get("start_date")]


def _subscriber_runs(client: AirflowClient) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """snapshot_id → (subscriber run, the asset event that carried it)."""
    found = {}
    for dag_run in _started_runs(client, SUBSCRIBER_DAG):
        for event in client.triggering_events(SUBSCRIBER_DAG, dag_run["dag_run_id"]):
            payload = (event.get("extra") or {}).get("payload") or {}
            if isinstance(payload.get("snapshot_id"), str):
                found[payload["snapshot_id"]] = (dag_run, event)
    return found


def _wait_for_snapshots(client: AirflowClient, snapshot_ids: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = {}
    last_error = ""
    while True:
        try:
            found = _subscriber_runs(client)
        except REST_ERRORS as error:  # a busy API server: ask again until the deadline
            last_error = f"; last REST error: {_short(error)}"
        if snapshot_ids <= found.keys():
            return found
        if time.monotonic() > deadline:
            missing = sorted(snapshot_ids - found.keys())
            raise TimeoutError(
                f"no {SUBSCRIBER_DAG} run for snapshots {missing} within {timeout:.0f} s{last_error}"
            )
        time.sleep(1.0)


def _subscribed_contract(client: AirflowClient) -> Contract:
    """The contract version whose dataset the subscriber is scheduled on, as the deployment parsed it."""
    uri = consumed_uri(client, SUBSCRIBER_DAG)
    contract = contract_for(uri)
    if contract is None:
        raise FlowError(f"{SUBSCRIBER_DAG} is scheduled on {uri}, the dataset of no released contract")
    return contract


def _frame(rows: int, seed: int, contract: Contract) -> Any:
    """``rows`` distinct bootstrapped rows (1.x columns) in ``contract``'s columns."""
    frame = bootstrap(rows, seed=seed)
    return frame if contract == V1 else convert(frame, V1, contract)


def _subscribed_at(s3: SeaweedFS, contract: Contract) -> datetime | None:
    """When the subscriber's watcher last started (the subscription it writes), None before it did."""
    from housing_contracts.consumers.records import read_subscription

    subscription = read_subscription(contract.uri, CONSUMER, storage_options=s3.storage_options_for(ML_TEAM))
    return subscription.subscribed_at if subscription else None


def _first_sample(
    client: AirflowClient, s3: SeaweedFS, contract: Contract, rows: int
) -> tuple[Sample, float]:
    """Unpause the subscriber, wait until its watcher is live, publish one snapshot: its latency, and the
    seconds from the unpause to the live watcher (what the demo and the flow wait for first)."""
    client.wait_for_dag(SUBSCRIBER_DAG)
    unpaused = datetime.now(UTC).replace(microsecond=0)  # subscribed_at is stored to the second
    started = time.monotonic()
    client.unpause(SUBSCRIBER_DAG)
    client.reparse(SUBSCRIBER_DAG)
    deadline = started + 240.0
    while (subscribed := _subscribed_at(s3, contract)) is None or subscribed < unpaused:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{SUBSCRIBER_DAG}'s watcher wrote no subscription within 240 s of unpausing")
        time.sleep(0.25)
    live_s = time.monotonic() - started
    progress(f"event latency: watcher live {live_s:.1f} s after unpausing; first snapshot")
    result = publish(
        _frame(rows, 10_000, contract),
        contract.uri,
        contract=contract,
        storage_options=s3.storage_options_for(DATA_TEAM),
    )
    committed = datetime.now(UTC)
    found = _wait_for_snapshots(client, {result.manifest.snapshot_id}, timeout=RUN_TIMEOUT)
    dag_run, event = found[result.manifest.snapshot_id]
    return Sample(committed, _when(event["timestamp"]), _when(dag_run["queued_at"])), live_s


def _watcher_samples(
    client: AirflowClient,
    s3: SeaweedFS,
    contract: Contract,
    publishes: int,
    interval: float,
    rows: int,
    *,
    warm: bool = True,
) -> list[Sample]:
    options = s3.storage_options_for(DATA_TEAM)
    if warm:  # the first-event measurement failed: make sure the watcher is live before sampling
        progress("event latency: warm-up snapshot (waits until the triggerer watches the prefix)")
        client.unpause(SUBSCRIBER_DAG)
        snapshot = publish(
            _frame(rows, 10_000, contract), contract.uri, contract=contract, storage_options=options
        )
        _wait_for_snapshots(client, {snapshot.manifest.snapshot_id}, timeout=240.0)
    committed: dict[str, datetime] = {}
    for number in range(publishes):
        frame = _frame(rows, 10_001 + number, contract)  # distinct content: publish is idempotent
        result = publish(
            frame,
            contract.uri,
            contract=contract,
            producer={"dag_id": "bench", "run_id": str(number)},
            storage_options=options,
        )
        committed[result.manifest.snapshot_id] = datetime.now(UTC)
        progress(f"event latency: published snapshot {number + 1}/{publishes} {result.manifest.snapshot_id}")
        time.sleep(interval)
    found = _wait_for_snapshots(client, set(committed), timeout=RUN_TIMEOUT)
    return [
        Sample(when, _when(found[sid][1]["timestamp"]), _when(found[sid][0]["queued_at"]))
        for sid, when in committed.items()
    ]


def _same_deployment_samples(client: AirflowClient, runs: int) -> list[Sample]:
    samples = []
    for number in range(runs):
        run_id = client.trigger(PRODUCER_DAG)
        progress(f"event latency baseline: producer run {number + 1}/{runs}")
        deadline = time.monotonic() + RUN_TIMEOUT
        last_error = ""
        while True:
            try:
                consumer = _consumer_run_for(client, run_id)
            except REST_ERRORS as error:  # a busy API server: ask again until the deadline
                consumer, last_error = None, f"; last REST error: {_short(error)}"
            if consumer is not None:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no {CONSUMER_DAG} run for {PRODUCER_DAG} run {run_id} within {RUN_TIMEOUT:.0f} s"
                    f"{last_error}"
                )
            time.sleep(0.5)
        dag_run, event = consumer
        (task,) = [t for t in client.task_instances(PRODUCER_DAG, run_id) if t["task_id"] == PRODUCER_TASK]
        samples.append(
            Sample(_when(task["end_date"]), _when(event["timestamp"]), _when(dag_run["queued_at"]))
        )
    return samples


def _consumer_run_for(
    client: AirflowClient, producer_run_id: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    for dag_run in _started_runs(client, CONSUMER_DAG):
        for event in client.triggering_events(CONSUMER_DAG, dag_run["dag_run_id"]):
            if event.get("source_run_id") == producer_run_id:
                return dag_run, event
    return None
