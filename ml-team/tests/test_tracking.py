"""MLflow integration: one complete, auditable run per (Airflow run, snapshot), against a real server."""

from __future__ import annotations

import subprocess
import sys
import uuid

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from housing_contracts import TARGET_COLUMN, V2
from housing_testkit import private_uri
from include.housing_ml import consumer, registry, tracking
from include.housing_ml.evaluation import evaluation_positions, predict, scores_of
from include.housing_ml.settings import EXPERIMENT_NAME
from include.housing_ml.split import holdout_mask
from include.housing_ml.subscription import SnapshotRef
from include.housing_ml.training import fit_models


@pytest.fixture(scope="module")
def snapshot(ml_team_s3, publish_sample):
    """(SnapshotRef, snapshot loaded by the consumer: internal columns) of a v2 test snapshot, read as
    ml-team, shared by this module's tests."""
    uri = private_uri(V2.uri)
    ref = SnapshotRef.from_manifest(publish_sample(uri, contract=V2).to_dict(), uri)
    return ref, consumer.load(ref.to_dict(), storage_options=ml_team_s3.storage_options)


@pytest.fixture(scope="module")
def logged(snapshot, mlflow_tracking):
    """A training run logged for the snapshot, and the client to inspect it."""
    ref, loaded = snapshot
    run_id = f"manual__{uuid.uuid4().hex}"
    result = tracking.train_and_log(
        ref, loaded.frame, loaded.manifest.to_dict(), airflow_dag_id="housing_consumer", airflow_run_id=run_id
    )
    client = MlflowClient()
    return result, client.get_run(result.run_id), client, run_id


def test_run_is_in_the_experiment_with_the_lineage_tags(logged, snapshot) -> None:
    """The run lives in california_housing and is tagged with snapshot, contract and producer run."""
    _, run, client, _ = logged
    ref, _ = snapshot
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT_NAME
    tags = run.data.tags
    assert (tags["snapshot_id"], tags["contract_version"], tags["producer_run_id"]) == (
        ref.snapshot_id,
        V2.version,
        "manual__test",
    )


def test_run_holds_the_test_and_baseline_metrics(logged) -> None:
    """test_r2/rmse/mae and baseline_test_r2/rmse/mae are logged."""
    result, run, _, _ = logged
    expected = {f"{p}test_{m}" for p in ("", "baseline_") for m in ("r2", "rmse", "mae")}
    assert expected <= set(run.data.metrics)
    assert run.data.metrics["test_rmse"] == pytest.approx(result.metrics["test_rmse"])


def test_snapshot_is_the_dataset_input(logged, snapshot) -> None:
    """The dataset input's source is the snapshot URI and its digest the content fingerprint."""
    _, run, _, _ = logged
    ref, _ = snapshot
    (dataset_input,) = run.inputs.dataset_inputs
    assert dataset_input.dataset.source == f'{{"uri": "{ref.snapshot_uri}"}}'
    assert dataset_input.dataset.name == f"california_housing_v2@{ref.snapshot_id}"
    assert dataset_input.dataset.digest == tracking.dataset_digest(ref.content_fingerprint)
    assert ref.content_fingerprint.removeprefix("sha256:").startswith(dataset_input.dataset.digest)


def test_plots_and_manifest_are_artifacts(logged) -> None:
    """The three plots and the snapshot's manifest are stored with the run."""
    result, _, client, _ = logged
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert plots == {
        "plots/predicted_vs_actual.png",
        "plots/residual_map.png",
        "plots/feature_importance.png",
    }
    assert [a.path for a in client.list_artifacts(result.run_id, "snapshot")] == ["snapshot/_manifest.json"]


def test_model_signature_is_the_contract_features(logged) -> None:
    """The logged model's input signature is the contract's feature columns as doubles."""
    from housing_contracts import FEATURE_COLUMNS

    result, _, _, _ = logged
    schema = mlflow.models.get_model_info(result.model_uri).signature.inputs
    assert [(c.name, c.type.name) for c in schema.inputs] == [(c, "double") for c in FEATURE_COLUMNS]


def test_logged_model_loads_and_predicts(logged, snapshot) -> None:
    """The model loads back from MLflow and predicts one finite value per row."""
    import numpy as np

    result, _, _, _ = logged
    _, loaded = snapshot
    predictions = mlflow.pyfunc.load_model(result.model_uri).predict(loaded.frame.drop(columns=TARGET_COLUMN))
    assert len(predictions) == len(loaded.frame) and np.isfinite(predictions).all()


def test_a_retry_reuses_the_completed_run(logged, snapshot) -> None:
    """Training again for the same Airflow run returns the same MLflow run, not a second one."""
    result, _, client, run_id = logged
    ref, loaded = snapshot
    again = tracking.train_and_log(
        ref, loaded.frame, loaded.manifest.to_dict(), airflow_dag_id="housing_consumer", airflow_run_id=run_id
    )
    assert again.run_id == result.run_id
    assert len(tracking.runs_for(client, ref.snapshot_id, airflow_run_id=run_id)) == 1


def test_a_retry_replaces_an_incomplete_run(snapshot, mlflow_tracking) -> None:
    """A run left without the completion tag (a crashed attempt) is deleted and trained again."""
    ref, loaded = snapshot
    run_id = f"manual__{uuid.uuid4().hex}"
    client = MlflowClient()
    with mlflow.start_run(
        experiment_id=tracking.experiment_id(client),
        tags={"snapshot_id": ref.snapshot_id, "airflow_run_id": run_id},
    ) as crashed:
        pass
    result = tracking.train_and_log(
        ref, loaded.frame, loaded.manifest.to_dict(), airflow_dag_id="housing_consumer", airflow_run_id=run_id
    )
    live = tracking.runs_for(client, ref.snapshot_id, airflow_run_id=run_id)
    assert [r.info.run_id for r in live] == [result.run_id] != [crashed.info.run_id]
    assert client.get_run(crashed.info.run_id).info.lifecycle_stage == "deleted"


