"""The steps of the ``housing_consumer`` DAG, as plain functions (no Airflow imports).

Each step takes and returns small JSON-able dicts; data and models travel through S3 and MLflow.
Every step that needs the data reads the snapshot again through the contract package, which
verifies its checksums each time: snapshots are immutable, and re-reading ~20k rows costs less
than a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import mlflow
from fsspec.core import url_to_fs

from housing_contracts import Snapshot, dataset_uri, read_snapshot
from include.housing_ml import registry, tracking
from include.housing_ml.predictions import predictions_frame, write_predictions
from include.housing_ml.settings import MODEL_NAME, predictions_file_uri
from include.housing_ml.split import train_test_frames
from include.housing_ml.subscription import (
    AlreadyConsumed,
    SnapshotRef,
    choose_snapshot_id,
    resolve_snapshot_id,
)

StorageOptions = dict[str, Any] | None


def resolve(
    event_manifests: list[Mapping[str, Any]],
    requested_snapshot_id: str | None,
    *,
    storage_options: StorageOptions = None,
) -> dict[str, str]:
    """Which snapshot to consume: from the triggering events, the ``snapshot_id`` param, or the newest.

    Raises :class:`AlreadyConsumed` when the events announce a snapshot whose predictions already exist
    (the last step of a consumption): the subscription delivers at least once, and a re-delivered event
    must not train and register again. Manual runs always proceed: retraining on purpose.
    """
    uri = dataset_uri()
    chosen = choose_snapshot_id(event_manifests, requested_snapshot_id)
    snapshot_id = resolve_snapshot_id(uri, chosen, storage_options=storage_options)
    source = "event" if event_manifests else ("param" if requested_snapshot_id else "newest")
    if source == "event":
        predictions = predictions_file_uri(snapshot_id)
        fs, path = url_to_fs(predictions, **(storage_options or {}))
        if fs.exists(path):
            raise AlreadyConsumed(
                f"snapshot {snapshot_id} was already consumed ({predictions} exists): a re-delivered "
                "event; trigger a manual run with this snapshot_id to retrain on purpose"
            )
    return {"dataset_uri": uri, "snapshot_id": snapshot_id, "source": source}


def load(snapshot: Mapping[str, Any], *, storage_options: StorageOptions = None) -> Snapshot:
    """Read a snapshot through the contract: checksums verified, contract major checked, validated."""
    return read_snapshot(snapshot["dataset_uri"], snapshot["snapshot_id"], storage_options=storage_options)


def validate(resolved: Mapping[str, str], *, storage_options: StorageOptions = None) -> dict[str, Any]:
    """Load and verify the snapshot (raises ``ContractError`` subclasses), return its reference."""
    loaded = load(resolved, storage_options=storage_options)
    return SnapshotRef.from_manifest(loaded.manifest.to_dict(), resolved["dataset_uri"]).to_dict()


def train(
    snapshot: Mapping[str, Any],
    *,
    airflow_dag_id: str,
    airflow_run_id: str,
    storage_options: StorageOptions = None,
) -> dict[str, Any]:
    """Train, evaluate and log one MLflow run for the snapshot (reused if a retry finds it complete)."""
    ref = SnapshotRef.from_dict(snapshot)
    loaded = load(snapshot, storage_options=storage_options)
    return tracking.train_and_log(
        ref,
        loaded.frame,
        loaded.manifest.to_dict(),
        airflow_dag_id=airflow_dag_id,
        airflow_run_id=airflow_run_id,
    ).to_dict()


def register(snapshot: Mapping[str, Any], training: Mapping[str, Any]) -> dict[str, Any]:
    """Register the trained model (once per MLflow run) and return the READY version."""
    return registry.register(
        tracking.TrainingRun.from_dict(dict(training)), SnapshotRef.from_dict(snapshot)
    ).to_dict()


def decide(
    snapshot: Mapping[str, Any], version: Mapping[str, Any], *, storage_options: StorageOptions = None
) -> dict[str, Any]:
    """Champion or challenger: score the new version and the champion on the snapshot's test rows."""
    _, test = train_test_frames(load(snapshot, storage_options=storage_options).frame)
    return registry.decide(registry.ModelVersionRef.from_dict(dict(version)), test).to_dict()


def predict(
    snapshot: Mapping[str, Any],
    decision: Mapping[str, Any],
    *,
    storage_options: StorageOptions = None,
) -> dict[str, Any]:
    """Score every row of the snapshot with the champion and write the predictions file."""
    ref = SnapshotRef.from_dict(snapshot)
    frame = load(snapshot, storage_options=storage_options).frame
    tracking.client()  # points mlflow at the tracking server
    # The version the decision named, not the alias: a retry scores with the same model.
    version = str(decision["champion_version"])
    predictions = predictions_frame(
        frame,
        mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{version}"),
        model_name=MODEL_NAME,
        model_version=version,
    )
    return write_predictions(
        predictions,
        predictions_file_uri(ref.snapshot_id),
        snapshot_id=ref.snapshot_id,
        storage_options=storage_options,
    ).to_dict()


def receipt_produced(
    version: Mapping[str, Any], decision: Mapping[str, Any], predictions: Mapping[str, Any]
) -> dict[str, str]:
    """What a successful consumption produced, for its receipt: the new model version, the decision it
    received ("champion" or "challenger") and the predictions file (written by the champion, which is
    another version when the new one lost)."""
    return {
        "model_name": str(version["name"]),
        "model_version": str(version["version"]),
        "decision": str(decision["outcome"]),
        "predictions_uri": str(predictions["uri"]),
    }
