"""Faults on the production profile, through the real DAGs; each test is a row of the reliability table.

They run on the session's production stack (PostgreSQL per deployment, CeleryExecutor with two workers
each, two triggerers in the ML team's deployment, the supervisor; see conftest.py), after the handoff
test's production pass. Each test publishes content of its own
(the real data minus every k-th row), so each pass commits a new snapshot, and breaks one component while
the handoff runs:

1. the Celery worker running ``train`` is SIGKILLed mid-task;
2. the triggerer holding the ML team's watcher is SIGKILLed while a snapshot is committed;
3. the ML deployment's PostgreSQL is restarted during a consumer run;
4. the data deployment's scheduler is SIGKILLed mid-run and started again.

Processes report their stack name as Airflow hostname (``airflow-ml-worker-2``), so the task try and the
trigger's triggerer job say which process ran them.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import psycopg2
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from housing_contracts import list_snapshots
from housing_stack.airflow_client import FINISHED, AirflowClient, AirflowError
from housing_stack.demo import clients
from housing_stack.flow import (
    CONSUMER_DAG,
    PRODUCER_DAG,
    FlowError,
    FlowReport,
    consumed_uri,
    reader_storage_options,
    run_flow,
)
from housing_stack.identities import ML_TEAM
from housing_stack.mlflow_server import mlflow_user
from housing_stack.stack import AIRFLOW_DATA, AIRFLOW_ML, POSTGRES_ML, Stack

MODEL_NAME = "california_housing_regressor"
EXPERIMENT = "california_housing"
FLOW_TIMEOUT = 900.0
#: The ML team's watcher, as its trigger row names it.
WATCHER_CLASS = "SnapshotCommittedTrigger"

T = TypeVar("T")


@pytest.fixture(scope="module")
def stack(production_stack: Stack) -> Stack:
    return production_stack


@pytest.fixture(scope="module")
def lake(stack: Stack) -> dict[str, Any]:
    """The ML team's S3 options (it lists the dataset's snapshots, as its watcher does)."""
    return reader_storage_options(stack.config)


@pytest.fixture(scope="module")
def apis(stack: Stack, lake: dict[str, Any]) -> tuple[AirflowClient, AirflowClient]:
    """The data and ML deployments' REST clients, after at least one undisturbed handoff of the real
    dataset (it unpauses both DAGs and makes a champion, so each fault hits a steady deployment)."""
    data, ml = clients(stack.config)
    if data.wait_for_dag(PRODUCER_DAG)["is_paused"]:
        run_flow(
            data, ml, conf={"source": "sklearn"}, timeout=FLOW_TIMEOUT, storage_options=lake, progress=print
        )
    return data, ml


def _until(
    find: Callable[[], T | None], what: str, timeout: float = FLOW_TIMEOUT, interval: float = 1.0
) -> T:
    """Poll ``find`` until it returns something; errors of a deployment being restarted count as 'not yet'."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            found = find()
        except (AirflowError, psycopg2.Error) as error:
            found, last_error = None, error
        if found is not None:
            return found
        time.sleep(interval)
    raise AssertionError(f"no {what} within {timeout:.0f} s (last error: {last_error!r})")


def _snapshot_of(ml: AirflowClient, run_id: str) -> set[str]:
    """The snapshot ids the events that created consumer run ``run_id`` carry."""
    events = ml.triggering_events(CONSUMER_DAG, run_id)
    return {((e.get("extra") or {}).get("payload") or {}).get("snapshot_id") for e in events}


def _consumer_runs_for(ml: AirflowClient, snapshot_id: str) -> list[str]:
    """Every consumer run created for ``snapshot_id``."""
    return [
        r["dag_run_id"] for r in ml.runs(CONSUMER_DAG) if snapshot_id in _snapshot_of(ml, r["dag_run_id"])
    ]


