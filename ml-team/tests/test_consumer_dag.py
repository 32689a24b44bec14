"""The housing_consumer DAG end to end (``dag.test()``) against real S3 and MLflow servers on loopback."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from housing_contracts import IncompatibleContractError, SnapshotIntegrityError
from include.housing_ml import consumer
from include.housing_ml.settings import CHAMPION_ALIAS, MODEL_NAME, predictions_file_uri


@pytest.fixture(scope="module")
def consumer_dag():
    """The housing_consumer DAG as parsed from this project's dags/ folder."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    return bag.dags["housing_consumer"]


def _states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def _runs_for(snapshot_id: str) -> list:
    client = MlflowClient()
    experiment = client.get_experiment_by_name("california_housing")
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], f"tags.snapshot_id = '{snapshot_id}'")


def test_manual_run_trains_registers_and_predicts(
    consumer_dag, consumer_env, published, storage_options
) -> None:
    """A manual run on a published snapshot logs a run, registers a version and writes predictions."""
    dag_run = consumer_dag.test(run_conf={"snapshot_id": published.snapshot_id})
    assert str(dag_run.state) == "success", _states(dag_run)

    (run,) = _runs_for(published.snapshot_id)
    assert run.data.tags["decision"] in ("champion", "challenger")
    client = MlflowClient()
    (version,) = client.search_model_versions(f"name = '{MODEL_NAME}' and run_id = '{run.info.run_id}'")
    assert version.status == "READY"
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)

    uri = predictions_file_uri(published.snapshot_id, consumer_env["HOUSING_PREDICTIONS_URI"])
    predictions = pd.read_parquet(uri, storage_options=storage_options)
    assert len(predictions) == published.row_count
    assert set(predictions["model_version"]) == {str(champion.version)}


def _rewrite(s3_server, lake_uri: str, snapshot_id: str, name: str, change) -> None:
    """Replace one object of a committed snapshot by ``change(old bytes)``."""
    bucket, _, prefix = f"{lake_uri}/snapshots/{snapshot_id}".removeprefix("s3://").partition("/")
    client = s3_server.client()
    body = client.get_object(Bucket=bucket, Key=f"{prefix}/{name}")["Body"].read()
    client.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=change(body))


def _flip_a_byte(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]


@pytest.fixture
def tampered(published, lake_uri, s3_server):
    """The published snapshot with one byte of its part file flipped after the commit."""
    _rewrite(s3_server, lake_uri, published.snapshot_id, published.files[0].path, _flip_a_byte)
    return published


def test_tampered_snapshot_error_names_file_and_checksum(tampered, lake_uri, storage_options) -> None:
    """Validation refuses the snapshot with a SnapshotIntegrityError naming the file and its sha256."""
    with pytest.raises(SnapshotIntegrityError, match=r"part-00000\.parquet expected size \d+ sha256"):
        consumer.validate(
            {"dataset_uri": lake_uri, "snapshot_id": tampered.snapshot_id}, storage_options=storage_options
        )


def test_other_contract_major_is_refused(published, lake_uri, storage_options, s3_server) -> None:
    """A snapshot whose manifest names contract 2.0.0 is an IncompatibleContractError."""
    _rewrite(
        s3_server,
        lake_uri,
        published.snapshot_id,
        "_manifest.json",
        lambda body: body.replace(b'"version": "1.0.0"', b'"version": "2.0.0"'),
    )
    with pytest.raises(IncompatibleContractError, match="2"):
        consumer.validate(
            {"dataset_uri": lake_uri, "snapshot_id": published.snapshot_id}, storage_options=storage_options
        )


def test_tampered_snapshot_is_refused_before_training(consumer_dag, consumer_env, tampered) -> None:
    """A part file changed after publishing fails the run at validation; nothing is trained."""
    published = tampered
    dag_run = consumer_dag.test(run_conf={"snapshot_id": published.snapshot_id})
    states = _states(dag_run)
    assert str(dag_run.state) == "failed"
    assert states["validate_snapshot"] == "failed"
    assert states["train"] == "upstream_failed"
    assert _runs_for(published.snapshot_id) == []
