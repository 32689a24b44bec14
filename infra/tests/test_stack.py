"""The native stack as one unit: configuration, and a real start/stop on free ports in a temp dir."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from housing_stack.airflow_client import AirflowClient, AirflowError
from housing_stack.airflow_production import AirflowProduction
from housing_stack.identities import ADMIN, DATA_TEAM, ML_TEAM
from housing_stack.ports import free_ports
from housing_stack.process import ServerProcess, StackError
from housing_stack.settings import DEFAULTS, ensure_env_file
from housing_stack.stack import COMPONENTS, Profile, Stack, StackConfig, StackPorts, export_lines


def test_local_config_reads_the_env_file(tmp_path: Path) -> None:
    """StackConfig.local takes ports, keys and the Airflow user from .env, creating it if missing."""
    config = StackConfig.local(tmp_path / ".env", tmp_path / "state")
    settings = ensure_env_file(tmp_path / ".env")
    assert config.ports.s3.s3 == int(DEFAULTS["S3_PORT"])
    assert config.ports.airflow_ml.api == int(DEFAULTS["AIRFLOW_ML_PORT"])
    assert config.credentials[ML_TEAM].secret_key == settings["ML_TEAM_AWS_SECRET_ACCESS_KEY"]
    assert config.airflow_admin(DATA_TEAM) == (
        settings["AIRFLOW_DATA_USER"],
        settings["AIRFLOW_DATA_PASSWORD"],
    )
    assert config.mlflow_logins[ML_TEAM].password == settings["MLFLOW_ML_TEAM_PASSWORD"]


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
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "AIRFLOW_DATA_URL",
        "AIRFLOW_ML_URL",
        "AIRFLOW_DATA_USER",
        "AIRFLOW_DATA_PASSWORD",
        "AIRFLOW_ML_USER",
        "AIRFLOW_ML_PASSWORD",
    ]
    assert env["MLFLOW_TRACKING_USERNAME"] == ML_TEAM
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
    mlflow = json.loads(stack.airflow_ml.env()["AIRFLOW_CONN_MLFLOW"])
    assert f"{mlflow['schema']}://{mlflow['host']}:{mlflow['port']}" == stack.mlflow.tracking_uri
    assert (mlflow["login"], mlflow["password"]) == stack.config.mlflow_logins[ML_TEAM]
    assert not {"AIRFLOW_CONN_MLFLOW", "MLFLOW_TRACKING_URI"} & set(stack.airflow_data.env())


#: Variables the two deployments must never share; production adds its databases, broker and queue.
SEPARATE = (
    "AIRFLOW_HOME",
    "AIRFLOW__API__PORT",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT",
    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
)
SEPARATE_IN_PRODUCTION = (
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__OPERATORS__DEFAULT_QUEUE",
)


@pytest.mark.parametrize("profile", list(Profile), ids=str)
def test_deployments_share_no_port_home_database_broker_or_queue(tmp_path: Path, profile: Profile) -> None:
    """The two deployments differ in home, API port, execution API URL, log server ports and metadata
    database; in production also in result backend, broker database and queue."""
    stack = Stack(StackConfig.ephemeral(tmp_path, profile=profile))
    data, ml = stack.airflow_data.env(), stack.airflow_ml.env()
    for key in SEPARATE + (SEPARATE_IN_PRODUCTION if profile is Profile.PRODUCTION else ()):
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


def test_stack_starts_serves_and_stops(tmp_path: Path) -> None:
    """A whole stack on free ports comes up healthy, serves each team's DAGs (and only those), and leaves no
    process behind."""
    config = StackConfig.ephemeral(tmp_path)
    with Stack(config) as stack:
        assert all(status.healthy for status in stack.status())
        pids = {status.name: status.pid for status in stack.status()}
        Stack(config).up(timeout=30)  # a second up() finds everything running and changes nothing
        assert {status.name: status.pid for status in stack.status()} == pids
        expected = {
            config.airflow_data_url: ["housing_consumer_lag", "housing_producer"],
            config.airflow_ml_url: ["housing_consumer", "housing_freshness"],
        }
        for (url, dag_ids), team in zip(expected.items(), (DATA_TEAM, ML_TEAM), strict=True):
            client = AirflowClient(url, *config.airflow_admin(team))
            for dag_id in dag_ids:  # the DAG processor parses one file after the other
                client.wait_for_dag(dag_id)
            assert sorted(dag["dag_id"] for dag in client.request("GET", "/dags")["dags"]) == dag_ids
        with pytest.raises(AirflowError, match="login as 'ml-admin' failed: HTTP 401"):
            AirflowClient(
                config.airflow_ml_url, config.airflow_admin(ML_TEAM).user, "wrong password"
            ).request("GET", "/dags")
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


def _production(tmp_path: Path) -> Stack:
    return Stack(StackConfig.ephemeral(tmp_path, profile=Profile.PRODUCTION))


def test_production_ports_are_distinct(tmp_path: Path) -> None:
    """Every port of a production stack (servers, API servers, each worker's and triggerer's log server)
    is its own."""
    stack = _production(tmp_path)
    every = [port for name in stack.components for port in stack.ports_of(name)]
    assert (
        len(every) == len(set(every)) == 8 + 1 + 3 + 1 + 2 + 2 * 2 + 3
    )  # S3, Redis, PG, MLflow, APIs, workers, triggerers


def test_production_components(tmp_path: Path) -> None:
    """Per deployment: API server, scheduler, DAG processor, two Celery workers; one triggerer for the data
    team, two for the ML team; plus S3, Redis, three PostgreSQL clusters and MLflow."""
    names = list(_production(tmp_path).components)
    assert names[:6] == ["s3", "redis", "postgres-data", "postgres-ml", "postgres-mlflow", "mlflow"]
    roles = ["api-server", "scheduler", "dag-processor", "worker-1", "worker-2", "triggerer-1"]
    assert names[6:] == [f"airflow-data-{r}" for r in roles] + [
        f"airflow-ml-{r}" for r in [*roles, "triggerer-2"]
    ]


def test_production_runs_celery_on_postgresql(tmp_path: Path) -> None:
    """Both deployments run CeleryExecutor on PostgreSQL; MLflow's backend store is its own PostgreSQL."""
    stack = _production(tmp_path)
    data, ml = stack.airflow_data.env(), stack.airflow_ml.env()
    assert data["AIRFLOW__CORE__EXECUTOR"] == ml["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert data["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert stack.mlflow.process.env["MLFLOW_BACKEND_STORE_URI"].startswith("postgresql+psycopg2://")
    assert (
        str(stack.config.ports.production.postgres_mlflow)
        in stack.mlflow.process.env["MLFLOW_BACKEND_STORE_URI"]
    )


def test_each_worker_and_triggerer_serves_logs_on_its_own_port(tmp_path: Path) -> None:
    """Two workers or two triggerers of one deployment never bind the same log server port."""
    stack = _production(tmp_path)
    for deployment in (stack.airflow_data, stack.airflow_ml):
        assert isinstance(deployment, AirflowProduction)
        worker_ports = [
            s.process.env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]  # type: ignore[index]
            for name, s in deployment.servers.items()
            if "-worker-" in name
        ]
        trigger_ports = [
            s.process.env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"]  # type: ignore[index]
            for name, s in deployment.servers.items()
            if "-triggerer-" in name
        ]
        assert len(set(worker_ports)) == len(worker_ports) == 2
        assert len(set(trigger_ports)) == len(trigger_ports)


