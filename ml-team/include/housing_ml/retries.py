"""How the ML team's tasks retry: storage and MLflow errors yes, bad data and bugs no, and the
``default_args`` every ML-team DAG takes.

The policy is the contract package's :class:`~housing_contracts.airflow.retries.TransientErrorRetryPolicy`
(both teams use it): it matches exceptions by dotted name, so naming MLflow's exception imports no MLflow
when a DAG file is parsed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from housing_contracts.airflow.retries import TransientErrorRetryPolicy
from include.housing_ml import settings
from include.housing_ml.alerts import on_failure_callbacks

#: Never retried: the data is wrong (bad snapshot), retrying cannot help.
FAIL_ON: tuple[str, ...] = ("housing_contracts.contract.errors.ContractError",)
#: Retried with the task's exponential backoff: likely transient.
RETRY_ON: tuple[str, ...] = (
    "builtins.OSError",  # TimeoutError, ConnectionError, s3fs's and fsspec's I/O errors
    "botocore.exceptions.BotoCoreError",
    "requests.exceptions.RequestException",
    "mlflow.exceptions.MlflowException",  # includes RestException (server errors)
    # the deployment's own API server failing a task's call (XCom, connection), e.g. while its metadata
    # database restarts
    "airflow.sdk.exceptions.AirflowRuntimeError",
)


def retry_policy() -> TransientErrorRetryPolicy:
    """Storage, MLflow and Airflow API errors are retried with backoff; bad data and bugs fail at once."""
    return TransientErrorRetryPolicy(retry_on=RETRY_ON, fail_on=FAIL_ON)


def default_args(*on_failure: Callable[[Any], None]) -> dict[str, Any]:
    """Every ML-team DAG's ``default_args``: owner, 3 retries with exponential backoff, :func:`retry_policy`,
    and on failure the DAG's own callbacks ``on_failure`` (e.g. a receipt), then the team's alerts."""
    return {
        "owner": settings.OWNER,
        "retries": settings.RETRIES,
        "retry_delay": settings.RETRY_DELAY,
        "retry_exponential_backoff": settings.RETRY_EXPONENTIAL_BACKOFF,
        "max_retry_delay": settings.MAX_RETRY_DELAY,
        "retry_policy": retry_policy(),
        "on_failure_callback": on_failure_callbacks(*on_failure),
    }
