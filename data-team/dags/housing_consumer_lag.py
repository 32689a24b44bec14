"""
### housing_consumer_lag: alert when a consumer of the dataset lags beyond its own promise

Every consumer that subscribes to a version of the dataset (`s3://lake/california_housing/v1`,
`.../v2`) states the lag it accepts (`max_lag`) and records a receipt for each snapshot it consumes, in
its own prefix of the lake (`s3://lake/_consumers/<consumer>/...`). Every 30 minutes
`check_consumer_lag` reads them back through the connection `lake_s3`, for every released version, and
compares each consumer's lag (committed snapshots it has not consumed successfully, and the age of the
oldest of them) with that consumer's promise.

- **Every promise kept**: the task succeeds; its log holds each version's per-consumer table (last
  snapshot, outcome, lag in snapshots and time, promise, status) and it returns the rows by dataset URI
  for XCom.
- **A promise broken**: once every version is checked, the task fails at once, without retries, and its
  error names each dataset and every lagging consumer with its lag, its promise and its last outcome.
  That failed task is the alert; the failure callbacks of `include/housing_data/alerts.py` (empty by
  default, see the README for Slack and e-mail) route it further.
- **Lake unreachable**: retried with backoff like every storage error; a failure after the last try
  alerts as well.

Corrupt or foreign receipts are reported in the table's status column and skipped, never raised.
The DAG is active from its first parse: a paused alert alerts no one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowFailException

from include.housing_data import settings
from include.housing_data.alerts import on_failure_callbacks
from include.housing_data.retries import default_args


@dag(
    schedule=settings.CONSUMER_LAG_CHECK_SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    doc_md=__doc__,
    tags=[*settings.TAGS, "alert"],
    default_args=default_args(on_failure_callback=on_failure_callbacks()),
)
def housing_consumer_lag():
    @task
    def check_consumer_lag() -> dict[str, list[dict[str, Any]]]:
        """Fail with the lagging consumers of every version, their lag and their promises if any breaks
        its promise."""
        from housing_contracts import CONTRACTS
        from housing_contracts.contract.errors import PromiseBroken
        from include.housing_data.connections import lake_storage_options
        from include.housing_data.consumer_lag import check_consumers

        try:
            return check_consumers(
                [contract.dataset_uri() for contract in CONTRACTS],
                storage_options=lake_storage_options(),
            )
        except PromiseBroken as err:
            raise AirflowFailException(str(err)) from err

    check_consumer_lag()


housing_consumer_lag()
