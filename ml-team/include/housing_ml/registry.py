"""The model registry: idempotent registration and the champion/challenger decision.

A version is registered once per training run (a retry finds it by run id) and aliases are set only
once it is READY, so a failure never leaves a half-registered version behind an alias. The
``champion`` alias moves only when the new version beats the champion on the same held-out rows
(lower ``test_rmse``); otherwise the new version becomes the ``challenger``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from include.housing_ml.evaluation import Scores, score
from include.housing_ml.settings import CHALLENGER_ALIAS, CHAMPION_ALIAS, DECISION_METRIC, MODEL_NAME
from include.housing_ml.subscription import SnapshotRef
from include.housing_ml.tracking import TAG_SNAPSHOT_ID, TrainingRun, client

_READY, _FAILED = "READY", "FAILED_REGISTRATION"


@dataclass(frozen=True)
class ModelVersionRef:
    """A READY registered model version (JSON-able)."""

    name: str
    version: str
    run_id: str

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``: loads exactly this version."""
        return f"models:/{self.name}/{self.version}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelVersionRef:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, small enough for XCom."""
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    """Outcome of comparing a new version with the champion on the same test rows (JSON-able)."""

    outcome: str  #: "champion" or "challenger": the alias the new version received
    reason: str
    version: str  #: the new version
    champion_version: str  #: the champion after the decision
    previous_champion_version: str | None
    metric: str
    new_scores: dict[str, float] = field(default_factory=dict)
    champion_scores: dict[str, float] | None = None
    test_rows: int = 0  #: the test rows both models were scored on
    test_rows_available: int = 0  #: the snapshot's test rows (more when a seeded sample was scored)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, small enough for XCom."""
        return asdict(self)


def register(
    training: TrainingRun, snapshot: SnapshotRef, *, name: str = MODEL_NAME, timeout: float = 300.0
) -> ModelVersionRef:
    """Register the run's model as a version of ``name`` (once per run) and wait until it is READY."""
    mlflow_client = client()
    existing = mlflow_client.search_model_versions(f"name = '{name}' and run_id = '{training.run_id}'")
    for version in existing:
        if version.status == _FAILED:  # never leave a broken version lying around
            mlflow_client.delete_model_version(name, version.version)
    live = sorted((v for v in existing if v.status != _FAILED), key=lambda v: int(v.version))
    if live:
        version = live[0]
    else:
        version = mlflow.register_model(
            training.model_uri,
            name,
            await_registration_for=0,  # we wait below, and fail loudly instead of warning
            tags={TAG_SNAPSHOT_ID: snapshot.snapshot_id},
        )
    ready = _await_ready(mlflow_client, version, timeout)
    return ModelVersionRef(name=name, version=str(ready.version), run_id=training.run_id)


def _await_ready(mlflow_client: MlflowClient, version: ModelVersion, timeout: float) -> ModelVersion:
    deadline = time.monotonic() + timeout
    while version.status != _READY:
        if version.status == _FAILED:
            mlflow_client.delete_model_version(version.name, version.version)
            # An MlflowException, so that the task's retry policy registers it again.
            raise MlflowException(
                f"model version {version.name}/{version.version} failed registration "
                f"({version.status_message}); deleted it, expected status {_READY}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"model version {version.name}/{version.version} still {version.status} after "
                f"{timeout:.0f} s: expected {_READY}"
            )
        time.sleep(1.0)
        version = mlflow_client.get_model_version(version.name, version.version)
    return version


def aliased_version(mlflow_client: MlflowClient, alias: str, name: str = MODEL_NAME) -> ModelVersion | None:
    """The version ``alias`` points to, or None if the alias (or the model) does not exist yet."""
    try:
        model = mlflow_client.get_registered_model(name)
    except MlflowException as err:
        if err.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    version = model.aliases.get(alias)
    return None if version is None else mlflow_client.get_model_version(name, str(version))


def is_better(new: Scores, incumbent: Scores) -> bool:
    """The rule: the new model wins only with a strictly lower RMSE on the same rows."""
    # Not MLflow's MetricThreshold: its min_absolute_change must be > 0, so it cannot say "strictly lower".
    return new.rmse < incumbent.rmse


def decide(new: ModelVersionRef, test: pd.DataFrame, *, test_rows_available: int | None = None) -> Decision:
    """Score ``new`` and the current champion on the same rows ``test``, then move ``champion`` or set
    ``challenger``. ``test_rows_available`` is how many test rows ``test`` was sampled from (default:
    ``test`` is all of them); the decision records both counts."""
    mlflow_client = client()
    champion = aliased_version(mlflow_client, CHAMPION_ALIAS, new.name)
    new_scores = score(mlflow.pyfunc.load_model(new.uri), test)
    champion_scores: Scores | None = None
    if champion is None:
        outcome, reason = CHAMPION_ALIAS, "no champion yet"
    elif str(champion.version) == new.version:  # a retry after the alias was already moved
        outcome, reason, champion_scores = CHAMPION_ALIAS, "already the champion", new_scores
    else:
        champion_scores = score(mlflow.pyfunc.load_model(f"models:/{new.name}/{champion.version}"), test)
        if is_better(new_scores, champion_scores):
            outcome = CHAMPION_ALIAS
            reason = f"{DECISION_METRIC} {new_scores.rmse:.4f} < champion's {champion_scores.rmse:.4f}"
        else:
            outcome = CHALLENGER_ALIAS
            reason = f"{DECISION_METRIC} {new_scores.rmse:.4f} >= champion's {champion_scores.rmse:.4f}"
    mlflow_client.set_registered_model_alias(new.name, outcome, new.version)
    decision = Decision(
        outcome=outcome,
        reason=reason,
        version=new.version,
        champion_version=new.version if outcome == CHAMPION_ALIAS else str(champion.version),
        previous_champion_version=None if champion is None else str(champion.version),
        metric=DECISION_METRIC,
        new_scores=new_scores.as_metrics(""),
        champion_scores=None if champion_scores is None else champion_scores.as_metrics(""),
        test_rows=len(test),
        test_rows_available=len(test) if test_rows_available is None else test_rows_available,
    )
    _record(mlflow_client, new, decision)
    return decision


def _record(mlflow_client: MlflowClient, new: ModelVersionRef, decision: Decision) -> None:
    """Write the decision and both scores on the new version's run and on the version itself."""
    tags = {
        "decision": decision.outcome,
        "decision_reason": decision.reason,
        "decision_metric": decision.metric,
        "decision_previous_champion_version": decision.previous_champion_version or "",
    }
    for key, value in tags.items():
        mlflow_client.set_tag(new.run_id, key, value)
        mlflow_client.set_model_version_tag(new.name, new.version, key, value)
    metrics = {f"decision_new_{k}": v for k, v in decision.new_scores.items()}
    metrics |= {
        "decision_test_rows": float(decision.test_rows),
        "decision_test_rows_available": float(decision.test_rows_available),
    }
    if decision.champion_scores is not None:
        metrics |= {f"decision_champion_{k}": v for k, v in decision.champion_scores.items()}
    for key, value in metrics.items():
        mlflow_client.log_metric(new.run_id, key, value)
