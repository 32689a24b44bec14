"""How the data team's tasks retry: storage, network and Airflow API errors; nothing else. And the
``default_args`` every data-team DAG takes, with the retry count and backoff of
:mod:`include.housing_data.settings`.

The policy is the contract package's :class:`~housing_contracts.airflow.retries.TransientErrorRetryPolicy`,
as the ML team's is.
"""

from __future__ import annotations

from typing import Any

from housing_contracts.airflow.retries import TransientErrorRetryPolicy
from include.housing_data import settings

#: Retry only what a retry can fix: storage, network and Airflow API errors (e.g. its metadata database
#: restarting). Everything else fails at once.
STORAGE_RETRY_POLICY = TransientErrorRetryPolicy(
    retry_on=(
        "builtins.OSError",
        "botocore.exceptions.BotoCoreError",
        "airflow.sdk.exceptions.AirflowRuntimeError",
    )
)


def default_args(**extra: Any) -> dict[str, Any]:
    """Every data-team DAG's ``default_args``: owner, retries with exponential backoff and
    :data:`STORAGE_RETRY_POLICY`, plus ``extra`` (e.g. an alerting DAG's ``on_failure_callback``)."""
    return {
        "owner": settings.OWNER,
        "retries": settings.RETRIES,
        "retry_delay": settings.RETRY_DELAY,
        "retry_exponential_backoff": settings.RETRY_EXPONENTIAL_BACKOFF,
        "max_retry_delay": settings.MAX_RETRY_DELAY,
        "retry_policy": STORAGE_RETRY_POLICY,
    } | extra
