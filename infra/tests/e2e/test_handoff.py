"""The whole handoff on a native stack started on free ports in a temp dir, torn down even on failure,
once per profile: embedded (airflow standalone, SQLite) and production (PostgreSQL, CeleryExecutor, one
process per component, two triggerers in the ML team's deployment). Both stacks, and the passes, are
the session's (conftest.py): later modules go on from the state they leave.

1. the producer runs on the real dataset → a snapshot → the consumer trains, registers version 1 as
   champion and writes predictions;
2. changed data → a second snapshot → version 2 with a champion/challenger decision;
3. the same data again → no snapshot and no consumer run.

Everything goes through what a user has: the Airflow REST APIs, MLflow and S3.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest
from mlflow import MlflowClient

from housing_contracts import contract_for, list_snapshots
from housing_stack.airflow_production import AirflowProduction
from housing_stack.flow import FlowReport
from housing_stack.identities import DATA_TEAM, ML_TEAM
from housing_stack.mlflow_server import mlflow_user
from housing_stack.postgres import PostgresServer
from housing_stack.redis_server import RedisServer
from housing_stack.stack import Profile, Stack

MODEL_NAME = "california_housing_regressor"  # the name the README promises users


@pytest.fixture(scope="module", params=list(Profile), ids=str)
def stack(request: pytest.FixtureRequest) -> Stack:
    """The session's stack of each profile; each is stopped by the last module using it (conftest.py)."""
    return request.getfixturevalue(f"{request.param}_stack")


@pytest.fixture(scope="module")
def flows(stack: Stack, handoff: Callable[[Stack], list[FlowReport]]) -> list[FlowReport]:
    """The three passes, in order (later tests read what earlier passes did)."""
    return handoff(stack)


def _s3_options(stack: Stack) -> dict:
    env = stack.env()
    return {
        "key": env["AWS_ACCESS_KEY_ID"],
        "secret": env["AWS_SECRET_ACCESS_KEY"],
        "client_kwargs": {"endpoint_url": env["AWS_ENDPOINT_URL"], "region_name": env["AWS_DEFAULT_REGION"]},
    }


def test_first_snapshot_is_the_cleaned_real_dataset(flows: list[FlowReport]) -> None:
    """The real dataset is published minus the rows cleaning removed, and the consumer ran on it."""
    first = flows[0]
    assert first.published and first.consumer_run_id
    assert first.snapshot["row_count"] == 20_640 - first.cleaning["rows_removed"]
    assert first.event_latency_s is not None and first.event_latency_s >= 0


def test_first_model_beats_the_baseline_and_becomes_champion(flows: list[FlowReport]) -> None:
    """Version 1 reaches test R² ≥ 0.85, beats RidgeCV and, with no champion yet, becomes champion."""
    metrics = flows[0].training["metrics"]
    assert metrics["test_r2"] >= 0.85
    assert metrics["test_rmse"] < metrics["baseline_test_rmse"]
    assert flows[0].decision["outcome"] == "champion"


def test_changed_data_gets_a_second_version_with_a_decision(flows: list[FlowReport], stack: Stack) -> None:
    """The second snapshot registers version 2; the aliases agree with the decision."""
    second = flows[1]
    assert second.published and second.snapshot["snapshot_id"] != flows[0].snapshot["snapshot_id"]
    with mlflow_user(stack.config.mlflow_logins[ML_TEAM]):
        client = MlflowClient(tracking_uri=stack.config.mlflow_tracking_uri)
        versions = {v.version for v in client.search_model_versions(f"name = '{MODEL_NAME}'")}
        champion = client.get_model_version_by_alias(MODEL_NAME, "champion").version
        challenger = (
            client.get_model_version_by_alias(MODEL_NAME, "challenger").version
            if (second.decision["outcome"] == "challenger")
            else None
        )
    assert versions == {"1", "2"}
    decision = second.decision
    assert champion == decision["champion_version"]
    if decision["outcome"] == "challenger":
        assert challenger == decision["version"]
        assert champion == "1"
    else:
        assert champion == "2"


def test_runs_are_logged_with_snapshot_lineage(flows: list[FlowReport], stack: Stack) -> None:
    """Each MLflow run carries its snapshot id, the contract version and the snapshot as dataset input."""
    # the data team's MLflow user: it may read what its data trained
    with mlflow_user(stack.config.mlflow_logins[DATA_TEAM]):
        client = MlflowClient(tracking_uri=stack.config.mlflow_tracking_uri)
        runs = [client.get_run(flow.training["run_id"]) for flow in flows[:2]]
    for flow, run in zip(flows[:2], runs, strict=True):
        assert run.data.tags["snapshot_id"] == flow.snapshot["snapshot_id"]
        assert run.data.tags["contract_version"] == flow.snapshot["contract_version"]
        sources = [d.dataset.source for d in run.inputs.dataset_inputs]
        assert any(flow.snapshot["snapshot_uri"] in source for source in sources)