def test_saving_and_loading_a_model_floods_no_airflow_warnings(tmp_path) -> None:
    """In a process that has Airflow's deprecated-import shims loaded (every task process has), saving
    and loading a model through MLflow (skops) after importing tracking emits none of the ~1,100 shim
    warnings that skops' ufunc lookup provokes."""
    code = (
        "import sys, warnings\n"
        "import airflow.utils.timezone  # a deprecated-import shim, loaded in every task process\n"
        "warnings.simplefilter('always')\n"
        "import include.housing_ml.tracking\n"
        "import mlflow.sklearn\n"
        "from sklearn.linear_model import LinearRegression\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])\n"
        "    mlflow.sklearn.save_model(model, sys.argv[1], serialization_format='skops')\n"
        "    mlflow.sklearn.load_model(sys.argv[1])\n"
        "print(sum('The `airflow.' in str(w.message) for w in caught))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "model")], capture_output=True, text=True, check=True
    )
    assert done.stdout.split()[-1] == "0", done.stdout[-500:]


def test_a_training_cap_is_honoured_and_recorded(snapshot, mlflow_tracking) -> None:
    """With max_training_rows below the snapshot's training rows, the models fit exactly that many (a
    seeded sample), every test row is still scored, and the run records the cap, the rows fitted on and
    the rows available; the receipt says the same."""
    ref, loaded = snapshot
    sample = tracking.training_sample(loaded.frame, max_rows=500)
    assert len(sample.train) == 500 and sample.available > 500
    assert sample.train.index.equals(tracking.training_sample(loaded.frame, max_rows=500).train.index)
    result = tracking.train_and_log(
        ref,
        loaded.frame,
        loaded.manifest.to_dict(),
        airflow_dag_id="housing_consumer",
        airflow_run_id=f"manual__{uuid.uuid4().hex}",
        max_training_rows=500,
    )
    run = MlflowClient().get_run(result.run_id)
    assert run.data.params["max_training_rows"] == "500"
    assert (run.data.metrics["train_rows"], run.data.metrics["train_rows_available"]) == (
        500,
        sample.available,
    )
    assert run.data.metrics["test_rows"] == len(sample.test) == len(loaded.frame) - sample.available
    produced = consumer.receipt_produced(
        {"name": "m", "version": "1"}, {"outcome": "champion"}, {"uri": "u"}, result.to_dict()
    )
    assert produced["training_rows"] == f"500 of {sample.available} (a sample drawn with seed 42)"


def test_an_evaluation_cap_is_honoured_and_recorded(
    snapshot, mlflow_tracking, storage_options, model_name
) -> None:
    """With max_evaluation_rows below the snapshot's test rows, ``train`` scores exactly that many (a
    seeded sample) and records the cap and both counts; ``decide`` scores the new version and the
    champion on those same rows, and the decision, its run and the receipt record the counts."""
    ref, loaded = snapshot
    mask = holdout_mask(loaded.frame)
    rows = evaluation_positions(mask, 300)
    assert len(rows) == 300 and mask.sum() > 300 and mask[rows].all()
    assert (rows == evaluation_positions(mask, 300)).all() and (np.diff(rows) > 0).all()
    sample = tracking.training_sample(loaded.frame, max_test_rows=300)
    assert (sample.test_available, list(sample.test.index)) == (mask.sum(), list(loaded.frame.index[rows]))

    def train_and_register():
        trained = tracking.train_and_log(
            ref,
            loaded.frame,
            loaded.manifest.to_dict(),
            airflow_dag_id="housing_consumer",
            airflow_run_id=f"manual__{uuid.uuid4().hex}",
            max_evaluation_rows=300,
        )
        return trained, registry.register(trained, ref, name=model_name)

    first, first_version = train_and_register()
    run = MlflowClient().get_run(first.run_id)
    assert run.data.params["max_evaluation_rows"] == "300"
    assert (run.data.metrics["test_rows"], run.data.metrics["test_rows_available"]) == (300, mask.sum())
    # the logged scores are those of the sampled rows
    main = fit_models(tracking.training_sample(loaded.frame).train).main
    sampled = loaded.frame.take(rows)
    expected = scores_of(sampled[TARGET_COLUMN].to_numpy(), predict(main, sampled))
    assert run.data.metrics["test_rmse"] == pytest.approx(expected.rmse)

    decide = {"storage_options": storage_options, "max_evaluation_rows": 300}
    assert consumer.decide(ref.to_dict(), first_version.to_dict(), **decide)["outcome"] == "champion"
    # the same snapshot trained again gives the same model: on the same rows it scores exactly as the
    # champion, so it does not win (strictly lower RMSE); and decide scored the rows train scored
    second, second_version = train_and_register()
    decision = consumer.decide(ref.to_dict(), second_version.to_dict(), **decide)
    assert decision["outcome"] == "challenger"
    assert decision["new_scores"] == decision["champion_scores"]
    assert decision["new_scores"]["rmse"] == pytest.approx(second.metrics["test_rmse"])
    assert (decision["test_rows"], decision["test_rows_available"]) == (300, mask.sum())
    decided = MlflowClient().get_run(second.run_id).data.metrics
    assert (decided["decision_test_rows"], decided["decision_test_rows_available"]) == (300, mask.sum())
    produced = consumer.receipt_produced(second_version.to_dict(), decision, {"uri": "u"}, second.to_dict())
    assert produced["evaluation_rows"] == f"300 of {mask.sum()} (a sample drawn with seed 42)"
