"""
### housing_freshness: alert when the California-housing data stops arriving

The data team promises the data confirmed current at least every N hours: a new snapshot, or a
confirmation that the newest one is still current (the contract's freshness promise, `housing-contract
describe`). Every 30 minutes `check_freshness` compares the time since the newest committed snapshot was
created or last confirmed with that promise, reading the lake through the connection `lake_s3`. It
checks the dataset of the contract the team subscribes to (`settings.CONTRACT`).

- **Promise kept**: the task succeeds and logs the snapshot's age.
- **Promise broken** (the newest snapshot was neither created nor confirmed within it, or there is none):
  the task fails at once, without retries, and its error names the dataset, the newest snapshot's age,
  its last confirmation and the promise. That failed task is the alert; the failure callbacks of
  `include/housing_ml/alerts.py` (empty by default, see the README for Slack and e-mail) route it further.
- **Lake unreachable**: retried with backoff like every storage error; a failure after the last try
  alerts as well.

Trigger it with `{"max_age_seconds": 60}` to check a tighter promise than the contract's for one run.
The DAG is active from its first parse: a paused alert alerts no one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Param, dag, task

from include.housing_ml import settings
from include.housing_ml.retries import default_args


@dag(
    schedule=settings.FRESHNESS_CHECK_SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    is_paused_upon_creation=False,
    doc_md=__doc__,
    tags=[*settings.TAGS, "alert"],
    default_args=default_args(),
    params={
        "max_age_seconds": Param(
            None,
            type=["null", "number"],
            exclusiveMinimum=0,
            description="the promise to check, in seconds (default: the contract's freshness promise)",
        ),
    },
)
def housing_freshness():
    @task
    def check_freshness(params: dict[str, Any] | None = None) -> str:
        """Fail with the dataset, the age and the promise if the data was confirmed current too long ago."""
        import logging
        from datetime import timedelta

        from housing_contracts.consumers.freshness import check_freshness
        from include.housing_ml.connections import lake_storage_options

        seconds = (params or {}).get("max_age_seconds")
        kept = check_freshness(
            settings.CONTRACT.dataset_uri(),
            max_age=None if seconds is None else timedelta(seconds=seconds),
            storage_options=lake_storage_options(),
        )
        logging.getLogger(__name__).info("%s", kept)
        return kept

    check_freshness()


housing_freshness()
