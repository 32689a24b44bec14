"""Test environment of the ML team: an isolated Airflow home, the shared stack fixtures.

Airflow reads its configuration when first imported, so the environment is set here, before any test
module (or plugin) imports it: a temporary AIRFLOW_HOME with a SQLite metadata database and this
project's dags/ folder, so tests never touch a developer's Airflow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="ml-team-airflow-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "MPLBACKEND": "Agg",
    }
)
# A developer's shell may point tasks elsewhere; tests set these themselves.
for _name in (
    "AIRFLOW_CONN_LAKE_S3",
    "AIRFLOW_CONN_MLFLOW",
    "HOUSING_DATASET_URI",
    "HOUSING_PREDICTIONS_URI",
    "MLFLOW_TRACKING_URI",
):
    os.environ.pop(_name, None)

pytest_plugins = ["housing_testkit.plugin"]


def pytest_unconfigure(config) -> None:
    """Remove the temporary Airflow home."""
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture
def storage_options(s3_server) -> dict[str, Any]:
    """s3fs options for the test lake (admin: test prefixes lie outside the teams' grants)."""
    return s3_server.storage_options


@pytest.fixture
def predictions_root(lake_uri: str) -> str:
    """A private predictions prefix next to ``lake_uri``."""
    return lake_uri.replace("/california_housing/v1", "/california_housing_predictions/v1")


@pytest.fixture(scope="session")
def mlflow_tracking(mlflow_server) -> Iterator[str]:
    """Point MLflow (``$MLFLOW_TRACKING_URI``, as in the deployment) at the test server."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", mlflow_server.tracking_uri)
        yield mlflow_server.tracking_uri


@pytest.fixture
def model_name() -> str:
    """A registered-model name of its own, so registry tests never see each other's aliases."""
    return f"test_regressor_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """The temporary metadata database, migrated once (``airflow db migrate``)."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    yield AIRFLOW_HOME / "airflow.db"


@pytest.fixture(scope="session")
def consumer_dag(airflow_db):
    """The housing_consumer DAG as parsed from this project's dags/ folder."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    return bag.dags["housing_consumer"]


@pytest.fixture
def consumer_env(
    airflow_db,
    s3_server,
    mlflow_tracking: str,
    lake_uri: str,
    predictions_root: str,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """What a deployment provides: the lake_s3 connection, MLflow URI, and the dataset/predictions roots."""
    env = {
        "AIRFLOW_CONN_LAKE_S3": s3_server.airflow_connection(),
        "HOUSING_DATASET_URI": lake_uri,
        "HOUSING_PREDICTIONS_URI": predictions_root,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _publish_sample(uri: str, storage_options: dict[str, Any], *, rows: int = 3_000, seed: int = 11):
    from housing_contracts import publish
    from housing_contracts.testing import sample_frame

    result = publish(
        sample_frame(rows, seed=seed),
        uri,
        producer={"dag_id": "housing_producer", "run_id": "manual__test"},
        storage_options=storage_options,
    )
    return result.manifest


@pytest.fixture(scope="session")
def publish_sample():
    """``publish_sample(uri, storage_options, rows=3000, seed=11) -> Manifest``: a test-kit snapshot."""
    return _publish_sample


@pytest.fixture
def published(lake_uri: str, storage_options: dict[str, Any]):
    """A contract-valid snapshot (3,000 rows from the contract test kit) published under ``lake_uri``."""
    return _publish_sample(lake_uri, storage_options)
