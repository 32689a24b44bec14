"""The native stack as one unit: configuration, and a real start/stop on free ports in a temp dir."""

from __future__ import annotations

import json
import shlex
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from housing_stack.identities import ADMIN, DATA_TEAM, ML_TEAM
from housing_stack.ports import free_ports
from housing_stack.process import StackError
from housing_stack.settings import DEFAULTS, ensure_env_file
from housing_stack.stack import COMPONENTS, Stack, StackConfig, StackPorts, export_lines


def test_local_config_reads_the_env_file(tmp_path: Path) -> None:
    """StackConfig.local takes ports, keys and the Airflow user from .env, creating it if missing."""
    config = StackConfig.local(tmp_path / ".env", tmp_path / "state")
    settings = ensure_env_file(tmp_path / ".env")
    assert config.ports.s3.s3 == int(DEFAULTS["S3_PORT"])
    assert config.ports.airflow_ml.api == int(DEFAULTS["AIRFLOW_ML_PORT"])
    assert config.credentials[ML_TEAM].secret_key == settings["ML_TEAM_AWS_SECRET_ACCESS_KEY"]
    assert config.airflow_password == settings["AIRFLOW_PASSWORD"]


def test_ephemeral_ports_are_distinct() -> None:
    """A test stack's ports are all different from each other."""
    ports = StackPorts.free()
    stack = Stack(StackConfig.ephemeral(Path("/nonexistent"), ports=ports))
    every = [port for name in COMPONENTS for port in stack.ports_of(name)]
    assert len(every) == len(set(every)) == 15


def test_env_exports_every_documented_variable(tmp_path: Path) -> None:
    """env() has exactly the variables `make -s env` documents, with the admin as default identity."""
    stack = Stack(StackConfig.ephemeral(tmp_path))
    env = stack.env()
    assert list(env) == [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "DATA_TEAM_AWS_ACCESS_KEY_ID",
        "DATA_TEAM_AWS_SECRET_ACCESS_KEY",
        "ML_TEAM_AWS_ACCESS_KEY_ID",
        "ML_TEAM_AWS_SECRET_ACCESS_KEY",
        "MLFLOW_TRACKING_URI",
        "AIRFLOW_DATA_URL",
        "AIRFLOW_ML_URL",
        "AIRFLOW_USER",
        "AIRFLOW_PASSWORD",
    ]
    assert env["AWS_ACCESS_KEY_ID"] == stack.config.credentials[ADMIN].access_key
    assert env["AIRFLOW_ML_URL"] == f"http://127.0.0.1:{stack.config.ports.airflow_ml.api}"


def test_export_lines_survive_the_shell() -> None:
    """export_lines quotes values so that a shell reads them back unchanged."""
    values = {"A": "plain", "B": "it's $HOME; rm -rf /"}
    script = export_lines(values) + '\nprintf "%s\\n%s" "$A" "$B"'
    output = subprocess.run(["bash", "-c", script], capture_output=True, text=True).stdout
    assert output == "plain\nit's $HOME; rm -rf /"
    assert shlex.split(export_lines({"X": "y z"})) == ["export", "X=y z"]


def test_each_airflow_gets_its_teams_identity(tmp_path: Path) -> None:
    """Each deployment's lake_s3 connection carries its own team's keys and the stack's S3 endpoint."""
    stack = Stack(StackConfig.ephemeral(tmp_path))
    for deployment, team in ((stack.airflow_data, DATA_TEAM), (stack.airflow_ml, ML_TEAM)):
        connection = json.loads(deployment.env()["AIRFLOW_CONN_LAKE_S3"])
        assert (connection["login"], connection["password"]) == tuple(stack.config.credentials[team])
        assert connection["extra"]["endpoint_url"] == stack.s3.endpoint_url
    assert stack.airflow_ml.env()["MLFLOW_TRACKING_URI"] == stack.mlflow.tracking_uri
    assert "MLFLOW_TRACKING_URI" not in stack.airflow_data.env()


def test_deployments_do_not_share_ports_or_homes(tmp_path: Path) -> None:
    """The two deployments differ in home, API port, execution API URL and both log server ports."""
    stack = Stack(StackConfig.ephemeral(tmp_path))
    data, ml = stack.airflow_data.env(), stack.airflow_ml.env()
    for key in (
        "AIRFLOW_HOME",
        "AIRFLOW__API__PORT",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
        "AIRFLOW__CORE__DAGS_FOLDER",
    ):
        assert data[key] != ml[key], key
    assert ml["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"{stack.airflow_ml.base_url}/execution/"


def test_taken_port_is_named_before_anything_starts(tmp_path: Path) -> None:
    """up() refuses to start when a port is taken, naming the component and port, and starts nothing."""
    import socket

    stack = Stack(StackConfig.ephemeral(tmp_path))
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", stack.config.ports.mlflow))
        blocker.listen()
        with pytest.raises(StackError, match=rf"mlflow: \[{stack.config.ports.mlflow}\]"):
            stack.up()
    assert not any(status.pid for status in stack.status())


def test_down_without_up_is_harmless(tmp_path: Path) -> None:
    """down() on a stack that never started does nothing and raises nothing."""
    Stack(StackConfig.ephemeral(tmp_path)).down()


def test_unknown_component_is_named(tmp_path: Path) -> None:
    """Asking for an unknown component names it and the known ones."""
    with pytest.raises(KeyError, match=r"'kafka'.*airflow-ml"):
        Stack(StackConfig.ephemeral(tmp_path)).component("kafka")


def _token(url: str, user: str, password: str) -> str:
    request = urllib.request.Request(
        f"{url}/auth/token",
        data=json.dumps({"username": user, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["access_token"]


def _dag_ids(url: str, token: str) -> list[str]:
    request = urllib.request.Request(f"{url}/api/v2/dags", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return [dag["dag_id"] for dag in json.load(response)["dags"]]


def test_stack_starts_serves_and_stops(tmp_path: Path) -> None:
    """A whole stack on free ports comes up healthy, serves each team's DAG, and leaves no process behind."""
    config = StackConfig.ephemeral(tmp_path)
    with Stack(config) as stack:
        assert all(status.healthy for status in stack.status())
        pids = {status.name: status.pid for status in stack.status()}
        Stack(config).up(timeout=30)  # a second up() finds everything running and changes nothing
        assert {status.name: status.pid for status in stack.status()} == pids
        expected = {config.airflow_data_url: "housing_producer", config.airflow_ml_url: "housing_consumer"}
        for url, dag_id in expected.items():
            token = _token(url, config.airflow_user, config.airflow_password)
            assert _dag_ids(url, token) == [dag_id]
        with pytest.raises(urllib.error.HTTPError, match="401"):
            _token(config.airflow_ml_url, config.airflow_user, "wrong password")
    assert not any(status.pid for status in stack.status())
    assert all(port_free for port_free in _ports_free(stack))
    assert not list((tmp_path / "run").glob("*.pid"))


def _ports_free(stack: Stack) -> list[bool]:
    from housing_stack.ports import port_is_free

    return [port_is_free(port) for name in COMPONENTS for port in stack.ports_of(name)]


def test_free_ports_avoid_the_ephemeral_range() -> None:
    """free_ports draws below Linux's ephemeral range, so the kernel never hands them out meanwhile."""
    low, _high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert all(port < low for port in free_ports(20))
