"""No secret in a log: after the handoff on each profile, the value of every generated secret is searched
for in every file under the stack's state folder (except the few files whose job is to hold it), in every
task log the REST API serves, and in every MLflow param, tag and artifact.
"""

from __future__ import annotations

import configparser
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from housing_stack.airflow_client import AirflowClient
from housing_stack.demo import clients
from housing_stack.flow import FlowReport
from housing_stack.identities import ADMIN
from housing_stack.mlflow_server import mlflow_user
from housing_stack.stack import Profile, Stack

#: The airflow.cfg keys Airflow generates a secret for on first start.
AIRFLOW_CFG_SECRETS = (("core", "fernet_key"), ("api", "secret_key"), ("api_auth", "jwt_secret"))


@pytest.fixture(scope="module", params=list(Profile), ids=str)
def stack(request: pytest.FixtureRequest, handoff: Callable[[Stack], list[FlowReport]]) -> Stack:
    """The session's stack of each profile, after the handoff."""
    stack: Stack = request.getfixturevalue(f"{request.param}_stack")
    handoff(stack)
    return stack


def _secrets(stack: Stack) -> dict[str, str]:
    """Name -> value of every secret the stack was configured with or its deployments generated."""
    config = stack.config
    found = {f"S3 secret key of {name}": key.secret_key for name, key in config.credentials.items()}
    found.update(
        {f"Airflow password of {prefix}": login.password for prefix, login in config.airflow_logins.items()}
    )
    found.update(
        {f"MLflow password of {name}": login.password for name, login in config.mlflow_logins.items()}
    )
    found["MLflow Flask secret key"] = config.mlflow_flask_secret
    if config.profile is Profile.PRODUCTION:
        found["PostgreSQL password"] = config.postgres_password
        found["Redis password"] = config.redis_password
    for component in stack.deployments:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(config.state_dir / component / "airflow.cfg")
        for section, key in AIRFLOW_CFG_SECRETS:
            if value := parser.get(section, key, fallback=""):
                found[f"{component} airflow.cfg [{section}] {key}"] = value
    return found


def _holders(stack: Stack) -> set[Path]:
    """The files whose job is to hold secrets (each owner-only): the recorded config the supervisor
    restarts from, SeaweedFS's identities (the S3 keys it checks), each deployment's password file and
    airflow.cfg, MLflow's auth config (its permission database's URI on PostgreSQL), Redis's config (its
    password)."""
    state = stack.config.state_dir
    files = {
        state / "run" / "stack.json",
        state / "seaweedfs" / "identities.json",
        state / "mlflow" / "basic_auth.ini",
        state / "redis" / "redis.conf",
    }
    for component in stack.deployments:
        files |= {state / component / "airflow.cfg", state / component / "simple_auth_manager_passwords.json"}
    return files


def _leaks(secrets: dict[str, str], where: str, content: bytes) -> Iterator[str]:
    for name, value in secrets.items():
        if value and value.encode() in content:
            yield f"{name} in {where}"


def _task_logs(client: AirflowClient) -> Iterator[tuple[str, bytes]]:
    for dag in client.request("GET", "/dags")["dags"]:
        for run in client.runs(dag["dag_id"]):
            for task in client.task_instances(dag["dag_id"], run["dag_run_id"]):
                for try_number in range(1, (task.get("try_number") or 0) + 1):
                    text = client.task_log(dag["dag_id"], run["dag_run_id"], task["task_id"], try_number)
                    where = f"{dag['dag_id']}/{run['dag_run_id']}/{task['task_id']}#{try_number}"
                    yield f"{client.base_url} {where}", text.encode()


def _mlflow_documents(stack: Stack) -> Iterator[tuple[str, bytes]]:
    """Every param and tag of every run, and every artifact's bytes (read as MLflow's admin)."""
    with mlflow_user(stack.config.mlflow_logins[ADMIN]), tempfile.TemporaryDirectory() as scratch:
        client = MlflowClient(tracking_uri=stack.config.mlflow_tracking_uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        for run in client.search_runs(experiments):
            run_id = run.info.run_id
            yield f"run {run_id} params", repr(run.data.params).encode()
            yield f"run {run_id} tags", repr(run.data.tags).encode()
            folder = Path(client.download_artifacts(run_id, "", dst_path=f"{scratch}/{run_id}"))
            for path in folder.rglob("*"):
                if path.is_file():
                    yield f"run {run_id} artifact {path.relative_to(folder)}", path.read_bytes()


def test_no_secret_in_any_file_task_log_or_mlflow_record(stack: Stack, reliability_row) -> None:
    """None of the stack's secrets appears in a file under its state folder other than their holders, in
    a task log read through the REST API, or in an MLflow param, tag or artifact."""
    secrets = _secrets(stack)
    holders = _holders(stack)
    leaks: list[str] = []
    files = [p for p in stack.config.state_dir.rglob("*") if p.is_file() and not p.is_symlink()]
    for path in files:
        if path not in holders:
            try:
                leaks += _leaks(secrets, str(path), path.read_bytes())
            except OSError:
                continue  # a socket, or a file removed meanwhile
    data, ml = clients(stack.config)
    logs = [entry for client in (data, ml) for entry in _task_logs(client)]
    for where, content in logs:
        leaks += _leaks(secrets, where, content)
    documents = list(_mlflow_documents(stack))
    for where, content in documents:
        leaks += _leaks(secrets, where, content)
    reliability_row(
        f"{stack.config.profile}: no secret in a log",
        "none of the secrets in files (but their holders), task logs, MLflow params/tags/artifacts",
        f"{len(secrets)} secrets searched in {len(files) - len(holders)} files, {len(logs)} task logs, "
        f"{len(documents)} MLflow records: {len(leaks)} found",
    )
    open_holders = [str(p) for p in holders if p.exists() and p.stat().st_mode & 0o077]
    assert logs and documents
    assert leaks == []
    assert open_holders == [], "files holding secrets must be readable by their owner only"
