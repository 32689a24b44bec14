"""Receipts through real ``dag.test()`` runs: Airflow's Task SDK runs the tasks and their
``on_failure_callback`` in this process, against a temporary SQLite metadata DB; the receipts land on the
real S3 server and are read back from the consumer's prefix."""

from __future__ import annotations

import json
import logging
import textwrap
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import fsspec
import pytest

from housing_contracts import V1
from housing_contracts.consumers.records import RECEIPTS_DIR, Receipt, consumer_uri, run_key
from housing_contracts.contract.versions import DATASET_URI_ENV

CONSUMER = "ml-team"
CONN_ID = "lake_s3_receipts"

PROBE_DAGS = textwrap.dedent(
    '''
    """Tiny consuming DAGs whose receipts the test reads (written by the test)."""

    from __future__ import annotations

    from airflow.sdk import DAG, task

    from housing_contracts import V1
    from housing_contracts.airflow.receipts import Receipts

    RECEIPTS = Receipts(consumer="ml-team", conn_id="lake_s3_receipts", contract=V1)
    FAILURES = {"on_failure_callback": RECEIPTS.on_failure}

    with DAG("receipts_train_fails", schedule=None, default_args=FAILURES):

        @task
        def train():
            raise ValueError("no rows left after cleaning")

        train()

    with DAG("receipts_resolve_then_fail", schedule=None, default_args=FAILURES):

        @task
        def resolve(params=None, ti=None):
            ti.xcom_push(key="snapshot_id", value=params["resolved"])

        @task
        def train():
            raise RuntimeError("out of memory")

        resolve() >> train()

    with DAG("receipts_succeed", schedule=None, default_args=FAILURES):

        @task
        def record_receipt(**context):
            return RECEIPTS.success(
                context,
                snapshot_id=context["params"]["snapshot_id"],
                produced={"model_version": "3", "decision": "champion"},
            )

        record_receipt()
    '''
)


def _configure_orm() -> None:
    from airflow import settings

    settings.configure_vars()
    settings.configure_orm()


