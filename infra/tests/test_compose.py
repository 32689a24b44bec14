"""The docker-compose flavour, checked statically (no Docker engine here): well-formed, every file it
references exists, ports and credentials come from .env, policies match identities.py."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from housing_stack.airflow_standalone import LAKE_CONN_ID
from housing_stack.identities import DATA_TEAM, ML_TEAM, minio_policy
from housing_stack.settings import DEFAULTS, REPO_ROOT

INFRA = REPO_ROOT / "infra"
COMPOSE_PATH = INFRA / "docker-compose.yml"
COMPOSE_TEXT = COMPOSE_PATH.read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}")


def test_services_are_the_stack() -> None:
    """The compose file runs MinIO + init, MLflow, both Airflows and one Postgres each."""
    assert set(SERVICES) == {
        "minio",
        "minio-init",
        "mlflow",
        "mlflow-db",
        "airflow-data",
        "airflow-data-db",
        "airflow-ml",
        "airflow-ml-db",
    }


def test_images_are_pinned() -> None:
    """Every image has an explicit tag; MinIO and mc use release tags, never latest."""
    images = [service["image"] for service in SERVICES.values() if "image" in service]
    assert all(":" in image and not image.endswith(":latest") for image in images)
    assert SERVICES["minio"]["image"].startswith("minio/minio:RELEASE.")
    assert SERVICES["minio-init"]["image"].startswith("minio/mc:RELEASE.")


def test_every_variable_comes_from_env_example() -> None:
    """Each ${VAR} the compose file interpolates is defined in .env.example."""
    used = set(VARIABLE.findall(COMPOSE_TEXT))
    assert used and used <= DEFAULTS.keys(), sorted(used - DEFAULTS.keys())


@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("minio", "S3_PORT"),
        ("mlflow", "MLFLOW_PORT"),
        ("airflow-data", "AIRFLOW_DATA_PORT"),
        ("airflow-ml", "AIRFLOW_ML_PORT"),
    ],
)
def test_published_ports_match_the_native_stack(service: str, variable: str) -> None:
    """Each service publishes its .env port on 127.0.0.1, like the native stack."""
    assert any(port.startswith(f"127.0.0.1:${{{variable}}}:") for port in SERVICES[service]["ports"])


def test_no_literal_credentials() -> None:
    """Keys, secrets and passwords are all ${...} references to .env."""
    for service in SERVICES.values():
        environment = service.get("environment") or {}
        for key, value in environment.items():
            if re.search(r"KEY|SECRET|PASSWORD|ROOT_USER", key):
                assert VARIABLE.fullmatch(str(value)), f"{key} is not taken from .env"


@pytest.mark.parametrize(("service", "identity"), [("airflow-data", "DATA_TEAM"), ("airflow-ml", "ML_TEAM")])
def test_each_airflow_uses_its_teams_identity(service: str, identity: str) -> None:
    """The lake connection of each team's Airflow carries that team's keys."""
    connection = SERVICES[service]["environment"][f"AIRFLOW_CONN_{LAKE_CONN_ID.upper()}"]
    assert VARIABLE.findall(connection)[:2] == [
        f"{identity}_AWS_ACCESS_KEY_ID",
        f"{identity}_AWS_SECRET_ACCESS_KEY",
    ]
    interpolated = json.loads(VARIABLE.sub("value", connection))
    assert interpolated["conn_type"] == "aws" and interpolated["extra"]["endpoint_url"] == "http://minio:9000"


def test_referenced_files_exist() -> None:
    """Build contexts, Dockerfiles and bind-mounted files exist."""
    for name, service in SERVICES.items():
        build = service.get("build")
        if build:
            context = (INFRA / build["context"]).resolve()
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), (
                f"{name}: no Dockerfile in {context}"
            )
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (INFRA / source).exists(), f"{name}: {source} is missing"


def test_airflow_builds_from_the_astro_projects() -> None:
    """Each team's Airflow is built from its own Astro project folder."""
    assert (INFRA / SERVICES["airflow-data"]["build"]["context"]).resolve() == REPO_ROOT / "data-team"
    assert (INFRA / SERVICES["airflow-ml"]["build"]["context"]).resolve() == REPO_ROOT / "ml-team"


@pytest.mark.parametrize("identity", [DATA_TEAM, ML_TEAM])
def test_minio_policies_match_identities(identity: str) -> None:
    """The committed policy files equal identities.py rendered (housing-stack render-minio-policies)."""
    committed = json.loads((INFRA / "minio" / "policies" / f"{identity}.json").read_text())
    assert committed == minio_policy(identity)


def test_init_script_creates_both_teams() -> None:
    """The init script creates the buckets and applies each committed policy to its team's user."""
    script = (INFRA / "minio" / "init.sh").read_text()
    assert "$LAKE_BUCKET" in script and "$MLFLOW_BUCKET" in script
    for identity, prefix in ((DATA_TEAM, "DATA_TEAM"), (ML_TEAM, "ML_TEAM")):
        assert (
            f'add_team {identity} "${prefix}_AWS_ACCESS_KEY_ID" "${prefix}_AWS_SECRET_ACCESS_KEY"' in script
        )


def test_mlflow_image_matches_constraints() -> None:
    """The MLflow image installs the version constraints.txt pins."""
    pin = re.search(r"^mlflow==(\S+)", (REPO_ROOT / "constraints.txt").read_text(), re.M)
    dockerfile = (INFRA / "mlflow" / "Dockerfile").read_text()
    assert pin and f"ARG MLFLOW_VERSION={pin.group(1)}" in dockerfile


def test_mlflow_stores_artifacts_with_the_ml_team_identity() -> None:
    """MLflow proxies artifacts to the mlflow bucket with the ML team's keys."""
    mlflow = SERVICES["mlflow"]
    assert "s3://${MLFLOW_BUCKET}" in mlflow["command"]
    assert mlflow["environment"]["AWS_ACCESS_KEY_ID"] == "${ML_TEAM_AWS_ACCESS_KEY_ID}"
