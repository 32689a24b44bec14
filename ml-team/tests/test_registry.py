"""The registry: idempotent registration and the champion/challenger rule, against a real MLflow server."""

from __future__ import annotations

import importlib.metadata

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from sklearn.dummy import DummyRegressor

from housing_contracts import TARGET_COLUMN
from housing_contracts.testing import sample_frame
from include.housing_ml import registry
from include.housing_ml.evaluation import Scores
from include.housing_ml.split import train_test_frames
from include.housing_ml.subscription import SnapshotRef
from include.housing_ml.tracking import TrainingRun, experiment_id
from include.housing_ml.training import baseline_pipeline, features_of, target_of

SNAPSHOT = SnapshotRef(
    dataset_uri="s3://lake/tests/registry/california_housing/v1",
    snapshot_id="20260101T000000.000000Z-00000000",
    snapshot_uri="s3://lake/tests/registry/california_housing/v1/snapshots/20260101T000000.000000Z-00000000",
    content_fingerprint="sha256:" + "0" * 64,
    contract_name="california_housing",
    contract_version="1.0.0",
    producer_run_id="manual__test",
    row_count=3_000,
)


@pytest.fixture(scope="module")
def frames():
    """(train, test) of a contract-valid frame whose target depends on MedInc, so models differ."""
    frame = sample_frame(3_000, seed=5)
    frame[TARGET_COLUMN] = np.clip(0.3 * frame["MedInc"] + 0.2, 0.15, 5.0)
    return train_test_frames(frame)


@pytest.fixture(scope="module")
def good_model(frames):
    """RidgeCV on the informative feature: a low RMSE."""
    train, _ = frames
    return baseline_pipeline().fit(features_of(train), target_of(train))


@pytest.fixture(scope="module")
def bad_model(frames):
    """Always predicts the mean: a high RMSE."""
    train, _ = frames
    return DummyRegressor().fit(features_of(train), target_of(train))


@pytest.fixture
def log_run(mlflow_tracking):
    """``log_run(model) -> TrainingRun``: log a fitted model in a run of its own."""

    def _log(model) -> TrainingRun:
        # the team's experiment: the only one its MLflow user may write
        with mlflow.start_run(experiment_id=experiment_id(MlflowClient())) as run:
            info = mlflow.sklearn.log_model(
                model,
                name="model",
                pip_requirements=[f"scikit-learn=={importlib.metadata.version('scikit-learn')}"],
            )
        return TrainingRun(run_id=run.info.run_id, model_uri=info.model_uri, metrics={})

    return _log


def _alias(name: str, alias: str) -> str | None:
    version = registry.aliased_version(MlflowClient(), alias, name)
    return None if version is None else str(version.version)


def test_registering_a_run_twice_creates_one_version(log_run, bad_model, model_name) -> None:
    """A retried registration finds the run's version instead of creating another."""
    training = log_run(bad_model)
    first = registry.register(training, SNAPSHOT, name=model_name)
    second = registry.register(training, SNAPSHOT, name=model_name)
    assert first == second
    assert len(MlflowClient().search_model_versions(f"name = '{model_name}'")) == 1


def test_registered_version_is_ready_and_tagged(log_run, bad_model, model_name) -> None:
    """The version is READY and carries the snapshot id."""
    version = registry.register(log_run(bad_model), SNAPSHOT, name=model_name)
    stored = MlflowClient().get_model_version(model_name, version.version)
    assert (stored.status, stored.tags["snapshot_id"]) == ("READY", SNAPSHOT.snapshot_id)


def test_first_version_becomes_champion(log_run, bad_model, frames, model_name) -> None:
    """With no champion yet, the new version takes the alias."""
    version = registry.register(log_run(bad_model), SNAPSHOT, name=model_name)
    decision = registry.decide(version, frames[1])
    assert (decision.outcome, _alias(model_name, "champion")) == ("champion", version.version)


def _champion_then(log_run, champion_model, new_model, test, model_name):
    """Register and crown ``champion_model``, then register ``new_model`` and decide: (old, new, decision)."""
    old = registry.register(log_run(champion_model), SNAPSHOT, name=model_name)
    registry.decide(old, test)
    new = registry.register(log_run(new_model), SNAPSHOT, name=model_name)
    return old, new, registry.decide(new, test)


def test_better_model_moves_the_champion(log_run, good_model, bad_model, frames, model_name) -> None:
    """A new version with a lower test RMSE than the champion becomes champion."""
    old, new, decision = _champion_then(log_run, bad_model, good_model, frames[1], model_name)
    assert (decision.outcome, decision.previous_champion_version) == ("champion", old.version)
    assert _alias(model_name, "champion") == new.version


def test_worse_model_becomes_challenger_and_champion_stays(
    log_run, good_model, bad_model, frames, model_name
) -> None:
    """A new version with a higher test RMSE gets ``challenger``; ``champion`` does not move."""
    old, new, decision = _champion_then(log_run, good_model, bad_model, frames[1], model_name)
    assert decision.outcome == "challenger"
    assert (_alias(model_name, "champion"), _alias(model_name, "challenger")) == (old.version, new.version)


def test_decision_and_both_scores_are_logged_on_the_run(
    log_run, good_model, bad_model, frames, model_name
) -> None:
    """The new run carries the decision tag and both models' RMSE on the same rows."""
    _, new, decision = _champion_then(log_run, good_model, bad_model, frames[1], model_name)
    run = MlflowClient().get_run(new.run_id)
    assert run.data.tags["decision"] == "challenger"
    assert run.data.metrics["decision_new_rmse"] == pytest.approx(decision.new_scores["rmse"])
    assert run.data.metrics["decision_champion_rmse"] == pytest.approx(decision.champion_scores["rmse"])
    assert decision.champion_scores["rmse"] < decision.new_scores["rmse"]


def test_deciding_again_keeps_the_champion(log_run, good_model, frames, model_name) -> None:
    """A retried decision for the current champion leaves it champion and sets no challenger."""
    version = registry.register(log_run(good_model), SNAPSHOT, name=model_name)
    registry.decide(version, frames[1])
    again = registry.decide(version, frames[1])
    assert again.outcome == "champion"
    assert (_alias(model_name, "champion"), _alias(model_name, "challenger")) == (version.version, None)


@pytest.mark.parametrize(
    ("new_rmse", "better"), [(0.4, True), (0.5, False), (0.6, False)], ids=["lower", "tie", "higher"]
)
def test_only_a_strictly_lower_rmse_wins(new_rmse: float, better: bool) -> None:
    """The rule compares test RMSE; a tie keeps the incumbent."""
    incumbent = Scores(r2=0.8, rmse=0.5, mae=0.3, rows=100)
    assert registry.is_better(Scores(r2=0.0, rmse=new_rmse, mae=0.0, rows=100), incumbent) is better
