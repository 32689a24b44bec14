"""The heavy steps of the ``housing_consumer`` DAG, as plain functions (no Airflow imports).

Each step takes and returns small JSON-able dicts; data and models travel through S3 and MLflow. Each
task reads the snapshot at most once, through the contract package, which verifies its checksums on
every read: snapshots are immutable, so a retried task simply reads it again. Which snapshot to consume
is decided by the light :func:`include.housing_ml.subscription.resolve`, which imports none of this.

:func:`load` is the one place a snapshot enters: whatever contract it was published under, the rest of
the code sees the ML team's internal columns (``settings.INTERNAL_CONTRACT``, 1.x).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mlflow
import pandas as pd
import pyarrow

from housing_contracts import Contract, Manifest, convert, read_snapshot
from include.housing_ml import registry, tracking
from include.housing_ml.evaluation import evaluation_positions
from include.housing_ml.predictions import write_predictions
from include.housing_ml.settings import (
    INTERNAL_CONTRACT,
    MAX_EVALUATION_ROWS,
    MODEL_NAME,
    SEED,
    predictions_file_uri,
    predictions_uri,
)
from include.housing_ml.split import holdout_mask
from include.housing_ml.subscription import SnapshotRef, contract_of_ref

StorageOptions = dict[str, Any] | None


@dataclass(frozen=True)
class Loaded:
    """A verified snapshot, its frame in the internal columns."""

    frame: pd.DataFrame  #: in ``INTERNAL_CONTRACT``'s columns and units
    manifest: Manifest
    contract: Contract  #: the contract the snapshot was published under


def load(snapshot: Mapping[str, Any], *, storage_options: StorageOptions = None) -> Loaded:
    """Read a snapshot through the contract its reference names (checksums verified, another major
    refused, validated), then convert it to the internal columns.

    ``snapshot`` is what ``subscription.resolve`` returns or a :class:`SnapshotRef` dict: ``dataset_uri``,
    ``snapshot_id``, ``contract_name`` and ``contract_version``.
    """
    read = read_snapshot(
        snapshot["dataset_uri"],
        snapshot["snapshot_id"],
        contract=contract_of_ref(snapshot),
        storage_options=storage_options,
    )
    # Arrow keeps the memory it read into for reuse; the frame lives in NumPy's, so give it back
    pyarrow.default_memory_pool().release_unused()
    return Loaded(
        # consumed: the read frame is not needed after, and the two would otherwise coexist at the peak
        frame=convert(read.frame, read.contract, INTERNAL_CONTRACT, consume=True),  # itself for 1.x
        manifest=read.manifest,
        contract=read.contract,
    )


def train(
    resolved: Mapping[str, Any],
    *,
    airflow_dag_id: str,
    airflow_run_id: str,
    storage_options: StorageOptions = None,
) -> dict[str, dict[str, Any]]:
    """Verify the snapshot, train, evaluate, log one MLflow run and register its model.

    Raises ``ContractError`` subclasses before anything is trained when the snapshot is refused. A retry
    reuses a completed MLflow run and its registered version. Returns ``snapshot`` (the reference the
    later steps use), ``training`` (MLflow run, model URI, metrics) and ``version`` (READY).
    """
    loaded = load(resolved, storage_options=storage_options)
    manifest = loaded.manifest.to_dict()
    ref = SnapshotRef.from_manifest(manifest, resolved["dataset_uri"])
    run = tracking.train_and_log(
        ref, loaded.frame, manifest, airflow_dag_id=airflow_dag_id, airflow_run_id=airflow_run_id
    )
    version = registry.register(run, ref)
    return {"snapshot": ref.to_dict(), "training": run.to_dict(), "version": version.to_dict()}


def decide(
    snapshot: Mapping[str, Any],
    version: Mapping[str, Any],
    *,
    storage_options: StorageOptions = None,
    max_evaluation_rows: int = MAX_EVALUATION_ROWS,
) -> dict[str, Any]:
    """Champion or challenger: score the new version and the champion on the snapshot's test rows, at
    most ``max_evaluation_rows`` of them (the seeded sample ``train`` scored, the same for both)."""
    frame = load(snapshot, storage_options=storage_options).frame
    mask = holdout_mask(frame)
    # the scored held-out rows only: the training side is not copied
    test = frame.take(evaluation_positions(mask, max_evaluation_rows))
    del frame
    return registry.decide(
        registry.ModelVersionRef.from_dict(dict(version)), test, test_rows_available=int(mask.sum())
    ).to_dict()


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
    return write_predictions(
        frame,
        mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{version}"),
        predictions_file_uri(ref.snapshot_id, predictions_uri(contract_of_ref(snapshot))),
        snapshot_id=ref.snapshot_id,
        model_name=MODEL_NAME,
        model_version=version,
        storage_options=storage_options,
    ).to_dict()


def receipt_produced(
    version: Mapping[str, Any],
    decision: Mapping[str, Any],
    predictions: Mapping[str, Any],
    training: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """What a successful consumption produced, for its receipt: the new model version, the decision it
    received ("champion" or "challenger"), the predictions file (written by the champion, which is
    another version when the new one lost) and, given the ``training`` step's outcome, the rows the
    model was fitted on (``"<fitted> of <available>"``, plus the seed when it was a sample); and the test
    rows the decision scored both models on (``evaluation_rows``, the same form)."""
    produced = {
        "model_name": str(version["name"]),
        "model_version": str(version["version"]),
        "decision": str(decision["outcome"]),
        "predictions_uri": str(predictions["uri"]),
    }
    metrics = (training or {}).get("metrics", {})
    if "train_rows" in metrics:
        fitted = int(metrics["train_rows"])
        available = int(metrics.get("train_rows_available", fitted))
        produced["training_rows"] = f"{fitted} of {available}" + (
            f" (a sample drawn with seed {SEED})" if fitted < available else ""
        )
    if "test_rows" in decision:
        scored = int(decision["test_rows"])
        available = int(decision.get("test_rows_available", scored))
        produced["evaluation_rows"] = f"{scored} of {available}" + (
            f" (a sample drawn with seed {SEED})" if scored < available else ""
        )
    return produced
