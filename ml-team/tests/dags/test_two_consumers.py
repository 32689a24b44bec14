"""A v1 consumer beside the v2 one in one deployment, as the rollout runs them: ``housing_consumer_v1``,
made by the consumer DAG file's own factory (``housing_testkit.write_v1_consumer``), served from the same
dags/ folder.

The shared integrity checks hold for both files; each DAG follows its own contract line; and both, run
(``dag.test()``) on the two snapshots of one producer run, succeed with records, predictions and MLflow
runs of their own and the same model scores (one internal representation).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd
import pytest
from fsspec.core import url_to_fs
from mlflow.tracking import MlflowClient

from housing_contracts import V1, V2
from housing_contracts.consumers.records import Receipt, consumer_uri
from housing_testkit import DagIntegrity, dag_bag, write_v1_consumer
from include.housing_ml.settings import (
    CONSUMER,
    EXPERIMENT_NAME,
    predictions_file_uri,
    predictions_uri,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]
CONSUMER_FILE = PROJECT_DIR / "dags" / "housing_consumer.py"


def write_two_consumers(project: Path) -> Path:
    """A project folder whose dags/ holds the consumer DAG file and a v1 consumer made by its factory
    (``include`` linked, as the deployment's project folder has it beside dags/)."""
    dags = project / "dags"
    dags.mkdir(parents=True, exist_ok=True)
    (dags / "housing_consumer.py").write_text(CONSUMER_FILE.read_text())
    write_v1_consumer(dags)
    if not (project / "include").exists():
        (project / "include").symlink_to(PROJECT_DIR / "include", target_is_directory=True)
    return dags


# Written at collection (the shared checks are parametrized over its files), in the tests' Airflow home,
# which conftest.py creates and removes.
TWO_CONSUMERS = write_two_consumers(Path(os.environ["AIRFLOW_HOME"]) / "two-consumers")


class TestDagIntegrityBesideAV1Consumer(DagIntegrity):
    """The shared checks where the deployment also serves the consumer DAG copied as a v1 consumer."""

    dags_folder = TWO_CONSUMERS


def _two_consumers() -> dict:
    return dag_bag(TWO_CONSUMERS).dags


def test_a_v1_and_a_v2_consumer_parse_in_one_deployment() -> None:
    """The v1 consumer's DAG file parses beside the original, without import errors."""
    assert dag_bag(TWO_CONSUMERS).import_errors == {}
    assert sorted(_two_consumers()) == ["housing_consumer", "housing_consumer_v1"]


@pytest.mark.parametrize(("dag_id", "contract"), [("housing_consumer", V2), ("housing_consumer_v1", V1)])
def test_each_consumer_follows_its_contract_line(dag_id: str, contract) -> None:
    """Each consumer's Asset, watcher, predictions and receipts are its contract's, as the same consumer
    ml-team (its records live under each major's dataset)."""
    dag = _two_consumers()[dag_id]
    (asset,) = dag.timetable.asset_condition.objects
    (watcher,) = asset.watchers
    kwargs = watcher.trigger.serialize()[1]
    (predictions,) = dag.get_task("write_predictions").outlets
    (on_failure,) = dag.default_args["on_failure_callback"]
    assert (asset.name, asset.uri) == (contract.asset_name, contract.uri)
    assert (kwargs["asset_name"], kwargs["consumer"]) == (contract.asset_name, CONSUMER)
    assert watcher.name == f"{contract.asset_name}_snapshot_committed"
    assert (predictions.name, predictions.uri) == (
        f"california_housing_predictions_v{contract.major}",
        f"s3://lake/california_housing_predictions/v{contract.major}",
    )
    assert (on_failure.__self__.consumer, on_failure.__self__.contract) == (CONSUMER, contract)


def _receipts(dataset_uri: str, snapshot_id: str, storage_options) -> list[Receipt]:
    fs, _ = url_to_fs(dataset_uri, **storage_options)
    folder = f"{consumer_uri(dataset_uri, CONSUMER)}/receipts/{snapshot_id}"
    return [Receipt.from_json(fs.cat_file(path)) for path in fs.glob(f"{folder}/*.json")]


def _metrics(snapshot_id: str) -> dict[str, float]:
    client = MlflowClient()
    experiment = client.get_experiment_by_name(EXPERIMENT_NAME)
    (run,) = client.search_runs([experiment.experiment_id], f"tags.snapshot_id = '{snapshot_id}'")
    return run.data.metrics


def test_both_consumers_consume_one_producer_run(
    airflow_db,
    consumer_env,
    both_majors_published,
    team_lake_uri,
    subscribed_uri,
    storage_options,
    caplog,
    monkeypatch,
) -> None:
    """One producer run publishes v1 and v2; the v1 consumer (warning that 1.x is deprecated) and the v2
    one, served from one dags/ folder, each consume their major's snapshot: receipts under their own
    dataset, predictions under their own major, and the same model scores."""
    from airflow import settings as airflow_settings

    # dag.test() stores the DAGs of the dags-folder bundle, whose path Airflow reads once into
    # settings.DAGS_FOLDER: point both at the deployment with the two consumers.
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(TWO_CONSUMERS))
    monkeypatch.setattr(airflow_settings, "DAGS_FOLDER", str(TWO_CONSUMERS))
    snapshots = both_majors_published
    caplog.set_level(logging.WARNING)
    caplog.clear()
    v1_run = _two_consumers()["housing_consumer_v1"].test(run_conf={"snapshot_id": snapshots[V1]})
    v1_warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    caplog.clear()
    v2_run = _two_consumers()["housing_consumer"].test(run_conf={"snapshot_id": snapshots[V2]})
    v2_warnings = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)

    assert (str(v1_run.state), str(v2_run.state)) == ("success", "success")
    consumers = {V1: (team_lake_uri, "housing_consumer_v1"), V2: (subscribed_uri, "housing_consumer")}
    for contract, (dataset_uri, dag_id) in consumers.items():
        (receipt,) = _receipts(dataset_uri, snapshots[contract], storage_options)
        assert (receipt.outcome, receipt.dag_id) == ("success", dag_id)
        predictions = predictions_file_uri(snapshots[contract], predictions_uri(contract))
        assert receipt.produced["predictions_uri"] == predictions
        assert f"/v{contract.major}/" in predictions
        assert len(pd.read_parquet(predictions, storage_options=storage_options)) == 3_000
    subscribed = "this consumer subscribes to california_housing 1.1.0, which is deprecated: sunset 2027-"
    assert subscribed in v1_warnings
    assert f"snapshot {snapshots[V1]} of california_housing 1.1.0 is deprecated: sunset" in v1_warnings
    assert "is deprecated: sunset" not in v2_warnings
    scores = ("test_rmse", "test_r2", "baseline_test_rmse")
    v1_metrics, v2_metrics = _metrics(snapshots[V1]), _metrics(snapshots[V2])
    assert {m: v1_metrics[m] for m in scores} == {m: v2_metrics[m] for m in scores}
