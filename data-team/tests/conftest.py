"""Test environment of the data team: an isolated Airflow home, the test kit, the producer DAG fixtures.

Airflow reads its configuration when first imported, so the environment is set here, before any test
module (or plugin) imports it: a temporary AIRFLOW_HOME with a SQLite metadata database and this
project's dags/ folder, so tests never touch a developer's Airflow. Servers, the dataset and the S3
identities come from the repository's test kit (``housing_testkit.plugin``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from housing_contracts import DATASET_URI, DATASET_URI_ENV
from housing_testkit import S3Identity, private_uri

PROJECT_DIR = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="data-team-airflow-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)
# A developer's shell may point tasks elsewhere; tests set these themselves.
for _name in ("AIRFLOW_CONN_LAKE_S3", DATASET_URI_ENV):
    os.environ.pop(_name, None)

pytest_plugins = ["housing_testkit.plugin"]


def pytest_unconfigure(config) -> None:
    """Remove the temporary Airflow home."""
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


DAG_ID = "housing_producer"


@dataclass(frozen=True)
class Run:
    """One finished ``dag.test()`` run of the producer and where it wrote."""

    dataset_uri: str
    run_id: str
    state: str
    tasks: dict[str, tuple[str, int]]
    """task_id -> (state, try_number)"""


@pytest.fixture(scope="session")
def producer_dag():
    """The producer DAG, parsed from dags/, with a migrated SQLite metadata database behind it."""
    from airflow.models import DagBag
    from airflow.utils.db import initdb

    initdb()
    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags[DAG_ID]


@pytest.fixture(scope="module")
def lake(data_team_s3: S3Identity) -> Iterator[str]:
    """A fresh dataset URI inside the data team's grant; tasks reach it through ``lake_s3`` as data-team."""
    dataset_uri = private_uri(DATASET_URI)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_LAKE_S3", data_team_s3.airflow_connection)
        patch.setenv(DATASET_URI_ENV, dataset_uri)
        yield dataset_uri


def _run_producer(dag, dataset_uri: str, **conf: Any) -> Run:
    dag_run = dag.test(run_conf=conf)
    tasks = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    return Run(dataset_uri, dag_run.run_id, dag_run.state, tasks)


@pytest.fixture(scope="session")
def run_producer() -> Callable[..., Run]:
    """``run_producer(dag, dataset_uri, **conf) -> Run``: one run of the DAG with ``conf``, its outcome."""
    return _run_producer


def _asset_events(run_id: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run_id)).all()
        return [dict(event.extra) for event in events]


@pytest.fixture(scope="session")
def asset_events() -> Callable[[str], list[dict[str, Any]]]:
    """``asset_events(run_id)``: the extras of the asset events that run ``run_id`` emitted."""
    return _asset_events