def test_profiles_keep_their_state_apart(tmp_path: Path) -> None:
    """make up's production profile keeps state, logs and pid files under its own folder."""
    embedded = StackConfig.local(tmp_path / ".env", tmp_path / "state")
    production = StackConfig.local(tmp_path / ".env", tmp_path / "state", Profile.PRODUCTION)
    assert embedded.state_dir == tmp_path / "state"
    assert production.state_dir == tmp_path / "state" / "production"
    assert production.ports.production.redis == int(DEFAULTS["REDIS_PORT"])


def test_missing_redis_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without redis-server on PATH, a production stack fails before starting anything, naming the binary
    and `make install-servers`."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(StackError, match=r"redis-server is not installed.*`make install-servers`"):
        _production(tmp_path)


def test_recorded_config_round_trips(tmp_path: Path) -> None:
    """The config a started stack records for its supervisor reads back equal."""
    config = StackConfig.ephemeral(tmp_path, profile=Profile.PRODUCTION, airflow_env={"A": "b"})
    config.record()
    assert StackConfig.recorded(tmp_path) == config
    assert (tmp_path / "run" / "stack.json").stat().st_mode & 0o077 == 0


def test_logs_select_components_by_prefix(tmp_path: Path) -> None:
    """`make logs COMPONENT=airflow-ml-triggerer` reads both triggerers' logs; `supervisor` its own."""
    stack = _production(tmp_path)
    assert [p.stem for p in stack.log_paths("airflow-ml-triggerer")] == [
        "airflow-ml-triggerer-1",
        "airflow-ml-triggerer-2",
    ]
    assert stack.log_paths("supervisor") == [stack.supervisor.log_path]
    assert len(stack.log_paths()) == len(stack.components) + 1


def test_component_of_names_the_component_a_process_belongs_to(tmp_path: Path) -> None:
    """A process started by a component (as a task by its Celery worker) is traced back to it by pid."""
    stack = Stack(StackConfig.ephemeral(tmp_path))
    parent = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    stack.mlflow.process = ServerProcess("mlflow", [sys.executable, "-c", parent], tmp_path / "m.log")
    stack.mlflow.process.start()
    try:
        leader = stack.mlflow.process.pid or 0
        stack.mlflow.process.wait_until(lambda: bool(_children(leader)), "running its child", 30)
        assert stack.component_of(_children(leader)[0]) == "mlflow"
        assert stack.component_of(os.getpid()) is None
    finally:
        stack.mlflow.process.stop(timeout=5)


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
