"""The deployment guide (infra/deploy/README.md) and its Helm values files agree with each other and with
the code: secret names and keys, the connection id, the dataset URI, the images, the chart version, the
replica counts and the IAM policies. Nothing here talks to Astro, Helm or a cluster."""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from housing_contracts.contract.versions import DATASET_URI
from housing_stack.airflow_standalone import LAKE_CONN_ID
from housing_stack.identities import DATA_TEAM, ML_TEAM, airflow_accounts, minio_policy
from housing_stack.settings import DEFAULTS, REPO_ROOT

DEPLOY = REPO_ROOT / "infra" / "deploy"
GUIDE = (DEPLOY / "README.md").read_text()
#: Shell commands of the guide, each on one line (backslash continuations joined).
COMMANDS = re.sub(r"\\\n\s*", "", GUIDE).splitlines()
TEAMS = [DATA_TEAM, ML_TEAM]
#: Each team's Astro Deployment, Helm release and namespace share one name.
DEPLOYMENT_NAMES = {DATA_TEAM: "housing-data", ML_TEAM: "housing-ml"}
LAKE_ENV = f"AIRFLOW_CONN_{LAKE_CONN_ID.upper()}"


@dataclass(frozen=True)
class HelmRelease:
    """One `helm upgrade --install` line of the guide."""

    name: str
    version: str
    namespace: str
    values_path: Path


def values(team: str) -> dict:
    """A team's values file, parsed."""
    return yaml.safe_load((DEPLOY / "helm" / f"{team}-values.yaml").read_text())


def helm_release(team: str) -> HelmRelease:
    """The guide's `helm upgrade --install` command for the team's values file."""
    pattern = re.compile(
        r"helm upgrade --install (\S+) apache-airflow/airflow --version (\S+)\s+--namespace (\S+)\s+-f (\S+)"
    )
    releases = [
        HelmRelease(m[1], m[2], m[3], REPO_ROOT / m[4]) for m in pattern.finditer("\n".join(COMMANDS))
    ]
    (release,) = [r for r in releases if r.values_path.name == f"{team}-values.yaml"]
    return release


def created_secrets(namespace: str) -> dict[str, dict[str, str]]:
    """Secrets the guide's `kubectl create secret generic` commands create in ``namespace``: name -> keys."""
    secrets: dict[str, dict[str, str]] = {}
    pattern = re.compile(rf"kubectl --namespace {re.escape(namespace)} create secret generic (\S+)(.*)")
    for line in COMMANDS:
        if match := pattern.search(line):
            literals = re.findall(
                r"--from-literal=([A-Za-z0-9_-]+)=('[^']*'|\"(?:[^\"\\]|\\.)*\"|\S+)", match[2]
            )
            secrets[match[1]] = {key: value.strip("'") for key, value in literals}
    return secrets


def secret_ref_names(team: str) -> list[str]:
    """The secrets the team's `extraEnvFrom` (a templated YAML string in the chart) brings in."""
    return [item["secretRef"]["name"] for item in yaml.safe_load(values(team)["extraEnvFrom"])]


@pytest.mark.parametrize("team", TEAMS)
def test_values_file_parses(team: str) -> None:
    """Each team's values file is a YAML mapping."""
    assert isinstance(values(team), dict)


@pytest.mark.parametrize("team", TEAMS)
def test_executor_is_celery(team: str) -> None:
    """Both deployments run CeleryExecutor."""
    assert values(team)["executor"] == "CeleryExecutor"


@pytest.mark.parametrize("team", TEAMS)
def test_image_is_built_from_the_team_folder(team: str) -> None:
    """`images.airflow` is the image the guide builds from the team's own folder."""
    image = values(team)["images"]["airflow"]
    assert f"docker build -t {image['repository']}:{image['tag']} {team}" in GUIDE


@pytest.mark.parametrize("team", TEAMS)
def test_airflow_home_is_where_the_dockerfile_installs(team: str) -> None:
    """`airflowHome` is the folder the team's Dockerfile installs the contracts wheel under."""
    dockerfile = (REPO_ROOT / team / "Dockerfile").read_text()
    assert f'"{values(team)["airflowHome"]}/.contracts-dist/housing_contracts-' in dockerfile


@pytest.mark.parametrize("team", TEAMS)
def test_dags_are_baked_into_the_image(team: str) -> None:
    """No git-sync and no DAG volume: the DAGs come with the image."""
    dags = values(team)["dags"]
    assert dags["gitSync"]["enabled"] is False and not dags.get("persistence", {}).get("enabled")


@pytest.mark.parametrize("team", TEAMS)
def test_two_celery_workers(team: str) -> None:
    """Each team runs 2 Celery workers, set with the non-deprecated `workers.celery.replicas`."""
    workers = values(team)["workers"]
    assert workers["celery"]["replicas"] == 2 and "replicas" not in workers


def test_ml_team_runs_two_triggerers() -> None:
    """The ML team's deployment, which holds the watcher, runs 2 triggerers."""
    assert values(ML_TEAM)["triggerer"]["replicas"] == 2


def test_data_team_keeps_the_default_triggerer() -> None:
    """The data team has no watcher and keeps the chart's single triggerer."""
    assert "triggerer" not in values(DATA_TEAM)


@pytest.mark.parametrize("team", TEAMS)
def test_bundled_postgresql_is_off(team: str) -> None:
    """The chart's bundled PostgreSQL is disabled: the metadata DB comes from the team's secret."""
    assert values(team)["postgresql"]["enabled"] is False


@pytest.mark.parametrize("team", TEAMS)
def test_metadata_database_secret_is_created_by_the_guide(team: str) -> None:
    """`data.metadataSecretName` is created in the release's namespace with a PostgreSQL `connection`."""
    secrets = created_secrets(helm_release(team).namespace)
    connection = secrets[values(team)["data"]["metadataSecretName"]]["connection"]
    assert connection.startswith("postgresql://")


