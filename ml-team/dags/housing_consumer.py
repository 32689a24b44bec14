"""
### housing_consumer: train, evaluate and register a model for every new California-housing snapshot

The ML team's subscription to the data team's contract, the major named by `settings.CONTRACT`: moving
to another major is that line (the Asset, the watcher, the receipts, the dataset and the predictions all
follow it). The schedule is the contract's Asset with an `AssetWatcher`: a trigger in *this* deployment
polls the lake and creates one run per newly committed snapshot, the manifest in the triggering event. A
manual run trains on the `snapshot_id` param (default: the newest snapshot), for reproducible retraining
of any published version. An event for a snapshot already consumed (its predictions exist) skips the
run: delivery is at least once, training and registering happen once per snapshot.

The watcher subscribes this deployment as consumer `ml-team` when it starts and renews the subscription
while it runs (`HOUSING_SUBSCRIPTION_RENEW_SECONDS`, default 5 minutes): it writes
`s3://lake/_consumers/ml-team/california_housing/v<major>/subscription.json` with the lag the team
promises (6 hours; `HOUSING_MAX_LAG_SECONDS` overrides it). Every run that gets to a snapshot leaves a
receipt under `.../receipts/<snapshot_id>/` there, which the data team reads as this consumer's lag
(`housing-contract consumers`). While the subscription is live, the data team cannot retire the major
before its sunset. A consumer of a deprecated major logs a warning naming its sunset and successor on
every run.

`resolve_snapshot` → `train` → `decide` → `write_predictions`

- **resolve_snapshot**: the snapshot named by the triggering events, the param, or the newest. Light:
  it imports neither pandas, scikit-learn nor MLflow.
- **train**: reads the snapshot through `housing_contracts` (sha256 of every file, contract name and
  major version, schema, the contract's rules) and converts it to the team's internal 1.x columns, so
  models trained on any major compete on the same terms. A refused snapshot fails the run at once:
  nothing is trained or registered. Then RidgeCV on the raw features as baseline and gradient boosting
  on the raw plus derived (spatial and ratio) features, fitted on at most `HOUSING_MAX_TRAINING_ROWS`
  training rows (default 500,000; a sample drawn with seed 42 beyond it, recorded in the run and the
  receipt), evaluated on a held-out split keyed by row content, at most `HOUSING_MAX_EVALUATION_ROWS`
  of its rows (default 500,000; a sample drawn with seed 42 beyond it, recorded likewise)
  (`test_r2/rmse/mae`, `baseline_test_*`), logged to MLflow (experiment `california_housing`) with the
  snapshot as dataset input, tags, signature and plots, and registered as a version of
  `california_housing_regressor`, READY before use. A retry reuses the MLflow run if it completed and
  the version registered from it.
- **decide**: alias `champion` moves only if the new version has a lower `test_rmse` than the
  champion on the same rows (the test rows `train` scored); otherwise the new version becomes
  `challenger`. Both scores are logged, with the number of rows.
- **write_predictions**: the champion's predictions for every row of the snapshot to
  `s3://lake/california_housing_predictions/v<major>/<snapshot_id>/predictions.parquet` (an Asset), then
  the success receipt: model name and version, the decision (`champion` or `challenger`), the predictions
  file, the training and evaluation rows. A task that fails for good records a failed receipt with its
  reason instead (the `on_failure_callback`, then this deployment's alert callbacks from
  `include/housing_ml/alerts.py`). A skipped re-delivery records nothing.

Each task reads the snapshot at most once; models and data travel through MLflow and S3, tasks pass
small dicts. Storage and MLflow errors are retried with exponential backoff, everything else fails at
once. S3 credentials come from the Airflow connection `lake_s3`, the MLflow server from
`MLFLOW_TRACKING_URI` (or the connection `mlflow`). Logic lives in `include/housing_ml/`; this file only
wires it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import DAG, Asset, Param, dag, task

from housing_contracts import Contract
from housing_contracts.airflow.receipts import Receipts
from include.housing_ml import settings
from include.housing_ml.retries import default_args


def housing_consumer(contract: Contract = settings.CONTRACT, *, dag_id: str = "housing_consumer") -> DAG:
    """The consumer DAG of ``contract``'s dataset, named ``dag_id``. This file makes the ML team's (the major
    ``settings.CONTRACT`` names); a DAG file of another major's consumer calls it with that major and a
    DAG id of its own."""
    predictions = Asset(
        name=settings.predictions_asset_name(contract), uri=settings.predictions_asset_uri(contract)
    )
    # This consumer's receipts, written with its own lake connection under the subscribed major's dataset.
    receipts = Receipts(consumer=settings.CONSUMER, conn_id=settings.LAKE_CONN_ID, contract=contract)

    @dag(
        dag_id=dag_id,
        schedule=[settings.subscription_asset(contract)],
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,  # champion/challenger decisions must not interleave
        doc_md=__doc__,
        tags=settings.TAGS,
        default_args=default_args(receipts.on_failure),
        # bound to a module name instead: a DAG file importing this one (another major's consumer) gets
        # only its own DAG
        auto_register=False,
        params={
            "snapshot_id": Param(
                None,
                type=["null", "string"],
                description="manual runs: the snapshot to train on (default: the newest committed one)",
            ),
        },
    )
    def consumer():
        @task
        def resolve_snapshot(
            params: dict[str, Any] | None = None, triggering_asset_events: Any = None, ti: Any = None
        ) -> dict[str, Any]:
            """The snapshot to consume: from the triggering events, the param, or the newest."""
            from airflow.sdk.exceptions import AirflowSkipException

            from housing_contracts.airflow.asset import manifests_from_events
            from include.housing_ml.connections import lake_storage_options
            from include.housing_ml.subscription import AlreadyConsumed, resolve

            events = triggering_asset_events or {}  # empty for manual runs
            manifests = manifests_from_events(event for asset in events for event in events[asset])
            try:
                resolved = resolve(
                    manifests,
                    params.get("snapshot_id"),
                    contract=contract,
                    storage_options=lake_storage_options(),
                )
            except AlreadyConsumed as duplicate:
                raise AirflowSkipException(str(duplicate)) from None  # the whole run is skipped
            # Where a later failure's receipt finds the snapshot, also on a manual run without the param.
            ti.xcom_push(key="snapshot_id", value=resolved["snapshot_id"])
            return resolved

        @task(multiple_outputs=True)
        def train(resolved: dict[str, Any], dag_run: Any = None) -> dict[str, dict[str, Any]]:
            """Verify the snapshot (refuse it for good if it is wrong), train, log to MLflow, register."""
            from airflow.sdk.exceptions import AirflowFailException

            from housing_contracts import ContractError
            from include.housing_ml.connections import export_mlflow_tracking_uri, lake_storage_options
            from include.housing_ml.consumer import train

            export_mlflow_tracking_uri()
            try:
                return train(
                    resolved,
                    airflow_dag_id=dag_run.dag_id,
                    airflow_run_id=dag_run.run_id,
                    storage_options=lake_storage_options(),
                )
            except ContractError as err:
                raise AirflowFailException(
                    f"refusing snapshot {resolved['snapshot_id']} of {resolved['dataset_uri']}: "
                    f"{type(err).__name__}: {err}"
                ) from err

        @task
        def decide(snapshot: dict[str, Any], version: dict[str, Any]) -> dict[str, Any]:
            """Champion or challenger, by test_rmse on the same rows."""
            from include.housing_ml.connections import export_mlflow_tracking_uri, lake_storage_options
            from include.housing_ml.consumer import decide

            export_mlflow_tracking_uri()
            return decide(snapshot, version, storage_options=lake_storage_options())

        @task(outlets=[predictions])
        def write_predictions(
            snapshot: dict[str, Any],
            version: dict[str, Any],
            decision: dict[str, Any],
            training: dict[str, Any],
            outlet_events: Any = None,
            **context: Any,
        ) -> dict[str, Any]:
            """The champion's predictions for every row of the snapshot, then the success receipt."""
            from include.housing_ml.connections import export_mlflow_tracking_uri, lake_storage_options
            from include.housing_ml.consumer import predict, receipt_produced

            export_mlflow_tracking_uri()
            written = predict(snapshot, decision, storage_options=lake_storage_options())
            outlet_events[predictions].extra = written  # subscribers learn the file and model version
            receipts.success(
                context,
                snapshot_id=snapshot["snapshot_id"],
                produced=receipt_produced(version, decision, written, training),
            )
            return written

        trained = train(resolve_snapshot())
        decision = decide(trained["snapshot"], trained["version"])
        write_predictions(trained["snapshot"], trained["version"], decision, trained["training"])

    return consumer()


# bound to a name: not auto-registered (see auto_register above)
housing_consumer_dag = housing_consumer()
