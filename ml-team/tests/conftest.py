"""Test environment of the ML team: an isolated Airflow home, the test kit, the consumer's fixtures.

Airflow reads its configuration when first imported, so the environment is set here, before any test
module (or plugin) imports it: a temporary AIRFLOW_HOME with a SQLite metadata database and this
project's dags/ folder, so tests never touch a developer's Airflow. Servers, the dataset and the S3
identities come from the repository's test kit (``housing_testkit.plugin``). As in production, the
consumer's code reads the lake as the **ml-team** identity, and snapshots it consumes are published
by the **data-team** identity. The consumer subscribes to contract 2.0.0 (``SUBSCRIBED``): the fixtures
publish v2 snapshots, in the v2 sibling of the test kit's ``team_lake_uri``.
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

from housing_contracts import DATASET_URI_ENV, V1, Contract
from housing_testkit import S3Identity, private_uri
from include.housing_ml.settings import (
    CONSUMER,
    CONTRACT,
    MLFLOW_TRACKING_URI_ENV,
    PREDICTIONS_URI_ENV,
    predictions_asset_uri,
)

#: The contract housing_consumer subscribes to: the fixtures publish snapshots of that major.
SUBSCRIBED = CONTRACT

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
    DATASET_URI_ENV,
    PREDICTIONS_URI_ENV,
    MLFLOW_TRACKING_URI_ENV,
):
    os.environ.pop(_name, None)

pytest_plugins = ["housing_testkit.plugin"]


def pytest_unconfigure(config) -> None:
    """Remove the temporary Airflow home."""
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture
def storage_options(ml_team_s3: S3Identity) -> dict[str, Any]:
    """s3fs options of the ml-team identity: what the consumer's ``lake_s3`` connection gives its tasks."""
    return ml_team_s3.storage_options


@pytest.fixture
def predictions_root() -> str:
    """A fresh predictions root of the subscribed major inside the ml-team identity's grant (beside the
    production one)."""
    return private_uri(predictions_asset_uri(SUBSCRIBED))


def sibling(dataset_uri: str, contract: Contract) -> str:
    """The dataset of ``contract`` beside ``dataset_uri`` (``.../tests/<id>/v1`` -> ``.../tests/<id>/v2``),
    where ``Contract.dataset_uri()`` finds it when ``$HOUSING_DATASET_URI`` is ``dataset_uri``."""
    return f"{dataset_uri.rstrip('/').rsplit('/', 1)[0]}/v{contract.major}"


@pytest.fixture
def subscribed_uri(team_lake_uri: str) -> str:
    """The subscribed major's dataset beside ``team_lake_uri`` (which the test kit makes a v1 one)."""
    return sibling(team_lake_uri, SUBSCRIBED)


@pytest.fixture
def both_majors_published(census_sample, team_lake_uri, subscribed_uri, data_team_s3) -> dict[Contract, str]:
    """One producer run's data published as 1.1.0 (at ``team_lake_uri``) and as 2.0.0 (at
    ``subscribed_uri``) with ``publish_all``: contract -> the snapshot id it got."""
    from housing_contracts import V2, publish_all

    written = publish_all(
        census_sample(),
        uris={V1: team_lake_uri, V2: subscribed_uri},
        producer={"dag_id": "housing_producer", "run_id": "manual__test"},
        storage_options=data_team_s3.storage_options,
        source=V1,
    )
    return {contract: written.results[contract].manifest.snapshot_id for contract in (V1, V2)}


@pytest.fixture(scope="session")
def mlflow_tracking(mlflow_server) -> Iterator[str]:
    """Point MLflow at the test server (``$MLFLOW_TRACKING_URI``), as the ML team's MLflow user with the
    permissions the stack grants it (what the ``mlflow`` connection exports in the deployment)."""
    user, password = mlflow_server.logins[CONSUMER]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MLFLOW_TRACKING_URI_ENV, mlflow_server.tracking_uri)
        patch.setenv("MLFLOW_TRACKING_USERNAME", user)
        patch.setenv("MLFLOW_TRACKING_PASSWORD", password)
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
def project_dags(airflow_db):
    """This project's dags/ folder, parsed once."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    return bag


@pytest.fixture(scope="session")
def consumer_dag(project_dags):
    """The housing_consumer DAG as parsed from this project's dags/ folder."""
    return project_dags.dags["housing_consumer"]


@pytest.fixture(scope="session")
def freshness_dag(project_dags):
    """The housing_freshness DAG as parsed from this project's dags/ folder."""
    return project_dags.dags["housing_freshness"]


@pytest.fixture
def lake_env(
    airflow_db, ml_team_s3: S3Identity, team_lake_uri: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """What the ML deployment provides to reach the dataset: ``lake_s3`` as ml-team, the dataset root."""
    env = {"AIRFLOW_CONN_LAKE_S3": ml_team_s3.airflow_connection, DATASET_URI_ENV: team_lake_uri}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def consumer_env(
    lake_env: dict[str, str],
    mlflow_tracking: str,
    predictions_root: str,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, str]:
    """What the ML deployment provides to the consumer: ``lake_env``, the MLflow URI, the predictions root."""
    monkeypatch.setenv(PREDICTIONS_URI_ENV, predictions_root)
    return {**lake_env, PREDICTIONS_URI_ENV: predictions_root}


#: 1.x money columns and their decimals in whole dollars (MedInc counts $10,000s, MedHouseVal $100,000s).
_DOLLAR_DECIMALS = {"MedInc": 4, "MedHouseVal": 5}


@pytest.fixture(scope="session")
def census_sample():
    """``census_sample(rows=3000, seed=11) -> DataFrame``: the contract test kit's 1.x sample with money in
    whole dollars (at least one), as the census states it. At that precision 1.x -> 2.0 -> 1.x gives every
    value back bit for bit; the kit's arbitrary floats come back within an ulp, which would move rows
    across the content-keyed train/test split."""
    from housing_contracts.testing import sample_frame

    def census_sample(rows: int = 3_000, seed: int = 11):
        frame = sample_frame(rows, seed=seed)
        for column, decimals in _DOLLAR_DECIMALS.items():
            frame[column] = frame[column].round(decimals).clip(lower=10.0**-decimals)
        return frame

    return census_sample


@pytest.fixture(scope="session")
def publish_sample(data_team_s3: S3Identity, census_sample):
    """``publish_sample(uri, storage_options=None, rows=3000, seed=11, contract=SUBSCRIBED) -> Manifest``:
    ``census_sample(rows, seed)`` converted to ``contract`` and published under ``uri`` (a dataset of that
    major) as the producer would, by the data-team identity (``storage_options`` of another server's
    data-team identity where a test runs its own S3)."""
    from housing_contracts import convert, publish

    def publish_sample(
        uri: str,
        storage_options: dict[str, Any] | None = None,
        *,
        rows: int = 3_000,
        seed: int = 11,
        contract: Contract = SUBSCRIBED,
    ):
        return publish(
            convert(census_sample(rows, seed), V1, contract),
            uri,
            contract=contract,
            producer={"dag_id": "housing_producer", "run_id": "manual__test"},
            storage_options=storage_options or data_team_s3.storage_options,
        ).manifest

    return publish_sample


@pytest.fixture
def published(subscribed_uri: str, publish_sample):
    """A contract-valid snapshot of the subscribed major (3,000 rows from the contract test kit) published
    under ``subscribed_uri``."""
    return publish_sample(subscribed_uri)
