"""MLflow runs: one per (Airflow run, snapshot), resumable, with everything needed to audit a model.

Idempotence across task retries: a run is tagged with the Airflow dag/run ids and the snapshot id.
A retry that finds a run marked complete returns it without retraining (training is deterministic,
so the result would be the same); a run left incomplete by a crashed attempt is deleted and
trained again, so the experiment never holds two live runs for one Airflow run and snapshot.
"""

from __future__ import annotations

import importlib.metadata
import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Run, ViewType
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

from housing_contracts import TARGET_COLUMN
from include.housing_ml import plots
from include.housing_ml.evaluation import (
    evaluation_positions,
    feature_importances,
    predict,
    score,
    scores_of,
)
from include.housing_ml.settings import (
    EXPERIMENT_NAME,
    MAX_EVALUATION_ROWS,
    MAX_TRAINING_ROWS,
    MODEL_ARTIFACT_NAME,
    mlflow_tracking_uri,
)
from include.housing_ml.split import holdout_mask
from include.housing_ml.subscription import SnapshotRef
from include.housing_ml.training import features_of, fit_models, model_params, training_rows

# skops, MLflow's serializer for scikit-learn models, looks up scipy's ufuncs with getattr on every loaded
# module when it is imported. In an Airflow task each of Airflow's deprecated-import shims answers with
# a warning: ~1,100 log records, ~10 s of a task's time. Imported here once, without those warnings.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r"The `airflow\.", category=FutureWarning)
    import skops.io  # noqa: F401

# Tags that identify a run; MLflow's own tags use the "mlflow." prefix, ours are plain.
TAG_SNAPSHOT_ID = "snapshot_id"
TAG_CONTRACT_VERSION = "contract_version"
TAG_PRODUCER_RUN_ID = "producer_run_id"
TAG_CONTENT_FINGERPRINT = "content_fingerprint"
TAG_DATASET_URI = "dataset_uri"
TAG_AIRFLOW_DAG_ID = "airflow_dag_id"
TAG_AIRFLOW_RUN_ID = "airflow_run_id"
TAG_MODEL_URI = "model_uri"
#: Set last, after the model is logged: a run without it is an attempt that did not finish.
TAG_COMPLETE = "training_complete"

#: Rows the model signature is inferred from: the signature is the columns' names and types only.
SIGNATURE_ROWS = 100

#: The most test rows a plot shows (the real data's ~4,100 test rows all fit).
PLOT_POINTS = 20_000

#: MLflow stores dataset digests in at most 36 characters.
DATASET_DIGEST_LENGTH = 36
# The model unpickles include.housing_ml.features, so the package travels with the model.
_INCLUDE_DIR = Path(__file__).resolve().parents[1]
_MODEL_REQUIREMENTS = ("scikit-learn", "pandas", "numpy", "housing-contracts")
#: Types outside skops' default allow-list that the main model holds, reviewed: our own feature
#: function, and the boosted trees (skops flags them because a forged file could index out of bounds;
#: these models are only ever written by this pipeline). Stored with the model, used when loading.
SKOPS_TRUSTED_TYPES = [
    "include.housing_ml.features.add_spatial_features",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
]


@dataclass(frozen=True)
class TrainingRun:
    """Outcome of the training step: where the model is and how it scored (JSON-able)."""

    run_id: str
    model_uri: str
    metrics: dict[str, float]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingRun:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, small enough for XCom."""
        return asdict(self)


def client() -> MlflowClient:
    """A client for the deployment's tracking server (``$MLFLOW_TRACKING_URI``)."""
    uri = mlflow_tracking_uri()
    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri)


def dataset_digest(content_fingerprint: str) -> str:
    """The snapshot's content fingerprint shortened to MLflow's digest limit (hex, 144 bits)."""
    return content_fingerprint.split(":", 1)[-1][:DATASET_DIGEST_LENGTH]


def experiment_id(mlflow_client: MlflowClient) -> str:
    """Id of the ``california_housing`` experiment, created on first use."""
    experiment = mlflow_client.get_experiment_by_name(EXPERIMENT_NAME)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow.set_experiment(EXPERIMENT_NAME).experiment_id


