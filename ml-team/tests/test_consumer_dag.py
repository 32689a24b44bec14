"""The housing_consumer DAG end to end (``dag.test()``) against real S3 and MLflow servers on loopback."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from fsspec.core import url_to_fs
from mlflow.tracking import MlflowClient

from housing_contracts import V2, IncompatibleContractError, SnapshotIntegrityError
from housing_contracts.consumers.lag import consumer_lag
from housing_contracts.consumers.records import Receipt, consumer_uri
from include.housing_ml import consumer
from include.housing_ml.settings import CHAMPION_ALIAS, CONSUMER, MODEL_NAME, predictions_file_uri

#: What a task's reference to a snapshot of the subscribed contract says about its contract.
SUBSCRIBED_REF = {"contract_name": V2.name, "contract_version": V2.version}


def _states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def _runs_for(snapshot_id: str) -> list:
    client = MlflowClient()
    experiment = client.get_experiment_by_name("california_housing")
    if experiment is None:
        return []
    return client.search_runs([experiment.experiment_id], f"tags.snapshot_id = '{snapshot_id}'")


def _receipts(dataset_uri: str, snapshot_id: str, storage_options) -> list[Receipt]:
    """The ml-team's receipts for one snapshot, as the lake holds them."""
    fs, _ = url_to_fs(dataset_uri, **storage_options)
    folder = f"{consumer_uri(dataset_uri, CONSUMER)}/receipts/{snapshot_id}"
    return [Receipt.from_dict(json.loads(fs.cat_file(path))) for path in fs.glob(f"{folder}/*.json")]


def test_manual_run_trains_registers_and_predicts(
    consumer_dag, consumer_env, published, subscribed_uri, storage_options, data_team_s3
) -> None:
    """A manual run on a published snapshot logs a run, registers a version, writes predictions and
    leaves a success receipt naming the version and its decision."""
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

    (receipt,) = _receipts(subscribed_uri, published.snapshot_id, storage_options)
    assert (receipt.outcome, receipt.reason) == ("success", None)
    assert (receipt.dag_id, receipt.run_id) == ("housing_consumer", dag_run.run_id)
    assert receipt.produced == {
        "model_name": MODEL_NAME,
        "model_version": str(version.version),
        "decision": run.data.tags["decision"],
        "predictions_uri": uri,
        # below the training cap: every training row, as the run's metrics say
        "training_rows": "{train_rows:.0f} of {train_rows_available:.0f}".format(**run.data.metrics),
        # below the evaluation cap: every test row, for both models
        "evaluation_rows": "{test_rows:.0f} of {test_rows_available:.0f}".format(**run.data.metrics),
    }
    assert run.data.metrics["decision_test_rows"] == run.data.metrics["test_rows"]
    # What the producer sees (its identity reads every consumer's prefix): this consumer caught up.
    (row,) = consumer_lag(subscribed_uri, storage_options=data_team_s3.storage_options)
    assert (row.consumer, row.last_outcome, row.consumed_snapshot_id, row.lag_snapshots) == (
        CONSUMER,
        "success",
        published.snapshot_id,
        0,
    )


def _rewrite(writer, dataset_uri: str, snapshot_id: str, name: str, change) -> None:
    """Replace one object of a committed snapshot by ``change(old bytes)``, as ``writer`` (an S3Identity)."""
    bucket, _, prefix = f"{dataset_uri}/snapshots/{snapshot_id}".removeprefix("s3://").partition("/")
    client = writer.client()
    body = client.get_object(Bucket=bucket, Key=f"{prefix}/{name}")["Body"].read()
    client.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=change(body))


def _flip_a_byte(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1 :]


@pytest.fixture
def tampered(published, subscribed_uri, data_team_s3):
    """The published snapshot with one byte of its part file flipped after the commit."""
    _rewrite(data_team_s3, subscribed_uri, published.snapshot_id, published.files[0].path, _flip_a_byte)
    return published


