"""Each team holds its own keys: probes from outside the stack, after the handoff, with the credentials
(or none) a user or another team would have. Each test is a row of the reliability table.

What each identity may do is data in ``housing_stack/identities.py`` (the README's "Who can do what" is
rendered from it); these tests hold the running servers to it:

- MLflow runs MLflow's basic-auth app: anonymous requests get 401, and the data team's user may read but
  not move the champion, which the ML team's user still may;
- a wrong password is refused by every service;
- each Airflow deployment has its own accounts, so one deployment's admin is a stranger to the other;
- the other team's read-only account reads the Contract page and its JSON, and may not trigger, pause or
  clear anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from housing_stack.airflow_client import AirflowClient, AirflowError
from housing_stack.flow import PRODUCER_DAG, FlowReport
from housing_stack.identities import (
    DATA_TEAM,
    ML_TEAM,
    MLFLOW_EXPERIMENT,
    MLFLOW_MODEL,
    Login,
    airflow_reader,
)
from housing_stack.mlflow_server import mlflow_user
from housing_stack.settings import LAKE_BUCKET
from housing_stack.stack import Stack

CHAMPION = "champion"


@pytest.fixture(scope="module")
def stack(embedded_stack: Stack, handoff: Callable[[Stack], list[FlowReport]]) -> Stack:
    """The session's embedded stack, after the handoff (so a champion exists)."""
    handoff(embedded_stack)
    return embedded_stack


def _status(method: str, url: str, auth: tuple[str, str] | None = None, **kwargs: object) -> int:
    return httpx.request(method, url, auth=auth, timeout=30, **kwargs).status_code


def test_anonymous_mlflow_writes_and_reads_are_refused(stack: Stack, reliability_row) -> None:
    """Without credentials MLflow answers 401 to every write (create an experiment, log a metric, set an
    alias, register a model) and to reads, and nothing is changed."""
    api = f"{stack.config.mlflow_tracking_uri}/api/2.0/mlflow"
    with mlflow_user(stack.config.mlflow_logins[ML_TEAM]):
        client = MlflowClient(tracking_uri=stack.config.mlflow_tracking_uri)
        run_id = client.search_runs([client.get_experiment_by_name(MLFLOW_EXPERIMENT).experiment_id])[
            0
        ].info.run_id
        champion = client.get_model_version_by_alias(MLFLOW_MODEL, CHAMPION).version
    writes = {
        "create experiment": ("experiments/create", {"name": f"anonymous-{uuid.uuid4().hex}"}),
        "log metric": ("runs/log-metric", {"run_id": run_id, "key": "test_r2", "value": 1.0, "timestamp": 0}),
        "set alias": ("registered-models/alias", {"name": MLFLOW_MODEL, "alias": CHAMPION, "version": "1"}),
        "register model": ("registered-models/create", {"name": f"anonymous-{uuid.uuid4().hex}"}),
    }
    answers = {what: _status("POST", f"{api}/{path}", json=body) for what, (path, body) in writes.items()}
    answers["read run"] = _status("GET", f"{api}/runs/get", params={"run_id": run_id})
    answers["search models"] = _status("GET", f"{api}/registered-models/search")
    with mlflow_user(stack.config.mlflow_logins[ML_TEAM]):
        unchanged = client.get_model_version_by_alias(MLFLOW_MODEL, CHAMPION).version == champion
    reliability_row(
        "MLflow: anonymous writes and reads",
        "401 each, nothing changed",
        f"{answers}; champion unchanged: {unchanged}",
    )
    assert set(answers.values()) == {401}
    assert unchanged


def test_data_team_reads_mlflow_but_cannot_move_the_champion(stack: Stack, reliability_row) -> None:
    """The data team's MLflow user reads the model but moving ``champion`` is 403; the ML team's user still
    moves it (the champion/challenger gate works as ml-team)."""
    tracking_uri = stack.config.mlflow_tracking_uri
    with mlflow_user(stack.config.mlflow_logins[DATA_TEAM]):
        data = MlflowClient(tracking_uri=tracking_uri)
        champion = data.get_model_version_by_alias(MLFLOW_MODEL, CHAMPION).version
        with pytest.raises(MlflowException) as refused:
            data.set_registered_model_alias(MLFLOW_MODEL, CHAMPION, "1" if champion != "1" else "2")
    with mlflow_user(stack.config.mlflow_logins[ML_TEAM]):
        ml = MlflowClient(tracking_uri=tracking_uri)
        ml.set_registered_model_alias(MLFLOW_MODEL, CHAMPION, champion)  # the gate's own call, same version
        after = ml.get_model_version_by_alias(MLFLOW_MODEL, CHAMPION).version
    code = refused.value.get_http_status_code()
    reliability_row(
        "MLflow: the data team's user moves champion",
        "403; it reads the model; ml-team still sets the alias",
        f"HTTP {code}; read champion v{champion}; ml-team set it, now v{after}",
    )
    assert code == 403
    assert after == champion


