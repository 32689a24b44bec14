"""Which task failures are worth a retry: storage, network and Airflow API errors; nothing else.

Every data-team DAG takes :data:`STORAGE_RETRY_POLICY` as its ``default_args["retry_policy"]``, with the
retry count and backoff of :mod:`include.housing_data.settings`.
"""

from __future__ import annotations

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

#: Retry only what a retry can fix: storage, network and Airflow API errors. Everything else fails at once.
STORAGE_RETRY_POLICY = ExceptionRetryPolicy(
    rules=[
        RetryRule(
            exception=[OSError, "botocore.exceptions.BotoCoreError"],
            action=RetryAction.RETRY,
            reason="storage error, likely transient",
        ),
        RetryRule(
            exception=["airflow.sdk.exceptions.AirflowRuntimeError"],
            action=RetryAction.RETRY,
            reason="Airflow's API server failed a call (e.g. its metadata database restarting)",
        ),
    ],
    default=RetryAction.FAIL,
)
