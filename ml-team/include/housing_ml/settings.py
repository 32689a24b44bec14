"""The ML team's facts, each defined once: connection, MLflow names, aliases, predictions location.

Standard library (plus the stdlib-only contract constants) so that the DAG file can import it at parse
time.
"""

from __future__ import annotations

import math
import os
from datetime import timedelta

from housing_contracts import CONTRACT_MAJOR, CONTRACT_NAME, DATASET_URI

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

# The predictions live next to the dataset in the same lake, versioned by the contract's major.
_LAKE_ROOT = DATASET_URI.removesuffix(f"/{CONTRACT_NAME}/v{CONTRACT_MAJOR}")
PREDICTIONS_ASSET_NAME = f"{CONTRACT_NAME}_predictions_v{CONTRACT_MAJOR}"
PREDICTIONS_URI = f"{_LAKE_ROOT}/{CONTRACT_NAME}_predictions/v{CONTRACT_MAJOR}"
#: Environment variable that points tasks at another predictions location (tests, benchmarks).
PREDICTIONS_URI_ENV = "HOUSING_PREDICTIONS_URI"
PREDICTIONS_FILE_NAME = "predictions.parquet"


def max_lag_from(value: str | None) -> timedelta:
    """The promised lag: ``value`` (seconds, as ``$HOUSING_MAX_LAG_SECONDS`` holds it) or the default."""
    if value is None or not value.strip():
        return DEFAULT_MAX_LAG
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(
            f"{MAX_LAG_ENV}={value!r}: expected a positive number of seconds (e.g. 21600 for 6 hours), "
            f"or unset for the default of {DEFAULT_MAX_LAG.total_seconds():.0f}"
        )
    return timedelta(seconds=seconds)


MAX_LAG = max_lag_from(os.environ.get(MAX_LAG_ENV))

#: When ``housing_freshness`` checks the producer's freshness promise (cron, UTC): every 30 minutes, so a
#: broken promise is seen at most half an hour late.
FRESHNESS_CHECK_SCHEDULE = "*/30 * * * *"


def predictions_uri() -> str:
    """The predictions root tasks write to: ``$HOUSING_PREDICTIONS_URI`` if set, else PREDICTIONS_URI."""
    return (os.environ.get(PREDICTIONS_URI_ENV) or PREDICTIONS_URI).rstrip("/")


def predictions_file_uri(snapshot_id: str, root: str | None = None) -> str:
    """Where the batch predictions for one snapshot are written."""
    return f"{(root or predictions_uri()).rstrip('/')}/{snapshot_id}/{PREDICTIONS_FILE_NAME}"


def mlflow_tracking_uri() -> str:
    """The deployment's MLflow tracking URI; raises if the environment does not set it."""
    uri = os.environ.get(MLFLOW_TRACKING_URI_ENV)
    if not uri:
        raise RuntimeError(
            f"{MLFLOW_TRACKING_URI_ENV} is not set: expected the MLflow tracking server URI, "
            "e.g. http://127.0.0.1:5000"
        )
    return uri
