"""One team's Airflow deployment as ``airflow standalone`` (scheduler, dag processor, triggerer, API
server) with its own ``AIRFLOW_HOME``, ports, DAGs folder and S3 identity."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from housing_stack.identities import Credentials
from housing_stack.process import Server, ServerProcess, StackError
from housing_stack.settings import DEFAULTS

#: The connection both teams read the lake through (infra/DESIGN.md; each team's include/.../settings.py
#: defines the same id, which infra/tests/test_airflow_standalone.py checks).
LAKE_CONN_ID = "lake_s3"
#: Role given to the stack's user by the simple auth manager.
USER_ROLE = "admin"
#: ~20-30 s on 2 idle cores; much longer while other deployments parse and run.
START_TIMEOUT = 300.0
#: Components of one deployment reported by GET /api/v2/monitor/health.
HEALTH_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def lake_connection(credentials: Credentials, endpoint_url: str, region: str) -> str:
    """The ``lake_s3`` connection (type ``aws``) in Airflow's JSON form, for ``AIRFLOW_CONN_LAKE_S3``."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": credentials.access_key,
            "password": credentials.secret_key,
            "extra": {"endpoint_url": endpoint_url, "region_name": region},
        }
    )


@dataclass(frozen=True)
class DeploymentPorts:
    """The ports one deployment binds: the API server, and the worker and triggerer log servers."""

    api: int
    worker_log: int
    trigger_log: int


@dataclass
class AirflowStandalone(Server):
    """``airflow standalone`` for the Astro project in ``project_dir`` (its ``dags/`` and ``include/``).

    ``environment`` holds the deployment's own variables (``AIRFLOW_CONN_LAKE_S3``, ``MLFLOW_TRACKING_URI``,
    ...); the rest (home, ports, auth, memory limits) is derived here.
    """

    name: str
    home: Path
    project_dir: Path
    ports: DeploymentPorts
    user: str
    password: str
    environment: Mapping[str, str] = field(default_factory=dict)
    parallelism: int = int(DEFAULTS["AIRFLOW_PARALLELISM"])
    log_path: Path | None = None
    pid_path: Path | None = None

    start_timeout = START_TIMEOUT
    stop_timeout = 30.0

    def __post_init__(self) -> None:
        self.base_url = f"http://127.0.0.1:{self.ports.api}"
        bin_dir = Path(sys.executable).parent
        airflow = bin_dir / "airflow"
        if not airflow.exists():
            raise StackError(f"{self.name}: 'airflow' not found beside {sys.executable}; run make setup")
        self.process = ServerProcess(
            name=self.name,
            command=[str(airflow), "standalone"],
            log_path=self.log_path or self.home / "standalone.log",
            pid_path=self.pid_path,
            env=self.env(),
            cwd=self.home,
        )

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json"

    def env(self) -> dict[str, str]:
        """The full environment of the deployment's processes (its tasks inherit it)."""
        bin_dir = str(Path(sys.executable).parent)
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "AWS_", "MLFLOW_", "HOUSING_"))
        }
        python_path = [str(self.project_dir), *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {
            **inherited,
            # standalone spawns `airflow ...` subprocesses by name
            "PATH": os.pathsep.join([bin_dir, inherited.get("PATH", "")]),
            # the project root on sys.path, as in Astro: `from include.housing_data import ...`
            "PYTHONPATH": os.pathsep.join(python_path),
            "AIRFLOW_HOME": str(self.home),
            # sqlite waits 5 s for a lock by default; on 2 busy cores the triggerer then died with
            # "database is locked" (seen in the end-to-end test), so wait up to a minute
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}?timeout=60",
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.project_dir / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.project_dir / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # new DAGs wait for an explicit unpause (make demo, the end-to-end test)
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # LocalExecutor forks this many workers up front: memory (see .env.example)
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            # new and changed DAG files show up within seconds, not the default minutes
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.ports.api),
            # the default points at 8080: tasks of another deployment would call the wrong API server
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.ports.worker_log),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.ports.trigger_log),
            # the simple auth manager reads users from here and passwords from the file start() writes
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.user}:{USER_ROLE}",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
        }
        env.update(self.environment)
        return env

    def health(self) -> dict[str, str]:
        """Each component's status from ``/api/v2/monitor/health`` (empty if the API does not answer)."""
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=5) as response:
                body = json.load(response)
        except (OSError, ValueError):
            return {}
        return {name: (body.get(name) or {}).get("status") or "unknown" for name in HEALTH_COMPONENTS}

    def healthy(self) -> bool:
        """Whether the API answers and the database, scheduler, triggerer and dag processor are healthy."""
        health = self.health()
        return bool(health) and all(status == "healthy" for status in health.values())

    def prepare(self) -> None:
        """The home folder and the user's password file (owner-only)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.passwords_file.write_text(json.dumps({self.user: self.password}) + "\n")
        self.passwords_file.chmod(0o600)

    def wait_ready(self, timeout: float | None = START_TIMEOUT) -> None:
        """Wait until every component reports healthy; the error names the ones that are not."""
        timeout = START_TIMEOUT if timeout is None else timeout
        try:
            self.process.wait_until(self.healthy, "healthy", timeout, interval=2.0)
        except StackError as error:
            health = self.health() or {"api-server": "not answering"}
            unhealthy = {name: status for name, status in health.items() if status != "healthy"}
            raise StackError(f"{error}\nunhealthy components: {unhealthy}") from None

    def token(self) -> str:
        """A JWT for the REST API from ``POST /auth/token`` with the stack's user and password."""
        import urllib.request

        request = urllib.request.Request(
            f"{self.base_url}/auth/token",
            data=json.dumps({"username": self.user, "password": self.password}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["access_token"]