def test_tampered_snapshot_error_names_file_and_checksum(tampered, subscribed_uri, storage_options) -> None:
    """Validation refuses the snapshot with a SnapshotIntegrityError naming the file and its sha256."""
    with pytest.raises(SnapshotIntegrityError, match=r"part-00000\.parquet expected size \d+ sha256"):
        consumer.load(
            {"dataset_uri": subscribed_uri, "snapshot_id": tampered.snapshot_id, **SUBSCRIBED_REF},
            storage_options=storage_options,
        )


def _as_contract_1x(body: bytes) -> bytes:
    """A v2 manifest edited to name contract 1.1.0."""
    return body.replace(f'"version": "{V2.version}"'.encode(), b'"version": "1.1.0"')


def test_other_contract_major_is_refused(published, subscribed_uri, storage_options, data_team_s3) -> None:
    """A snapshot in the subscribed dataset whose manifest names contract 1.1.0 is an
    IncompatibleContractError naming both contracts."""
    _rewrite(data_team_s3, subscribed_uri, published.snapshot_id, "_manifest.json", _as_contract_1x)
    with pytest.raises(
        IncompatibleContractError, match=r"1\.1\.0; this reader expects california_housing 2\.0\.0"
    ):
        consumer.load(
            {"dataset_uri": subscribed_uri, "snapshot_id": published.snapshot_id, **SUBSCRIBED_REF},
            storage_options=storage_options,
        )


def _edit_file_checksum(body: bytes) -> bytes:
    manifest = json.loads(body)
    manifest["files"][0]["sha256"] = "0" * 64
    return json.dumps(manifest).encode()


#: case -> (object to rewrite: "data" or the manifest, the change, what the refusal must say)
TAMPERINGS = {
    "data file changed after the commit": (
        "data",
        _flip_a_byte,
        r"part-00000\.parquet expected size \d+ sha256",
    ),
    "manifest checksum edited": ("_manifest.json", _edit_file_checksum, r"expected size \d+ sha256 0{64}"),
    "manifest of contract 1.1.0": (
        "_manifest.json",
        _as_contract_1x,
        r"IncompatibleContractError: .* contract california_housing 1\.1\.0",
    ),
}


@pytest.mark.parametrize("case", list(TAMPERINGS))
def test_tampered_snapshot_is_refused_before_training(
    case,
    consumer_dag,
    consumer_env,
    published,
    subscribed_uri,
    data_team_s3,
    storage_options,
    capfd,
    reliability_row,
) -> None:
    """A snapshot changed after its commit fails the run before training, naming why, and leaves a failed
    receipt with that reason; nothing is trained."""
    target, change, refusal = TAMPERINGS[case]
    name = published.files[0].path if target == "data" else target
    _rewrite(data_team_s3, subscribed_uri, published.snapshot_id, name, change)
    capfd.readouterr()
    dag_run = consumer_dag.test(run_conf={"snapshot_id": published.snapshot_id})
    out, err = capfd.readouterr()
    states = _states(dag_run)
    named = re.search(refusal, out + err) is not None
    trained = _runs_for(published.snapshot_id)
    receipts = _receipts(subscribed_uri, published.snapshot_id, storage_options)
    reliability_row(
        f"consumer given a tampered snapshot: {case}",
        "refused at train before training, with the reason; nothing trained; a failed receipt",
        f"run {dag_run.state}, train {states['train']}, decide {states['decide']}; "
        f"reason {'named' if named else 'NOT named'}; {len(trained)} MLflow runs; receipts "
        f"{[r.outcome for r in receipts]}",
    )
    assert str(dag_run.state) == "failed"
    assert states["train"] == "failed"
    assert states["decide"] == "upstream_failed"
    assert named, f"the run's log does not match {refusal!r}"
    assert trained == []
    (receipt,) = receipts
    assert (receipt.outcome, receipt.run_id, receipt.produced) == ("failed", dag_run.run_id, {})
    assert receipt.reason.startswith("train failed: ")
    assert re.search(refusal, receipt.reason), receipt.reason
