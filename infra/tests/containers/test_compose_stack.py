"""The compose stack on Podman, end to end: infra/docker-compose.yml (with infra/containers/
compose.podman.yml) started from the images `make images` builds, on free ports under a project name of
its own, one real handoff (snapshot → consumer run → champion) checked from outside with boto3 and the
MLflow client, then `down`, after which no container, pod, network or volume of the project is left.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from housing_contracts import contract_for
from housing_stack.airflow_client import AirflowClient, AirflowError
from housing_stack.cli import COMPOSE_FILE
from housing_stack.containers import PodmanCompose, base_images, podman
from housing_stack.demo import clients, summary
from housing_stack.flow import PRODUCER_DAG, FlowReport, reader_storage_options, run_flow
from housing_stack.identities import DATA_TEAM, ML_TEAM, airflow_reader
from housing_stack.mlflow_server import mlflow_user
from housing_stack.ports import free_ports
from housing_stack.settings import ensure_env_file
from housing_stack.stack import StackConfig

MODEL_NAME = "california_housing_regressor"  # the name the README promises users
PUBLISHED_PORTS = ("S3_PORT", "MLFLOW_PORT", "AIRFLOW_DATA_PORT", "AIRFLOW_ML_PORT")


@pytest.fixture(scope="module")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Free published ports; every other setting as ``make up`` makes it from .env.example (random
    secrets in place of its placeholders)."""
    path = tmp_path_factory.mktemp("containers") / ".env"
    ports = dict(zip(PUBLISHED_PORTS, free_ports(len(PUBLISHED_PORTS)), strict=True))
    path.write_text("".join(f"{key}={port}\n" for key, port in ports.items()))
    ensure_env_file(path)
    return path


def all_volumes() -> set[str]:
    """Every Podman volume on the machine, anonymous ones included."""
    return set(podman("volume", "ls", "--format", "{{.Name}}").stdout.split())


@pytest.fixture(scope="module")
def volumes_before() -> set[str]:
    return all_volumes()


@pytest.fixture(scope="module")
def stack(env_file: Path, volumes_before: set[str]) -> Iterator[PodmanCompose]:
    """The compose stack, up and healthy; removed (volumes included) after the module."""
    running = PodmanCompose(env_file, env_file.parent, COMPOSE_FILE, f"housing-e2e-{secrets.token_hex(3)}")
    try:
        running.up(timeout=600)
        yield running
    finally:
        running.down()


@pytest.fixture(scope="module")
def config(stack: PodmanCompose) -> StackConfig:
    """The stack's endpoints and keys, as `make demo STACK=docker` reads them from the settings file."""
    return StackConfig.local(stack.env_file, stack.state_dir)


@pytest.fixture(scope="module")
def handoff(config: StackConfig) -> FlowReport:
    """One handoff on the real dataset, driven through the published ports."""
    data, ml = clients(config)
    return run_flow(data, ml, storage_options=reader_storage_options(config), conf={"source": "sklearn"})


def test_the_snapshot_is_in_the_lake(handoff: FlowReport, config: StackConfig) -> None:
    """The producer's snapshot is in S3 under the subscribed dataset, readable with the ML team's keys."""
    assert handoff.published and handoff.snapshot
    keys = config.credentials[ML_TEAM]
    s3 = boto3.client(
        "s3",
        endpoint_url=config.s3_endpoint_url,
        aws_access_key_id=keys.access_key,
        aws_secret_access_key=keys.secret_key,
        region_name=config.region,
    )
    bucket, _, prefix = handoff.snapshot["snapshot_uri"].removeprefix("s3://").partition("/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix.rstrip("/") + "/")
    assert listed.get("KeyCount", 0) > 0
    assert handoff.snapshot["snapshot_uri"].startswith(f"{contract_for(handoff.dataset_uri).uri}/snapshots/")


def test_the_consumer_run_registered_the_champion(handoff: FlowReport, config: StackConfig) -> None:
    """The consumer ran on that snapshot; MLflow (on PostgreSQL, artifacts in S3) holds the run with the
    snapshot's lineage and version 1 of the model under the alias champion."""
    assert handoff.consumer_run_id and handoff.decision["outcome"] == "champion"
    with mlflow_user(config.mlflow_logins[ML_TEAM]):
        client = MlflowClient(tracking_uri=config.mlflow_tracking_uri)
        run = client.get_run(handoff.training["run_id"])
        champion = client.get_model_version_by_alias(MODEL_NAME, "champion").version
    assert run.data.tags["snapshot_id"] == handoff.snapshot["snapshot_id"]
    assert champion == handoff.decision["version"]


def test_each_team_holds_its_own_keys(handoff: FlowReport, config: StackConfig) -> None:
    """As on the native stack: MLflow refuses anonymous requests (401) and the data team's user moving
    champion (403); one deployment's admin login is refused by the other (401); the ML team's read-only
    account reads the data deployment and may not trigger its producer (403)."""
    anonymous = httpx.get(f"{config.mlflow_tracking_uri}/api/2.0/mlflow/registered-models/search", timeout=30)
    with mlflow_user(config.mlflow_logins[DATA_TEAM]), pytest.raises(MlflowException) as moved:
        MlflowClient(tracking_uri=config.mlflow_tracking_uri).set_registered_model_alias(
            MODEL_NAME, "champion", "1"
        )
    user, password = config.airflow_admin(DATA_TEAM)
    foreign = httpx.post(
        f"{config.airflow_ml_url}/auth/token", json={"username": user, "password": password}, timeout=30
    )
    reader = AirflowClient(
        config.airflow_data_url, *config.airflow_logins[airflow_reader(DATA_TEAM).env_prefix]
    )
    assert reader.request("GET", f"/dags/{PRODUCER_DAG}")["dag_id"] == PRODUCER_DAG
    with pytest.raises(AirflowError, match="HTTP 403"):
        reader.request("POST", f"/dags/{PRODUCER_DAG}/dagRuns", json={"logical_date": None})
    assert (anonymous.status_code, moved.value.get_http_status_code(), foreign.status_code) == (401, 403, 401)


def test_the_demo_summary_reads_the_handoff(handoff: FlowReport, config: StackConfig) -> None:
    """`make demo STACK=docker` prints the native demo's summary from the same report."""
    data, ml = clients(config)
    text = summary(handoff, data, ml, config.mlflow_tracking_uri, config.mlflow_logins[DATA_TEAM])
    assert handoff.snapshot["snapshot_id"] in text and "→ champion" in text


def test_a_container_that_exits_is_named_with_its_log(stack: PodmanCompose) -> None:
    """A container of the project that exits non-zero is reported by name with the tail of its log."""
    name = f"{stack.project}_crash_1"
    podman(
        "run", "--name", name,
        "--label", f"io.podman.compose.project={stack.project}",
        "--label", "com.docker.compose.service=crash",
        base_images()["debian"].name, "sh", "-c", "echo the crash reason; exit 3",
        check=False,
    )  # fmt: skip
    try:
        (report,) = stack.crashed()
        assert name in report and "code 3" in report and "the crash reason" in report
    finally:
        podman("rm", "--force", name)


def test_down_leaves_nothing(stack: PodmanCompose, volumes_before: set[str]) -> None:
    """`down` removes every container, the pod, the network and the volumes of the project, the
    anonymous ones included."""
    assert stack.containers() and stack.volumes()
    assert stack.down() == []
    assert stack.leftovers() == [] and stack.volumes() == []
    assert all_volumes() <= volumes_before
