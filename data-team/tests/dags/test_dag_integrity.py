"""DAG integrity: the repository's shared checks over every file of dags/, and the producer's own."""

from __future__ import annotations

from pathlib import Path

from housing_testkit import DagIntegrity, dag_bag

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


class TestDagIntegrity(DagIntegrity):
    """Imports, tags, owner, retries, catchup, UTC start, doc_md, nothing heavy at parse time."""

    dags_folder = DAGS_FOLDER


def test_producer_dag_is_in_the_bag() -> None:
    """The bag holds the producer DAG."""
    assert "housing_producer" in dag_bag(DAGS_FOLDER).dags
