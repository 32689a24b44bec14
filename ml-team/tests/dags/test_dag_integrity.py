"""DAG integrity: the repository's shared checks over every file of dags/, and the consumer's own."""

from __future__ import annotations

from pathlib import Path

from housing_contracts import ASSET_NAME, DATASET_URI
from housing_testkit import DagIntegrity, dag_bag

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


class TestDagIntegrity(DagIntegrity):
    """Imports, tags, owner, retries, catchup, UTC start, doc_md, nothing heavy at parse time."""

    dags_folder = DAGS_FOLDER


def consumer_dag():
    return dag_bag(DAGS_FOLDER).dags["housing_consumer"]


def test_consumer_dag_is_in_the_bag() -> None:
    """The bag holds the consumer DAG."""
    assert "housing_consumer" in dag_bag(DAGS_FOLDER).dags


def test_consumer_is_scheduled_on_the_watched_contract_asset() -> None:
    """housing_consumer runs on the contract's Asset, which carries the snapshot watcher."""
    (asset,) = consumer_dag().timetable.asset_condition.objects
    assert (asset.name, asset.uri) == (ASSET_NAME, DATASET_URI)
    assert [type(w.trigger).__name__ for w in asset.watchers] == ["SnapshotCommittedTrigger"]


def test_consumer_writes_the_predictions_asset() -> None:
    """The predictions task declares the predictions Asset as its outlet."""
    task = consumer_dag().get_task("write_predictions")
    assert [(a.name, a.uri) for a in task.outlets] == [
        ("california_housing_predictions_v1", "s3://lake/california_housing_predictions/v1")
    ]


def test_manual_runs_take_a_snapshot_id_param() -> None:
    """The snapshot_id param defaults to None (newest snapshot)."""
    assert consumer_dag().params["snapshot_id"] is None