def test_the_flow_follows_the_dataset_the_consumer_subscribes_to(flows: list[FlowReport]) -> None:
    """The flow found the consumed dataset in the ML team's Airflow; the snapshots it followed are that
    dataset's, under that contract's major."""
    uri = flows[0].dataset_uri
    assert uri == contract_for(uri).uri  # one of the released contracts, not a guess
    for flow in flows[:2]:
        assert flow.dataset_uri == uri
        assert flow.snapshot["snapshot_uri"].startswith(f"{uri}/snapshots/")
        assert flow.snapshot["contract_version"].split(".")[0] == str(contract_for(uri).major)


def test_predictions_cover_every_row_of_each_snapshot(flows: list[FlowReport], stack: Stack) -> None:
    """Predictions for each snapshot are in the lake, one per row, in the file the consumer reported."""
    for flow in flows[:2]:
        sid = flow.snapshot["snapshot_id"]
        assert sid in flow.predictions["uri"]
        predictions = pd.read_parquet(flow.predictions["uri"], storage_options=_s3_options(stack))
        assert len(predictions) == flow.snapshot["row_count"]


def test_unchanged_republish_publishes_nothing_and_triggers_nothing(
    flows: list[FlowReport], stack: Stack
) -> None:
    """Republishing identical content writes no snapshot, and (run_flow checks) starts no consumer run."""
    assert not flows[2].published and flows[2].consumer_run_id is None
    snapshots = list_snapshots(flows[2].dataset_uri, storage_options=_s3_options(stack))
    assert [m.snapshot_id for m in snapshots] == [f.snapshot["snapshot_id"] for f in flows[:2]]


def _listening_addresses(port: int) -> set[str]:
    """IPv4/IPv6 addresses with a listening TCP socket on ``port`` (read from /proc/net)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.rsplit(":", 1)
            if state == "0A" and int(port_hex, 16) == port:
                found.add(address)
    return found


LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def test_services_listen_on_loopback_only(stack: Stack, reliability_row) -> None:
    """S3, MLflow, both Airflow API servers and (production) PostgreSQL and Redis bind 127.0.0.1 and
    nothing else.

    (Airflow's worker/triggerer log servers bind every interface whatever the settings, and serve
    only requests signed with the deployment's secret key; see the README.)
    """
    ports = stack.config.ports
    servers = {
        "s3": ports.s3.s3,
        "mlflow": ports.mlflow,
        "airflow-data": ports.airflow_data.api,
        "airflow-ml": ports.airflow_ml.api,
    }
    servers.update(
        {name: c.port for name, c in stack.components.items() if isinstance(c, PostgresServer | RedisServer)}
    )
    for name, port in servers.items():
        addresses = _listening_addresses(port)
        reliability_row(
            f"{name} binds loopback only ({stack.config.profile})",
            "127.0.0.1 only",
            "127.0.0.1 only" if addresses and addresses <= LOOPBACK else f"listens on {sorted(addresses)}",
        )
        assert addresses and addresses <= LOOPBACK, f"{name} on port {port} listens on {addresses}"


def test_airflow_apis_reject_unauthenticated_calls(stack: Stack, reliability_row) -> None:
    """Both deployments' REST APIs refuse a call without a token (401/403)."""
    for name, url in (("data-team", stack.config.airflow_data_url), ("ml-team", stack.config.airflow_ml_url)):
        status = httpx.get(f"{url}/api/v2/dags", timeout=60).status_code
        reliability_row(
            f"{name} Airflow API without a token ({stack.config.profile})", "401 or 403", str(status)
        )
        assert status in (401, 403)


def test_status_shows_executor_database_workers_and_triggerers(stack: Stack, flows: list[FlowReport]) -> None:
    """After the flow, each deployment reports its executor and metadata database; in production both
    Celery workers answer, every triggerer heartbeats, and nothing had to be restarted."""
    summaries = stack.summaries()
    for name, summary in summaries.items():
        assert (summary.triggerers, summary.workers) == (
            summary.expected_triggerers,
            summary.expected_workers,
        ), name
    if stack.config.profile is Profile.PRODUCTION:
        assert summaries["airflow-ml"].executor.startswith("CeleryExecutor")
        assert summaries["airflow-ml"].database.startswith("PostgreSQL 127.0.0.1:")
        assert (
            summaries["airflow-data"].expected_triggerers,
            summaries["airflow-ml"].expected_triggerers,
        ) == (1, 2)
        assert isinstance(stack.airflow_ml, AirflowProduction)
    else:
        assert summaries["airflow-ml"].executor == "LocalExecutor"
    assert all(status.healthy for status in stack.status())
    assert stack.restarts() == []