@pytest.fixture(scope="module")
def probe_dags(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The probe DAGs parsed from a file, over a temporary SQLite metadata DB."""
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import initdb

    home = tmp_path_factory.mktemp("airflow-receipts")
    (home / "dags").mkdir()
    (home / "dags" / "receipts_probe.py").write_text(PROBE_DAGS)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
        env.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", raising=False)
        env.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(home / "dags"))
        _configure_orm()
        initdb()
        bag = DagBag(dag_folder=str(home / "dags"))
        assert not bag.import_errors, bag.import_errors
        yield bag.dags
        settings.dispose_orm()
    _configure_orm()


@pytest.fixture
def consumer_lake(lake_uri: str, s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """The dataset the probe DAGs consume, and their ``lake_s3_receipts`` connection (admin keys)."""
    connection = {
        "conn_type": "aws",
        "login": s3_server.access_key,
        "password": s3_server.secret_key,
        "extra": {"endpoint_url": s3_server.endpoint_url, "region_name": "us-east-1"},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(connection))
    monkeypatch.setenv(DATASET_URI_ENV, lake_uri)
    return lake_uri


def _snapshot_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{uuid.uuid4().hex[:8]}"


def _receipts(uri: str, snapshot_id: str, storage_options: dict[str, Any]) -> list[Receipt]:
    """Every receipt of the consumer for ``snapshot_id``."""
    folder = f"{consumer_uri(uri, CONSUMER, storage_options=storage_options)}/{RECEIPTS_DIR}/{snapshot_id}"
    fs, path = fsspec.core.url_to_fs(folder, skip_instance_cache=True, **storage_options)
    return [Receipt.from_dict(json.loads(fs.cat_file(p))) for p in fs.glob(f"{path}/*.json")]


def _all_receipts(uri: str, storage_options: dict[str, Any]) -> list[str]:
    folder = f"{consumer_uri(uri, CONSUMER, storage_options=storage_options)}/{RECEIPTS_DIR}"
    fs, path = fsspec.core.url_to_fs(folder, skip_instance_cache=True, **storage_options)
    return fs.glob(f"{path}/**/*.json")


def test_failed_task_writes_a_failed_receipt_with_the_reason(probe_dags, consumer_lake, s3_server):
    """A task failing in a manual run (snapshot in params) leaves a failed receipt naming task and error."""
    snapshot_id = _snapshot_id()
    dag_run = probe_dags["receipts_train_fails"].test(run_conf={"snapshot_id": snapshot_id})
    assert str(dag_run.state) == "failed"
    (receipt,) = _receipts(consumer_lake, snapshot_id, s3_server.storage_options)
    assert (receipt.outcome, receipt.reason) == (
        "failed",
        "train failed: ValueError: no rows left after cleaning",
    )
    assert (receipt.consumer, receipt.dataset_uri) == (CONSUMER, consumer_lake)
    assert (receipt.dag_id, receipt.run_id, receipt.run_key) == (
        "receipts_train_fails",
        dag_run.run_id,
        run_key("receipts_train_fails", dag_run.run_id),
    )
    assert receipt.started_at <= receipt.finished_at


def test_failed_receipt_finds_the_snapshot_in_an_xcom(probe_dags, consumer_lake, s3_server):
    """Without a snapshot in params or events, the XCom "snapshot_id" an earlier task pushed names it."""
    snapshot_id = _snapshot_id()
    dag_run = probe_dags["receipts_resolve_then_fail"].test(run_conf={"resolved": snapshot_id})
    assert str(dag_run.state) == "failed"
    (receipt,) = _receipts(consumer_lake, snapshot_id, s3_server.storage_options)
    assert receipt.reason == "train failed: RuntimeError: out of memory"


def test_failure_without_a_snapshot_writes_nothing(probe_dags, consumer_lake, s3_server, caplog):
    """A run that names no snapshot anywhere gets no receipt; the callback logs why and the run fails on
    its own error."""
    caplog.set_level(logging.WARNING, logger="housing_contracts.airflow")
    dag_run = probe_dags["receipts_train_fails"].test()
    assert str(dag_run.state) == "failed"
    assert _all_receipts(consumer_lake, s3_server.storage_options) == []
    logged = [r.getMessage() for r in caplog.records]
    assert any(message.startswith("No failed receipt for receipts_train_fails/") for message in logged)


def test_on_failure_never_raises():
    """Whatever the context holds, the callback logs instead of raising over the task's own error."""
    from housing_contracts.airflow.receipts import Receipts

    assert Receipts(consumer=CONSUMER, conn_id=CONN_ID, contract=V1).on_failure({}) is None


def test_success_writes_a_success_receipt_with_what_was_produced(probe_dags, consumer_lake, s3_server):
    """success() from the last task writes the run's success receipt and returns where."""
    snapshot_id = _snapshot_id()
    dag_run = probe_dags["receipts_succeed"].test(run_conf={"snapshot_id": snapshot_id})
    assert str(dag_run.state) == "success"
    (receipt,) = _receipts(consumer_lake, snapshot_id, s3_server.storage_options)
    assert (receipt.outcome, receipt.reason, receipt.produced) == (
        "success",
        None,
        {"model_version": "3", "decision": "champion"},
    )
    assert (receipt.dag_id, receipt.run_id) == ("receipts_succeed", dag_run.run_id)
    assert receipt.started_at == dag_run.start_date
    assert receipt.started_at <= receipt.finished_at


def test_receipt_for_an_unsafe_consumer_is_refused():
    """Receipts refuses a consumer name that is not a safe path segment."""
    from housing_contracts.airflow.receipts import Receipts

    with pytest.raises(ValueError, match="not a safe path segment"):
        Receipts(consumer="../data-team", conn_id=CONN_ID, contract=V1)