@pytest.mark.parametrize("team", TEAMS)
def test_result_backend_secret_is_created_by_the_guide(team: str) -> None:
    """`data.resultBackendSecretName` is created with a `db+postgresql://` `connection`."""
    secrets = created_secrets(helm_release(team).namespace)
    connection = secrets[values(team)["data"]["resultBackendSecretName"]]["connection"]
    assert connection.startswith("db+postgresql://")


@pytest.mark.parametrize("team", TEAMS)
def test_key_secrets_hold_the_keys_the_chart_reads(team: str) -> None:
    """The fernet, API and JWT secrets exist in the guide with the key names the chart reads."""
    secrets = created_secrets(helm_release(team).namespace)
    team_values = values(team)
    for setting, key in (
        ("fernetKeySecretName", "fernet-key"),
        ("apiSecretKeySecretName", "api-secret-key"),
        ("jwtSecretName", "jwt-secret"),
    ):
        assert key in secrets[team_values[setting]], (setting, key)


@pytest.mark.parametrize("team", TEAMS)
def test_lake_connection_comes_from_the_guides_secret(team: str) -> None:
    """`extraEnvFrom` brings in the guide's secret holding AIRFLOW_CONN_LAKE_S3 as that team's identity."""
    secrets = created_secrets(helm_release(team).namespace)
    (name,) = secret_ref_names(team)
    connection = json.loads(secrets[name][LAKE_ENV])
    assert connection["conn_type"] == "aws" and connection["login"] == team


@pytest.mark.parametrize("team", TEAMS)
def test_astro_gets_the_lake_connection_as_a_secret(team: str) -> None:
    """The Astro commands set AIRFLOW_CONN_LAKE_S3 as a secret variable, with that team's identity."""
    deployment = DEPLOYMENT_NAMES[team]
    command = f"astro deployment variable create --deployment-name {deployment} --secret {LAKE_ENV}="
    (line,) = [c for c in COMMANDS if c.startswith(command)]
    key, _, value = line.split("--secret", 1)[1].strip().partition("=")
    assert key == LAKE_ENV and json.loads(value.strip("'"))["login"] == team


@pytest.mark.parametrize("team", TEAMS)
def test_helm_command_uses_the_values_files_chart_version(team: str) -> None:
    """The guide installs the values file's chart version, as the team's release in its own namespace."""
    release = helm_release(team)
    header = release.values_path.read_text().splitlines()[1]
    assert f"--version {release.version} " in header
    assert release.name == release.namespace == DEPLOYMENT_NAMES[team]


def test_ml_team_reaches_mlflow_as_its_user_through_the_connection() -> None:
    """The ML team's secrets (Helm and Astro) hold the `mlflow` connection its include package reads, with
    the ml-team MLflow user; no MLflow URI or credential is set as a plain variable."""
    path = REPO_ROOT / ML_TEAM / "include" / "housing_ml" / "settings.py"
    spec = importlib.util.spec_from_file_location("ml_team_settings", path)
    assert spec and spec.loader
    settings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(settings)
    variable = f"AIRFLOW_CONN_{settings.MLFLOW_CONN_ID.upper()}"
    (name,) = secret_ref_names(ML_TEAM)
    helm = json.loads(created_secrets(helm_release(ML_TEAM).namespace)[name][variable])
    astro = [c for c in COMMANDS if c.startswith("astro deployment variable create") and f"{variable}=" in c]
    (line,) = astro
    assert "--secret" in line
    for connection in (helm, json.loads(line.split(f"{variable}=", 1)[1].strip("'"))):
        assert connection["conn_type"] == "http" and connection["login"] == ML_TEAM
    assert "env" not in values(ML_TEAM)


@pytest.mark.parametrize("team", TEAMS)
def test_auth_manager_needs_no_fab(team: str) -> None:
    """The files replace the chart's FAB auth manager and skip its FAB create-user job."""
    team_values = values(team)
    assert team_values["config"]["core"]["auth_manager"].endswith(".SimpleAuthManager")
    assert team_values["createUserJob"]["enabled"] is False


@pytest.mark.parametrize("team", TEAMS)
def test_each_release_has_the_stacks_accounts(team: str) -> None:
    """Each release's simple auth manager users are the stack's accounts of that deployment: the team's
    admin and the other team's viewer (user names and roles as ``.env.example`` and identities.py say)."""
    expected = ",".join(f"{DEFAULTS[a.user_var]}:{a.role.value}" for a in airflow_accounts(team))
    assert values(team)["config"]["core"]["simple_auth_manager_users"] == expected


def test_dataset_uri_in_the_guide_is_the_contracts() -> None:
    """Every dataset URI the guide names is housing_contracts.contract.versions.DATASET_URI."""
    uris = set(re.findall(r"s3://lake/california_housing/v\d+", GUIDE))
    assert uris == {DATASET_URI}


@pytest.mark.parametrize("identity", TEAMS)
def test_iam_policies_match_identities(identity: str) -> None:
    """The IAM-style policies the guide attaches equal identities.py rendered (render-minio-policies)."""
    path = REPO_ROOT / "infra" / "minio" / "policies" / f"{identity}.json"
    assert "infra/minio/policies/" in GUIDE
    assert json.loads(path.read_text()) == minio_policy(identity)


def test_guide_links_resolve() -> None:
    """Every relative link in the guide points at a file or folder of the repository."""
    targets = re.findall(r"\]\((?!https?://|#)([^)#]+)", GUIDE)
    assert targets and all((DEPLOY / target).exists() for target in targets), targets
