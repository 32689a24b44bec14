"""The ML team's facts, each defined once: connection, MLflow names, aliases, predictions location.

Standard library (plus the stdlib-only contract constants) so that the DAG file can import it at parse
time. ``CONTRACT`` names the contract the team subscribes to (migrating is that one line); what depends on
it is a function of the contract.
"""

from __future__ import annotations

import math
import os
import re
from datetime import timedelta
from typing import TYPE_CHECKING

from housing_contracts import CONTRACT_NAME, V1, V2, Contract
from housing_contracts.contract.versions import LAKE_ROOT

if TYPE_CHECKING:
    from airflow.sdk import Asset

#: Airflow connection (type ``aws``) through which the ML team reaches the lake.
LAKE_CONN_ID = "lake_s3"

#: This consumer's name in the lake: its subscription and receipts live under
#: ``s3://lake/_consumers/ml-team/``, the one prefix its S3 identity (also ``ml-team``) may write.
CONSUMER = "ml-team"
#: The lag this consumer commits to: a committed snapshot is consumed (successfully) within this time.
DEFAULT_MAX_LAG = timedelta(hours=6)
#: Environment variable overriding the promise, in seconds (tests, operators). It is read when the DAG file
#: is parsed, because the promise travels with the watcher's trigger: set it for the DAG processor.
MAX_LAG_ENV = "HOUSING_MAX_LAG_SECONDS"
#: Environment variable setting how often the running watcher renews the subscription, in seconds (unset:
#: the contract package's default, 5 minutes). Read at parse time like the lag; tests shorten the lease.
RENEW_EVERY_ENV = "HOUSING_SUBSCRIPTION_RENEW_SECONDS"

#: The contract the ML team subscribes to: migrating to another major is this line.
CONTRACT = V2

#: The columns the ML code speaks, whatever contract it subscribes to: features, split and training are
#: written against 1.x, and models trained before and after a migration stay comparable for the champion
#: rule. ``consumer.load`` converts every snapshot into them, the one place a snapshot enters.
INTERNAL_CONTRACT = V1

#: Environment variable holding the MLflow tracking URI of the deployment (wins over the connection).
MLFLOW_TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
#: Airflow connection (type ``http``) naming the MLflow server when the environment does not.
MLFLOW_CONN_ID = "mlflow"
EXPERIMENT_NAME = CONTRACT_NAME
MODEL_NAME = f"{CONTRACT_NAME}_regressor"
#: Artifact path of the model inside its MLflow run.
MODEL_ARTIFACT_NAME = "model"
CHAMPION_ALIAS = "champion"
CHALLENGER_ALIAS = "challenger"
#: The metric that decides champion vs challenger (lower is better).
DECISION_METRIC = "test_rmse"

OWNER = "ml-team"
TAGS = ["ml-team", "consumer", CONTRACT_NAME]
# Storage and MLflow errors are transient: 3 retries after 20 s, 40 s, 80 s (capped at 5 min).
RETRIES = 3
RETRY_DELAY = timedelta(seconds=20)
RETRY_EXPONENTIAL_BACKOFF = 2.0
MAX_RETRY_DELAY = timedelta(minutes=5)

#: Seed of every random choice (split salt, model, importance sampling): results are reproducible.
SEED = 42
#: OpenMP threads for fitting and scoring. Measured on 2 cores under load (~5): gradient boosting with the
#: default (all cores) took 68 s where 1 thread took 9 s, because spinning OpenMP threads fight the other
#: processes of the worker; on an idle machine 2 threads are less than 2x faster.
MODEL_THREADS = 1
#: Share of rows held out for evaluation.
TEST_FRACTION = 0.2
#: Environment variable overriding MAX_TRAINING_ROWS (a positive integer), read when the task starts.
MAX_TRAINING_ROWS_ENV = "HOUSING_MAX_TRAINING_ROWS"
#: The most training rows the models are fitted on. A larger training side is sampled down to this
#: many rows, without replacement, with SEED (``training.training_rows``); every row is still
#: predicted. Fitting time and memory then stop growing with the snapshot (see the
#: ML README); the real data (~16,500 training rows) is far below the cap.
DEFAULT_MAX_TRAINING_ROWS = 500_000
#: Environment variable overriding MAX_EVALUATION_ROWS (a positive integer), read when the task starts.
MAX_EVALUATION_ROWS_ENV = "HOUSING_MAX_EVALUATION_ROWS"
#: The most test rows a model is scored on: the test metrics of ``train`` and both scores of ``decide``.
#: A larger test side is sampled down to this many rows, without replacement, with SEED
#: (``evaluation.evaluation_sample``): the same rows for the new model and the champion, and the same
#: rows ``train`` scored. Scoring time then stops growing with the snapshot (see the ML README); the
#: real data (~4,100 test rows) is far below the cap.
DEFAULT_MAX_EVALUATION_ROWS = 500_000
#: Rows scored at once: features exist for one chunk at a time (26 float64 columns: 42 MB).
PREDICT_CHUNK_ROWS = 200_000

#: Environment variable that points tasks at another predictions location (tests, benchmarks). It names one
#: major's location, ``<prefix>/v<major>``; the other majors are its siblings (as with the dataset's).
PREDICTIONS_URI_ENV = "HOUSING_PREDICTIONS_URI"
PREDICTIONS_FILE_NAME = "predictions.parquet"
_MAJOR_SUFFIX = re.compile(r"/v\d+/?$")


