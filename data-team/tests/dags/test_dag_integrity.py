"""DAG integrity: the repository's shared checks over every file of dags/, and each DAG's own."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from housing_testkit import DagIntegrity, dag_bag

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


class TestDagIntegrity(DagIntegrity):
    """Imports, tags, owner, retries, catchup, UTC start, doc_md, nothing heavy at parse time."""

    dags_folder = DAGS_FOLDER


def test_producer_dag_is_in_the_bag() -> None:
    """The bag holds the producer DAG."""
    assert "housing_producer" in dag_bag(DAGS_FOLDER).dags


def test_consumer_lag_alert_is_active_from_its_first_parse() -> None:
    """The lag alert runs every 30 minutes and is not paused when it first appears: a paused alert
    alerts no one."""
    dag = dag_bag(DAGS_FOLDER).dags["housing_consumer_lag"]
    assert dag.is_paused_upon_creation is False
    assert dag.schedule == timedelta(minutes=30)
    assert [task.task_id for task in dag.tasks] == ["check_consumer_lag"]