def runs_for(
    mlflow_client: MlflowClient, snapshot_id: str, *, airflow_run_id: str | None = None
) -> list[Run]:
    """Live (not deleted) runs trained on ``snapshot_id``, optionally for one Airflow run only."""
    filters = [f"tags.{TAG_SNAPSHOT_ID} = '{snapshot_id}'"]
    if airflow_run_id is not None:
        filters.append(f"tags.{TAG_AIRFLOW_RUN_ID} = '{airflow_run_id}'")
    return mlflow_client.search_runs(
        [experiment_id(mlflow_client)], " and ".join(filters), run_view_type=ViewType.ACTIVE_ONLY
    )


def _completed(run: Run) -> TrainingRun:
    return TrainingRun(
        run_id=run.info.run_id,
        model_uri=run.data.tags[TAG_MODEL_URI],
        metrics={k: float(v) for k, v in run.data.metrics.items()},
    )


def train_and_log(
    snapshot: SnapshotRef,
    frame: pd.DataFrame,
    manifest: dict[str, Any],
    *,
    airflow_dag_id: str,
    airflow_run_id: str,
    max_training_rows: int = MAX_TRAINING_ROWS,
    max_evaluation_rows: int = MAX_EVALUATION_ROWS,
) -> TrainingRun:
    """Train both models on ``frame`` (the verified snapshot in the internal columns), evaluate and log
    one MLflow run. The models are fitted on at most ``max_training_rows`` of the training rows and
    scored on at most ``max_evaluation_rows`` of the test rows (seeded samples beyond that, see
    :func:`training_sample`), logged as params ``max_training_rows`` and ``max_evaluation_rows`` with
    metrics ``train_rows`` (fitted on), ``train_rows_available``, ``test_rows`` (scored on) and
    ``test_rows_available``."""
    mlflow_client = client()
    previous = runs_for(mlflow_client, snapshot.snapshot_id, airflow_run_id=airflow_run_id)
    for run in previous:
        if run.info.status == "FINISHED" and run.data.tags.get(TAG_COMPLETE) == "true":
            return _completed(run)
    for run in previous:  # attempts that died half-way: their artifacts are not trusted
        mlflow_client.delete_run(run.info.run_id)

    sample = training_sample(frame, max_rows=max_training_rows, max_test_rows=max_evaluation_rows)
    started = time.perf_counter()
    models = fit_models(sample.train)
    fit_seconds = time.perf_counter() - started
    test, train_rows, available, test_available = (
        sample.test,
        len(sample.train),
        sample.available,
        sample.test_available,
    )
    del sample  # the training rows are not needed any more
    # the main model's test predictions serve its scores and its plots: one pass over the test rows
    main_predictions = predict(models.main, test)
    main_scores = scores_of(test[TARGET_COLUMN].to_numpy(), main_predictions)
    baseline_scores = score(models.baseline, test)
    metrics = {
        **main_scores.as_metrics("test_"),
        **baseline_scores.as_metrics("baseline_test_"),
        "train_rows": float(train_rows),
        "train_rows_available": float(available),
        "test_rows": float(len(test)),
        "test_rows_available": float(test_available),
        "fit_seconds": fit_seconds,
    }
    tags = {
        TAG_SNAPSHOT_ID: snapshot.snapshot_id,
        TAG_CONTRACT_VERSION: snapshot.contract_version,
        TAG_PRODUCER_RUN_ID: snapshot.producer_run_id,
        TAG_CONTENT_FINGERPRINT: snapshot.content_fingerprint,
        TAG_DATASET_URI: snapshot.dataset_uri,
        TAG_AIRFLOW_DAG_ID: airflow_dag_id,
        TAG_AIRFLOW_RUN_ID: airflow_run_id,
    }
    with mlflow.start_run(
        experiment_id=experiment_id(mlflow_client), run_name=f"snapshot-{snapshot.snapshot_id}", tags=tags
    ) as run:
        mlflow.log_params(
            {
                **model_params(),
                "max_training_rows": max_training_rows,
                "max_evaluation_rows": max_evaluation_rows,
            }
        )
        mlflow.log_metrics(metrics)
        mlflow.log_input(
            mlflow.data.from_pandas(
                frame,
                source=snapshot.snapshot_uri,
                digest=dataset_digest(snapshot.content_fingerprint),
                name=f"{snapshot.contract.asset_name}@{snapshot.snapshot_id}",
                targets=TARGET_COLUMN,
            ),
            context="training",
        )
        mlflow.log_text(json.dumps(manifest, indent=2, sort_keys=True), "snapshot/_manifest.json")
        _log_plots(models.main, test, main_predictions)
        model_info = mlflow.sklearn.log_model(
            models.main,
            name=MODEL_ARTIFACT_NAME,
            # The signature is the contract's feature columns (float64), as the snapshot holds them.
            signature=infer_signature(
                features_of(test.head(SIGNATURE_ROWS)), predict(models.main, test.head(SIGNATURE_ROWS))
            ),
            code_paths=[str(_INCLUDE_DIR)],
            skops_trusted_types=SKOPS_TRUSTED_TYPES,
            # Pinned explicitly: inferring requirements would load the model in a subprocess.
            pip_requirements=[f"{p}=={importlib.metadata.version(p)}" for p in _MODEL_REQUIREMENTS],
        )
        mlflow.set_tags({TAG_MODEL_URI: model_info.model_uri, TAG_COMPLETE: "true"})
    return TrainingRun(run_id=run.info.run_id, model_uri=model_info.model_uri, metrics=metrics)