def _seconds_from(name: str, value: str | None, example: str) -> timedelta | None:
    """``value`` (a positive number of seconds, as environment variable ``name`` holds it), None if unset."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{name}={value!r}: expected a positive number of seconds ({example}), or unset")
    return timedelta(seconds=seconds)


def max_lag_from(value: str | None) -> timedelta:
    """The promised lag: ``value`` (seconds, as ``$HOUSING_MAX_LAG_SECONDS`` holds it) or the default."""
    example = f"e.g. 21600 for 6 hours; unset: the default of {DEFAULT_MAX_LAG.total_seconds():.0f}"
    return _seconds_from(MAX_LAG_ENV, value, example) or DEFAULT_MAX_LAG


def renew_every_from(value: str | None) -> timedelta | None:
    """How often the watcher renews the subscription: ``value`` (seconds, as
    ``$HOUSING_SUBSCRIPTION_RENEW_SECONDS`` holds it), or None for the contract package's default."""
    return _seconds_from(RENEW_EVERY_ENV, value, "e.g. 300 for 5 minutes; unset: the contract's default")


def _rows_from(name: str, value: str | None, default: int) -> int:
    """A row cap: ``value`` (a positive whole number, as environment variable ``name`` holds it) or
    ``default`` if unset."""
    if value is None or not value.strip():
        return default
    try:
        rows = int(value.replace("_", ""))
    except ValueError:
        rows = 0
    if rows < 1:
        raise ValueError(
            f"{name}={value!r}: expected a positive whole number of rows, e.g. 1000000, "
            f"or unset for the default of {default}"
        )
    return rows


def max_training_rows_from(value: str | None) -> int:
    """The training-row cap: ``value`` (as ``$HOUSING_MAX_TRAINING_ROWS`` holds it) or the default."""
    return _rows_from(MAX_TRAINING_ROWS_ENV, value, DEFAULT_MAX_TRAINING_ROWS)


def max_evaluation_rows_from(value: str | None) -> int:
    """The evaluation-row cap: ``value`` (as ``$HOUSING_MAX_EVALUATION_ROWS`` holds it) or the default."""
    return _rows_from(MAX_EVALUATION_ROWS_ENV, value, DEFAULT_MAX_EVALUATION_ROWS)


MAX_LAG = max_lag_from(os.environ.get(MAX_LAG_ENV))
MAX_TRAINING_ROWS = max_training_rows_from(os.environ.get(MAX_TRAINING_ROWS_ENV))
MAX_EVALUATION_ROWS = max_evaluation_rows_from(os.environ.get(MAX_EVALUATION_ROWS_ENV))
RENEW_EVERY = renew_every_from(os.environ.get(RENEW_EVERY_ENV))

#: When ``housing_freshness`` checks the producer's freshness promise (cron, UTC): every 30 minutes, so a
#: broken promise is seen at most half an hour late.
FRESHNESS_CHECK_SCHEDULE = "*/30 * * * *"


# The predictions live next to the dataset in the same lake, versioned by the contract's major: a v1 and a
# v2 consumer in one deployment write (and skip re-deliveries by) predictions of their own.
def subscription_asset(contract: Contract = CONTRACT) -> Asset:
    """The ML team's subscription: ``contract``'s Asset with the watcher that fires on each committed
    snapshot and writes this consumer's subscription (its lag promise, renewed while the watcher runs).
    What ``housing_consumer`` is scheduled on; the latency bench's subscriber uses the same."""
    from housing_contracts.airflow.asset import dataset_asset  # Airflow: only where a DAG is built

    return dataset_asset(
        contract,
        watch=True,
        conn_id=LAKE_CONN_ID,
        consumer=CONSUMER,
        max_lag=MAX_LAG,
        renew_every=RENEW_EVERY,
    )


def predictions_asset_name(contract: Contract) -> str:
    """``california_housing_predictions_v<major>``: the Asset of the predictions made from ``contract``."""
    return f"{contract.name}_predictions_v{contract.major}"


def predictions_asset_uri(contract: Contract) -> str:
    """``s3://lake/california_housing_predictions/v<major>``: the predictions made from ``contract``."""
    return f"{LAKE_ROOT}/{contract.name}_predictions/v{contract.major}"


def predictions_uri(contract: Contract) -> str:
    """The predictions root tasks write to for ``contract``: the ``v<major>`` sibling of
    ``$HOUSING_PREDICTIONS_URI`` if set, else :func:`predictions_asset_uri`."""
    moved = os.environ.get(PREDICTIONS_URI_ENV)
    if not moved:
        return predictions_asset_uri(contract)
    if _MAJOR_SUFFIX.search(moved) is None:
        raise ValueError(
            f"${PREDICTIONS_URI_ENV}={moved!r}: expected a predictions location ending in /v<major>"
        )
    return _MAJOR_SUFFIX.sub("", moved.rstrip("/")) + f"/v{contract.major}"


def predictions_file_uri(snapshot_id: str, root: str) -> str:
    """Where the batch predictions for one snapshot are written under the predictions ``root``."""
    return f"{root.rstrip('/')}/{snapshot_id}/{PREDICTIONS_FILE_NAME}"


def mlflow_tracking_uri() -> str:
    """The deployment's MLflow tracking URI; raises if the environment does not set it."""
    uri = os.environ.get(MLFLOW_TRACKING_URI_ENV)
    if not uri:
        raise RuntimeError(
            f"{MLFLOW_TRACKING_URI_ENV} is not set: expected the MLflow tracking server URI, "
            "e.g. http://127.0.0.1:5000"
        )
    return uri
