"""
### bench_same_deployment: the in-Airflow handoff, a producer and a consumer inside one Airflow

`bench_asset_producer` has one task with an Asset outlet; `bench_asset_consumer` is scheduled on
that Asset. This is the baseline for the cross-deployment AssetWatcher: producer task end →
consumer DagRun queued, through the same scheduler.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import Asset, dag, task

HANDOFF = Asset(name="bench_same_deployment_handoff", uri="s3://lake/bench/same_deployment_handoff")


@dag(
    schedule=None, start_date=datetime(2026, 1, 1, tzinfo=UTC), catchup=False, doc_md=__doc__, tags=["bench"]
)
def bench_asset_producer():
    @task(outlets=[HANDOFF])
    def publish() -> None:
        """Stands in for a producer's write; the outlet records the asset event on success."""

    publish()


@dag(
    schedule=[HANDOFF],
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    doc_md=__doc__,
    tags=["bench"],
)
def bench_asset_consumer():
    EmptyOperator(task_id="received")


bench_asset_producer()
bench_asset_consumer()