@dataclass(frozen=True)
class TrainingSample:
    """The rows one training run fits on and scores on."""

    train: pd.DataFrame  #: the fitted rows: every training row, or a seeded sample of them
    test: pd.DataFrame  #: the scored held-out rows (``split.holdout_mask``): all, or a seeded sample
    available: int  #: training rows the snapshot has
    test_available: int  #: held-out rows the snapshot has


def training_sample(
    frame: pd.DataFrame, *, max_rows: int = MAX_TRAINING_ROWS, max_test_rows: int = MAX_EVALUATION_ROWS
) -> TrainingSample:
    """Split ``frame`` by row content (``split.holdout_mask``) and keep at most ``max_rows`` of its
    training rows (``training.training_rows``: all of them, or a sample drawn with ``SEED``) and at most
    ``max_test_rows`` of its test rows (``evaluation.evaluation_positions``, the rows ``decide`` scores)."""
    mask = holdout_mask(frame)
    if mask.all() or not mask.any():
        raise ValueError(
            f"split of {len(frame)} rows left train={int((~mask).sum())} test={int(mask.sum())} rows: "
            "expected both non-empty (the contract requires at least 1,000 rows)"
        )
    train_positions = np.flatnonzero(~mask)
    available = len(train_positions)
    train_positions = train_positions[training_rows(available, max_rows)]
    return TrainingSample(
        train=frame.take(train_positions),
        test=frame.take(evaluation_positions(mask, max_test_rows)),
        available=available,
        test_available=int(mask.sum()),
    )


def _log_plots(model: Any, test: pd.DataFrame, predicted: np.ndarray) -> None:
    """The plots of ``model``'s ``predicted`` values for the ``test`` rows, drawn from at most
    PLOT_POINTS of them (a seeded sample): a scatter of millions of points says no more."""
    shown = training_rows(len(test), PLOT_POINTS)
    test, predicted = test.iloc[shown], predicted[shown]
    actual = test[TARGET_COLUMN].to_numpy()
    figures = {
        "plots/predicted_vs_actual.png": plots.predicted_vs_actual(actual, predicted),
        "plots/residual_map.png": plots.residual_map(
            test["Longitude"].to_numpy(), test["Latitude"].to_numpy(), actual - predicted
        ),
        "plots/feature_importance.png": plots.feature_importance(feature_importances(model, test)),
    }
    for artifact_file, figure in figures.items():
        mlflow.log_figure(figure, artifact_file)
        plots.close(figure)
