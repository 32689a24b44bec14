"""Faults injected into the housing_consumer DAG (``dag.test()``): the object store and MLflow crash.

Each server here is a disposable one of the test's own, killed with SIGKILL (a crash, not a shutdown)
at a chosen moment and restarted by the failed task's ``on_retry_callback``, so the recovery is the
real one: the task's retry policy, then the next try against the restarted server. Retries wait 1 s
here instead of the production backoff (20 s, 40 s, 80 s).

- **Object store down while the consumer loads**: S3 is killed as ``train`` starts. The
  try fails on a storage error, is retried once S3 is back, and the run trains on the snapshot.
- **MLflow down during training**: MLflow is killed right after ``train`` opened its MLflow run (a
  half-logged run), and again right after ``train`` registered the model version (a version with no
  alias yet). The retried ``train`` deletes the half-logged run and logs one complete run; the retried
  ``decide`` finds the version and gives it its alias: one live run, one READY version, never two.

Each test reports one row of the reliability summary table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from housing_contracts import V2
from housing_testkit import DATA_TEAM, ML_TEAM, S3Identity, private_uri
from include.housing_ml.settings import (
    CHAMPION_ALIAS,
    CONSUMER,
    EXPERIMENT_NAME,
    MODEL_NAME,
    predictions_asset_uri,
    predictions_file_uri,
)
from include.housing_ml.tracking import TAG_COMPLETE, TAG_SNAPSHOT_ID


@pytest.fixture
def own_mlflow_uri() -> Iterator[None]:
    """Tasks call ``mlflow.set_tracking_uri`` (process-wide, and it beats ``$MLFLOW_TRACKING_URI``): after
    a test that points them at its own server, point MLflow back where it was."""
    previous = mlflow.get_tracking_uri()
    yield
    mlflow.set_tracking_uri(previous)


def _tries(dag_run) -> dict[str, tuple[str, int]]:
    """task_id -> (state, try_number) of a finished run."""
    return {ti.task_id: (str(ti.state), ti.try_number) for ti in dag_run.get_task_instances()}


def test_object_store_down_while_the_consumer_loads(
    consumer_dag,
    airflow_db,
    mlflow_tracking: str,
    disposable_s3_server,
    publish_sample,
    task_hooks,
    monkeypatch: pytest.MonkeyPatch,
    reliability_row,
) -> None:
    """S3 killed as train starts: the try fails, the retry after the restart succeeds."""
    server = disposable_s3_server
    ml_team = S3Identity(server, ML_TEAM)
    dataset_uri = private_uri(V2.uri, "faults")
    predictions_root = private_uri(predictions_asset_uri(V2), "faults")
    for name, value in {
        "AIRFLOW_CONN_LAKE_S3": ml_team.airflow_connection,
        "HOUSING_DATASET_URI": dataset_uri,
        "HOUSING_PREDICTIONS_URI": predictions_root,
    }.items():
        monkeypatch.setenv(name, value)
    manifest = publish_sample(dataset_uri, S3Identity(server, DATA_TEAM).storage_options)
    failures: list[str] = []

    def kill_on_first_try(context: dict[str, Any]) -> None:
        if context["ti"].try_number == 1:
            server.kill()

    def restart(context: dict[str, Any]) -> None:
        failures.append(type(context.get("exception")).__name__)
        server.start()

    task_hooks.quick_retries(consumer_dag)
    task_hooks.on_execute(consumer_dag, "train", kill_on_first_try)
    task_hooks.on_retry(consumer_dag, "train", restart)

    dag_run = consumer_dag.test(run_conf={"snapshot_id": manifest.snapshot_id})
    tries = _tries(dag_run)
    predictions = pd.read_parquet(
        predictions_file_uri(manifest.snapshot_id, predictions_root), storage_options=ml_team.storage_options
    )
    reliability_row(
        "object store down while the consumer loads",
        "train retried after the restart, run succeeds",
        f"run {dag_run.state}; train try {tries['train'][1]} after {failures}; "
        f"{len(predictions)} predictions",
    )
    assert str(dag_run.state) == "success", tries
    assert tries["train"] == ("success", 2)
    assert len(failures) == 1
    assert len(predictions) == manifest.row_count


def test_mlflow_down_during_training_and_registration(
    consumer_dag,
    consumer_env,
    disposable_mlflow_server,
    own_mlflow_uri,
    published,
    task_hooks,
    monkeypatch: pytest.MonkeyPatch,
    reliability_row,
) -> None:
    """MLflow killed mid-training and after the version is created: one complete run, one READY version."""
    server = disposable_mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.tracking_uri)
    user, password = server.logins[CONSUMER]
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    # MLflow's client retries a dead server for ~4 min by itself; here the task's retry does the work.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    killed: list[str] = []

    def kill_after(function_name: str):
        original = getattr(mlflow, function_name)

        def call_then_kill(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if function_name not in killed:
                killed.append(function_name)
                server.kill()
            return result

        monkeypatch.setattr(mlflow, function_name, call_then_kill)

    kill_after("start_run")  # inside train: the MLflow run exists, nothing is logged yet
    kill_after("register_model")  # inside train, later: the version exists, no alias points at it yet

    def restart(context: dict[str, Any]) -> None:
        server.start()

    task_hooks.quick_retries(consumer_dag)
    for task_id in ("train", "decide"):
        task_hooks.on_retry(consumer_dag, task_id, restart)

    dag_run = consumer_dag.test(run_conf={"snapshot_id": published.snapshot_id})
    tries = _tries(dag_run)

    client = MlflowClient(server.tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    runs_filter = f"tags.{TAG_SNAPSHOT_ID} = '{published.snapshot_id}'"
    live = client.search_runs([experiment.experiment_id], runs_filter, run_view_type=ViewType.ACTIVE_ONLY)
    deleted = client.search_runs([experiment.experiment_id], runs_filter, run_view_type=ViewType.DELETED_ONLY)
    versions = client.search_model_versions(f"name = '{MODEL_NAME}'")
    retried = {task: n for task, (_, n) in tries.items() if n > 1}
    reliability_row(
        "MLflow killed during training, and after a version is created",
        "tasks retried; 1 complete run, 1 READY version, champion",
        f"run {dag_run.state}; killed after {killed}; retried {retried}; {len(live)} live run(s), "
        f"{len(deleted)} half-logged deleted; versions {[(v.version, v.status) for v in versions]}",
    )
    assert str(dag_run.state) == "success", tries
    assert killed == ["start_run", "register_model"]
    assert (tries["train"], tries["decide"]) == (("success", 2), ("success", 2))
    (run,) = live
    assert run.data.tags[TAG_COMPLETE] == "true"
    assert len(deleted) == 1 and TAG_COMPLETE not in deleted[0].data.tags
    (version,) = versions
    assert version.status == "READY" and version.run_id == run.info.run_id
    assert client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version == version.version