def test_a_wrong_password_is_refused_by_every_service(stack: Stack, reliability_row) -> None:
    """A wrong password: 401 from MLflow and from each Airflow deployment; S3 refuses the signature."""
    config = stack.config
    answers = {
        "MLflow": _status(
            "GET", f"{config.mlflow_tracking_uri}/api/2.0/mlflow/experiments/search", (ML_TEAM, "wrong")
        ),
    }
    for team in (DATA_TEAM, ML_TEAM):
        login = {"username": config.airflow_admin(team).user, "password": "wrong"}
        answers[f"Airflow {team}"] = _status("POST", f"{config.airflow_url(team)}/auth/token", json=login)
    s3 = boto3.client(
        "s3",
        endpoint_url=config.s3_endpoint_url,
        aws_access_key_id=config.credentials[ML_TEAM].access_key,
        aws_secret_access_key="wrong",
        region_name=config.region,
    )
    with pytest.raises(ClientError) as refused:
        s3.list_objects_v2(Bucket=LAKE_BUCKET, Prefix="california_housing/")
    answers["S3"] = refused.value.response["ResponseMetadata"]["HTTPStatusCode"]
    reliability_row(
        "every service: a wrong password",
        "MLflow and both Airflows 401; S3 403 (SignatureDoesNotMatch)",
        f"{answers} ({refused.value.response['Error']['Code']})",
    )
    assert answers == {"MLflow": 401, f"Airflow {DATA_TEAM}": 401, f"Airflow {ML_TEAM}": 401, "S3": 403}


def test_one_deployments_credentials_are_refused_by_the_other(stack: Stack, reliability_row) -> None:
    """Each deployment's admin login gets 401 from the other deployment; a token the data deployment
    issued is refused by the ML deployment's API as one it did not sign (Airflow answers that with 403
    "Invalid JWT token")."""
    config = stack.config
    answers = {}
    for own, other in ((DATA_TEAM, ML_TEAM), (ML_TEAM, DATA_TEAM)):
        user, password = config.airflow_admin(own)
        body = {"username": user, "password": password}
        answers[f"{own} login on {other}"] = _status(
            "POST", f"{config.airflow_url(other)}/auth/token", json=body
        )
    token = AirflowClient(config.airflow_data_url, *config.airflow_admin(DATA_TEAM)).token()
    foreign = httpx.get(
        f"{config.airflow_ml_url}/api/v2/dags", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    reliability_row(
        "Airflow: one deployment's credentials on the other's API",
        "logins 401; the other's token 403 Invalid JWT token",
        f"{answers}; {DATA_TEAM} token on {ML_TEAM}: {foreign.status_code} {foreign.text[:60]}",
    )
    assert set(answers.values()) == {401}
    assert (foreign.status_code, foreign.json()["detail"]) == (403, "Invalid JWT token")


def test_read_only_account_reads_the_contract_page_and_changes_nothing(stack: Stack, reliability_row) -> None:
    """The ML team's read-only account on the data deployment: the Contract page and its JSON are 200;
    triggering, pausing and clearing ``housing_producer`` are 403, and the DAG is as it was."""
    config = stack.config
    reader: Login = config.airflow_logins[airflow_reader(DATA_TEAM).env_prefix]
    client = AirflowClient(config.airflow_data_url, *reader)
    bearer = {"Authorization": f"Bearer {client.token()}"}
    reads = {
        path: _status("GET", f"{config.airflow_data_url}{path}", headers=bearer)
        for path in ("/contract/", "/contract/api/consumers", "/api/v2/assets")
    }
    admin = AirflowClient(config.airflow_data_url, *config.airflow_admin(DATA_TEAM))
    before = admin.request("GET", f"/dags/{PRODUCER_DAG}")["is_paused"]
    runs_before = len(admin.runs(PRODUCER_DAG))
    writes = {}
    for what, method, path, body in (
        ("trigger", "POST", f"/dags/{PRODUCER_DAG}/dagRuns", {"logical_date": None}),
        ("pause", "PATCH", f"/dags/{PRODUCER_DAG}", {"is_paused": True}),
        ("clear", "POST", f"/dags/{PRODUCER_DAG}/clearTaskInstances", {"dry_run": False}),
    ):
        try:
            client.request(method, path, json=body)
            writes[what] = 200
        except AirflowError as error:
            writes[what] = int(str(error).split("HTTP ", 1)[1].split()[0])
    unchanged = admin.request("GET", f"/dags/{PRODUCER_DAG}")["is_paused"] == before
    unchanged &= len(admin.runs(PRODUCER_DAG)) == runs_before
    reliability_row(
        "Airflow: the ML team's read-only account on the data deployment",
        "Contract page, its JSON and assets 200; trigger, pause, clear 403; nothing changed",
        f"reads {reads}; writes {writes}; unchanged: {unchanged}",
    )
    assert set(reads.values()) == {200}
    assert writes == {"trigger": 403, "pause": 403, "clear": 403}
    assert unchanged