def _task(client: AirflowClient, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    return next(t for t in client.task_instances(dag_id, run_id) if t["task_id"] == task_id)


def _new_consumer_run(ml: AirflowClient, seen: set[str]) -> str | None:
    """The first consumer run not in ``seen`` (None while there is none)."""
    return next((r["dag_run_id"] for r in ml.runs(CONSUMER_DAG) if r["dag_run_id"] not in seen), None)


def _running_train(ml: AirflowClient, seen: set[str]) -> tuple[str, dict[str, Any]] | None:
    """(run id, train task instance) once a new consumer run's ``train`` runs on a worker."""
    run_id = _new_consumer_run(ml, seen)
    if run_id is None:
        return None
    train = _task(ml, CONSUMER_DAG, run_id, "train")
    return (run_id, train) if train["state"] == "running" and train.get("hostname") else None


def _mlflow_runs(stack: Stack, snapshot_id: str) -> list[Any]:
    """Every MLflow run of ``snapshot_id``, deleted ones included."""
    with mlflow_user(stack.config.mlflow_logins[ML_TEAM]):
        client = MlflowClient(tracking_uri=stack.config.mlflow_tracking_uri)
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            return []
        query = f"tags.snapshot_id = '{snapshot_id}'"
        return client.search_runs([experiment.experiment_id], query, run_view_type=ViewType.ALL)


def _complete(runs: list[Any]) -> list[Any]:
    return [r for r in runs if r.info.lifecycle_stage == "active" and r.info.status == "FINISHED"]


def _versions(stack: Stack, snapshot_id: str) -> list[tuple[str, str]]:
    """(version, status) of every registered model version made from a run of ``snapshot_id``."""
    run_ids = {r.info.run_id for r in _mlflow_runs(stack, snapshot_id)}
    with mlflow_user(stack.config.mlflow_logins[ML_TEAM]):
        client = MlflowClient(tracking_uri=stack.config.mlflow_tracking_uri)
        found = client.search_model_versions(f"name = '{MODEL_NAME}'")
    return sorted((v.version, v.status) for v in found if v.run_id in run_ids)


def _ml_sql(stack: Stack, sql: str) -> list[tuple]:
    return stack.postgres(POSTGRES_ML).query("airflow", sql)


def _watcher_holder(stack: Stack) -> str | None:
    """The ML triggerer process whose job runs the dataset's watcher (None while unassigned)."""
    rows = _ml_sql(
        stack,
        "SELECT job.hostname FROM trigger JOIN job ON job.id = trigger.triggerer_id "
        f"WHERE trigger.classpath LIKE '%{WATCHER_CLASS}' AND job.end_date IS NULL",
    )
    return rows[0][0] if rows else None


def _cursor(stack: Stack) -> str:
    """The watcher's stored cursor (the acknowledged snapshot ids), as stored."""
    return " ".join(str(value) for (value,) in _ml_sql(stack, "SELECT value FROM asset_state_store"))


def _since(stack: Stack, started: datetime) -> list[str]:
    """Components the supervisor restarted since ``started``."""
    return [r.component for r in stack.restarts() if datetime.fromisoformat(r.time) >= started]


def _flow(
    apis: tuple[AirflowClient, AirflowClient], lake: dict[str, Any], source: str
) -> Callable[[], FlowReport]:
    data, ml = apis
    return lambda: run_flow(
        data, ml, conf={"source": source}, timeout=FLOW_TIMEOUT, storage_options=lake, progress=print
    )


def test_worker_killed_while_training_retries_on_the_other_worker(
    stack: Stack, apis, lake, source, reliability_row
) -> None:
    """SIGKILL of the Celery worker running ``train``: the try is retried on the other worker; one
    complete MLflow run and one READY model version for the snapshot."""
    _, ml = apis
    seen = {r["dag_run_id"] for r in ml.runs(CONSUMER_DAG)}
    with ThreadPoolExecutor(max_workers=1) as pool:
        flow = pool.submit(_flow(apis, lake, source(7)))
        run_id, train = _until(lambda: _running_train(ml, seen), "running train task")
        (snapshot_id,) = _snapshot_of(ml, run_id)
        # mid-task: train has opened its MLflow run
        _until(lambda: _mlflow_runs(stack, snapshot_id) or None, "MLflow run opened by train", interval=0.5)
        victim = train["hostname"]
        assert victim.startswith(f"{AIRFLOW_ML}-worker-"), train
        with stack.hold(victim):
            stack.component(victim).kill()
            report = flow.result()
        stack.component(victim).start()
    final = _task(ml, CONSUMER_DAG, run_id, "train")
    runs = _mlflow_runs(stack, snapshot_id)
    live, deleted = _complete(runs), [r for r in runs if r.info.lifecycle_stage == "deleted"]
    versions = _versions(stack, snapshot_id)
    reliability_row(
        "production: Celery worker SIGKILLed while running train",
        "train retried on the other worker; 1 complete MLflow run, 1 READY version",
        f"killed {victim} in try {train['try_number']}; try {final['try_number']} {final['state']} on "
        f"{final['hostname']}; {len(live)} complete run(s), {len(deleted)} half-logged deleted; "
        f"versions {versions}; decision {report.decision and report.decision['outcome']}",
    )
    assert report.consumer_run_id == run_id and report.decision
    assert final["state"] == "success" and final["try_number"] > train["try_number"]
    assert final["hostname"].startswith(f"{AIRFLOW_ML}-worker-") and final["hostname"] != victim
    assert len(live) == 1
    assert [status for _, status in versions] == ["READY"]


def test_triggerer_killed_while_a_snapshot_is_committed_fires_once(
    stack: Stack, apis, lake, source, reliability_row
) -> None:
    """SIGKILL of the triggerer holding the watcher: the other triggerer takes the watcher over and the
    snapshot committed meanwhile starts exactly one consumer run."""
    data, ml = apis
    holder = _until(lambda: _watcher_holder(stack), "triggerer holding the watcher", timeout=120)
    seen_producer = {r["dag_run_id"] for r in data.runs(PRODUCER_DAG)}
    with ThreadPoolExecutor(max_workers=1) as pool, stack.hold(holder):
        flow = pool.submit(_flow(apis, lake, source(11)))
        # killed as the producer starts: the snapshot is committed while the watcher has no triggerer
        _until(lambda: _new_producer_run(data, seen_producer), "producer run")
        killed_at = time.monotonic()
        stack.component(holder).kill()
        report = flow.result()
        took_over = time.monotonic() - killed_at
        successor = _watcher_holder(stack)
    stack.component(holder).start()
    snapshot_id = report.snapshot["snapshot_id"]
    runs = _consumer_runs_for(ml, snapshot_id)
    cursor = _cursor(stack)
    reliability_row(
        "production: triggerer holding the watcher SIGKILLed while a snapshot is committed",
        "the other triggerer takes the watcher over; 1 consumer run for the snapshot",
        f"killed {holder}; watcher now on {successor}; {len(runs)} consumer run(s), decision after "
        f"{took_over:.0f} s; snapshot in the stored cursor: {snapshot_id in cursor}",
    )
    assert successor is not None and successor != holder
    assert successor.startswith(f"{AIRFLOW_ML}-triggerer-")
    assert runs == [report.consumer_run_id]
    assert snapshot_id in cursor  # acknowledged: a later triggerer will not fire it again


def _new_producer_run(data: AirflowClient, seen: set[str]) -> str | None:
    return next((r["dag_run_id"] for r in data.runs(PRODUCER_DAG) if r["dag_run_id"] not in seen), None)


def test_ml_database_restarted_during_a_consumer_run(
    stack: Stack, apis, lake, source, reliability_row
) -> None:
    """The ML deployment's PostgreSQL restarted while ``train`` runs: the run finishes (components that
    exit are restarted by the supervisor), with one consumer run and one model version, no event lost."""
    _, ml = apis
    started = datetime.now(UTC)
    seen = {r["dag_run_id"] for r in ml.runs(CONSUMER_DAG)}
    with ThreadPoolExecutor(max_workers=1) as pool:
        flow = pool.submit(_flow(apis, lake, source(13)))
        run_id, _ = _until(lambda: _running_train(ml, seen), "running train task")
        (snapshot_id,) = _snapshot_of(ml, run_id)
        database = stack.postgres(POSTGRES_ML)
        database.stop()
        time.sleep(5.0)
        database.start()
        # the flow driver polls the ML API, which fails while its database is away: follow the run here
        with suppress(AirflowError, FlowError):
            flow.result()
    run = _until(
        lambda: ((r := ml.run(CONSUMER_DAG, run_id))["state"] in FINISHED and r) or None,
        "finished consumer run",
    )
    tries = {t["task_id"]: t["try_number"] for t in ml.task_instances(CONSUMER_DAG, run_id)}
    runs = _consumer_runs_for(ml, snapshot_id)
    versions = _versions(stack, snapshot_id)
    live = _complete(_mlflow_runs(stack, snapshot_id))
    restarted = sorted(set(_since(stack, started)))
    reliability_row(
        "production: ML deployment's PostgreSQL restarted during a consumer run",
        "run succeeds; 1 consumer run, 1 model version, no event lost",
        f"run {run['state']}; restarted by the supervisor: {restarted or 'none'}; tries {tries}; "
        f"{len(runs)} consumer run(s); {len(live)} complete MLflow run(s); versions {versions}",
    )
    assert run["state"] == "success"
    assert runs == [run_id]
    assert len(live) == 1 and [status for _, status in versions] == ["READY"]
    assert snapshot_id in _cursor(stack)


def test_data_scheduler_killed_and_restarted_mid_run(
    stack: Stack, apis, lake, source, reliability_row
) -> None:
    """SIGKILL and restart of the data deployment's scheduler while the producer runs: the run completes,
    one snapshot is committed and one consumer run follows."""
    data, ml = apis
    dataset = consumed_uri(ml)
    before = [m.snapshot_id for m in list_snapshots(dataset, storage_options=lake)]
    seen_producer = {r["dag_run_id"] for r in data.runs(PRODUCER_DAG)}
    scheduler = f"{AIRFLOW_DATA}-scheduler"
    with ThreadPoolExecutor(max_workers=1) as pool:
        flow = pool.submit(_flow(apis, lake, source(17)))
        run_id = _until(lambda: _new_producer_run(data, seen_producer), "producer run")
        running = _until(
            lambda: next(
                (t["task_id"] for t in data.task_instances(PRODUCER_DAG, run_id) if t["state"] == "running"),
                None,
            ),
            "running producer task",
            interval=0.5,
        )
        with stack.hold(scheduler):
            stack.component(scheduler).kill()
            time.sleep(3.0)
            stack.component(scheduler).start()
        report = flow.result()
    after = [m.snapshot_id for m in list_snapshots(dataset, storage_options=lake)]
    new = [s for s in after if s not in before]
    runs = _consumer_runs_for(ml, report.snapshot["snapshot_id"]) if report.published else []
    reliability_row(
        "production: data deployment's scheduler SIGKILLed and restarted mid-run",
        "producer run completes; 1 snapshot; 1 consumer run downstream",
        f"killed while {running} ran; producer {data.run(PRODUCER_DAG, run_id)['state']}; "
        f"{len(new)} new snapshot(s); {len(runs)} consumer run(s); "
        f"decision {report.decision and report.decision['outcome']}",
    )
    assert report.producer_run_id == run_id and report.published
    assert new == [report.snapshot["snapshot_id"]]
    assert runs == [report.consumer_run_id]


def test_after_the_faults_all_is_healthy(stack: Stack) -> None:
    """After the faults every component is healthy again: nothing is left held or dead."""
    assert [status.name for status in stack.status() if not status.healthy] == []


#: One component of each kind the production stack runs.
ONE_OF_EACH_KIND = (
    "s3",
    "mlflow",
    "redis",
    f"{POSTGRES_ML}",
    f"{AIRFLOW_ML}-api-server",
    f"{AIRFLOW_ML}-scheduler",
    f"{AIRFLOW_ML}-dag-processor",
    f"{AIRFLOW_ML}-triggerer-1",
    f"{AIRFLOW_ML}-worker-1",
)


@pytest.mark.stops_stack
def test_leaders_killed_alone_then_down_leaves_nothing(stack: Stack, reliability_row) -> None:
    """SIGKILL of only the leading process of one component of each kind (as an OOM kill does; its
    children live on, orphaned) and the supervisor's restart of each: ``down`` then leaves no process of
    the stack, orphans included."""
    started = datetime.now(UTC)
    orphans = {}
    for name in ONE_OF_EACH_KIND:
        leader = stack.component(name).process.pid
        assert leader is not None, f"{name} is not running"
        children = [p for p in stack.leftovers() if _parent(int(p.split(":")[0])) == leader]
        orphans[name] = len(children)
        os.kill(leader, signal.SIGKILL)
    _until(
        lambda: set(ONE_OF_EACH_KIND) <= set(_since(stack, started)) or None,
        "the supervisor's restart of every killed component",
        timeout=120.0,
    )
    stack.down()
    left = stack.leftovers()
    reliability_row(
        "production: the leader of each kind of component SIGKILLed alone, restarted, then down",
        "no process of the stack left, orphaned children included",
        f"killed {len(ONE_OF_EACH_KIND)} leaders ({sum(orphans.values())} children orphaned: {orphans}); "
        f"after down {len(left)} process(es) left",
    )
    assert [s for s in stack.status() if s.healthy or s.pid] == []
    assert left == []


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None
