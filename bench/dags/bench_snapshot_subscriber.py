"""
### bench_snapshot_subscriber: the ML team's subscription, with nothing behind it

Scheduled on exactly the schedule `housing_consumer` uses: the Asset of the contract version it
subscribes to (`CONTRACT`, the ML team's `settings.CONTRACT` as in ml-team/dags/housing_consumer.py;
bench/tests checks they agree) with its `AssetWatcher` (`SnapshotCommittedTrigger`, connection
`lake_s3`, default poll interval, the ML team's subscription and its renewal, which the watcher writes
when it starts and the bench waits for). Its one task
is an `EmptyOperator`, which the scheduler marks done without running anything, so the benchmark
measures only manifest commit → DagRun queued and adds no load of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import dag

from housing_contracts.airflow.asset import dataset_asset
from include.housing_ml import settings

CONTRACT = settings.CONTRACT  # the contract housing_consumer subscribes to


@dag(
    schedule=[
        dataset_asset(
            CONTRACT,
            watch=True,
            conn_id=settings.LAKE_CONN_ID,
            consumer=settings.CONSUMER,
            max_lag=settings.MAX_LAG,
            renew_every=settings.RENEW_EVERY,
        )
    ],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["bench"],
)
def bench_snapshot_subscriber():
    EmptyOperator(task_id="received")


bench_snapshot_subscriber()
