"""Test environment of the data team: an isolated Airflow home, the test kit, the DAG fixtures.

Airflow reads its configuration when first imported, so the environment is set here, before any test
module (or plugin) imports it: a temporary AIRFLOW_HOME with a SQLite metadata database, this project's
dags/ and plugins/ folders, and one simple-auth-manager user (``USER``/``PASSWORD``) for the API server
that the Contract page tests build in-process, so tests never touch a developer's Airflow. Servers, the
dataset and the S3 identities come from the repository's test kit (``housing_testkit.plugin``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from housing_contracts import DATASET_URI, DATASET_URI_ENV, Contract
from housing_testkit import S3Identity, private_uri

PROJECT_DIR = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="data-team-airflow-"))
#: The deployment's one user (simple auth manager, role viewer: the least a person signed in can be).
USER = "operator"
PASSWORD = secrets.token_urlsafe(16)  # random per session, never a literal
PASSWORDS_FILE = AIRFLOW_HOME / "simple_auth_manager_passwords.json"
PASSWORDS_FILE.write_text(json.dumps({USER: PASSWORD}))

os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_DIR / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(PASSWORDS_FILE),
        # signs the API server's user tokens; the deployment's own secret in production
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
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
LAG_DAG_ID = "housing_consumer_lag"


@dataclass(frozen=True)
class Run:
    """One finished ``dag.test()`` run of the producer and where it wrote."""

    dataset_uri: str
    run_id: str
    state: str
    tasks: dict[str, tuple[str, int]]
    """task_id -> (state, try_number)"""
    published: dict[str, Any] | None
    """the publish task's XCom (``{"v1": summary or None, "v2": …}``), None if it returned nothing"""

    def uri(self, contract: Contract) -> str:
        """Where this run wrote ``contract``'s major: the sibling of :attr:`dataset_uri`."""
        return f"{self.dataset_uri.rsplit('/', 1)[0]}/v{contract.major}"


@pytest.fixture(scope="session")
def airflow_user() -> tuple[str, str]:
    """The deployment's user and password (simple auth manager, role viewer)."""
    return USER, PASSWORD


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The session's SQLite metadata database, migrated once."""
    from airflow.utils.db import initdb

    initdb()


@pytest.fixture(scope="session")
def project_dags(airflow_db):
    """This project's DAGs, parsed from dags/, with the migrated metadata database behind them."""
    from airflow.models import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


@pytest.fixture(scope="session")
def producer_dag(project_dags):
    """The producer DAG."""
    return project_dags.dags[DAG_ID]


@pytest.fixture(scope="session")
def consumer_lag_dag(project_dags):
    """The consumer-lag alert DAG."""
    return project_dags.dags[LAG_DAG_ID]


@pytest.fixture(scope="module")
def lake(data_team_s3: S3Identity) -> Iterator[str]:
    """A fresh dataset URI inside the data team's grant; tasks reach it through ``lake_s3`` as data-team."""
    dataset_uri = private_uri(DATASET_URI)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_LAKE_S3", data_team_s3.airflow_connection)
        patch.setenv(DATASET_URI_ENV, dataset_uri)
        yield dataset_uri


def _publish_xcom(dag_id: str, run_id: str) -> dict[str, Any] | None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        found = session.scalars(
            XComModel.get_many(run_id=run_id, dag_ids=dag_id, task_ids="publish", key="return_value")
        ).first()
        return None if found is None else XComModel.deserialize_value(found)


def _run_producer(dag, dataset_uri: str, **conf: Any) -> Run:
    dag_run = dag.test(run_conf=conf)
    tasks = {ti.task_id: (ti.state, ti.try_number) for ti in dag_run.get_task_instances()}
    return Run(dataset_uri, dag_run.run_id, dag_run.state, tasks, _publish_xcom(dag.dag_id, dag_run.run_id))


