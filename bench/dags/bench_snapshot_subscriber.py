"""
### bench_snapshot_subscriber: the ML team's subscription, with nothing behind it

Scheduled on exactly the schedule `housing_consumer` uses, `settings.subscription_asset()`: the Asset of
the contract version the ML team subscribes to with its `AssetWatcher` (`SnapshotCommittedTrigger`,
connection `lake_s3`, default poll interval, the ML team's subscription and its renewal, which the
watcher writes when it starts and the bench waits for). Its one task
is an `EmptyOperator`, which the scheduler marks done without running anything, so the benchmark
measures only manifest commit → DagRun queued and adds no load of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import dag

from include.housing_ml import settings


@dag(
    schedule=[settings.subscription_asset()],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["bench"],
)
def bench_snapshot_subscriber():
    EmptyOperator(task_id="received")


bench_snapshot_subscriber()