@pytest.fixture(scope="session")
def run_producer() -> Callable[..., Run]:
    """``run_producer(dag, dataset_uri, **conf) -> Run``: one run of the DAG with ``conf``, its outcome."""
    return _run_producer


def _asset_events(run_id: str) -> dict[str, list[dict[str, Any]]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.execute(
            select(AssetModel.name, AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetEvent.source_run_id == run_id)
            .order_by(AssetEvent.id)
        ).all()
        found: dict[str, list[dict[str, Any]]] = {}
        for name, extra in events:
            found.setdefault(name, []).append(dict(extra or {}))
        return found


@pytest.fixture(scope="session")
def asset_events() -> Callable[[str], dict[str, list[dict[str, Any]]]]:
    """``asset_events(run_id)``: Asset name -> the extras of the events run ``run_id`` emitted for it."""
    return _asset_events


@pytest.fixture
def dataset(data_team_s3: S3Identity, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh dataset URI of this test, and this deployment's view of it: ``lake_s3`` as data-team."""
    dataset_uri = private_uri(DATASET_URI)
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", data_team_s3.airflow_connection)
    monkeypatch.setenv(DATASET_URI_ENV, dataset_uri)
    return dataset_uri


@pytest.fixture(scope="session")
def publish_sample(data_team_s3: S3Identity) -> Callable[..., Any]:
    """``publish_sample(uri, seed=0, contract=V1) -> Manifest``: a contract-valid snapshot (the contract
    test kit's 1,000-row sample, converted to ``contract``'s major) published by the data-team identity,
    as the producer would."""
    from housing_contracts import V1, convert, publish
    from housing_contracts.testing import sample_frame

    def publish_sample(uri: str, seed: int = 0, contract=V1):
        result = publish(
            convert(sample_frame(seed=seed), V1, contract),
            uri,
            contract=contract,
            producer={"dag_id": "tests"},
            storage_options=data_team_s3.storage_options,
        )
        assert result.created
        return result.manifest

    return publish_sample


@dataclass(frozen=True)
class ConsumerRecords:
    """Writes a consumer's subscription and receipts with that consumer's own S3 identity."""

    identity: S3Identity

    def subscribe(self, uri: str, *, max_lag: timedelta, consumer: str | None = None) -> str:
        """Subscribe ``consumer`` (default: the identity's name) to ``uri``, accepting ``max_lag``."""
        from housing_contracts import CONTRACT_VERSION
        from housing_contracts.consumers.records import Subscription, subscribe

        subscription = Subscription(
            consumer=consumer or self.identity.name,
            dataset_uri=uri,
            deployment="http://ml-airflow.test:8080",
            max_lag=max_lag,
            start_at="latest",
            start_after=None,
            subscribed_at=datetime.now(UTC),
            contract_version=CONTRACT_VERSION,
        )
        return subscribe(subscription, storage_options=self.identity.storage_options)

    def receipt(
        self,
        uri: str,
        snapshot_id: str,
        *,
        outcome: str = "success",
        reason: str | None = None,
        run: str = "1",
    ) -> str:
        """Record that run ``run`` of ``housing_consumer`` consumed ``snapshot_id`` with ``outcome``."""
        from housing_contracts.consumers.records import Receipt, record_receipt

        now = datetime.now(UTC)
        receipt = Receipt(
            consumer=self.identity.name,
            dataset_uri=uri,
            snapshot_id=snapshot_id,
            dag_id="housing_consumer",
            run_id=f"manual__{run}",
            outcome=outcome,
            reason=reason,
            started_at=now - timedelta(seconds=30),
            finished_at=now,
            produced={"model_version": "1", "decision": "champion"} if outcome == "success" else {},
        )
        return record_receipt(receipt, storage_options=self.identity.storage_options)


@pytest.fixture(scope="session")
def ml_team_records(ml_team_s3: S3Identity) -> ConsumerRecords:
    """The ML team's consumer records (consumer ``ml-team``), written with the ml-team identity."""
    return ConsumerRecords(ml_team_s3)
