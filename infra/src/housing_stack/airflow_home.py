"""What every process of one team's Airflow deployment shares, however it is run (``airflow standalone``
or one process per component): its ``AIRFLOW_HOME``, ports, DAGs folder, S3 connection, logins, and
the health its API server reports."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from housing_stack.identities import AirflowRole, Credentials, Login
from housing_stack.settings import DEFAULTS

#: The connection both teams read the lake through (infra/DESIGN.md; each team's include/.../settings.py
#: defines the same id, which infra/tests/test_airflow_standalone.py checks).
LAKE_CONN_ID = "lake_s3"
#: The connection through which the ML team reaches MLflow as its own user (the ML team's settings define
#: the same id, checked by the same test).
MLFLOW_CONN_ID = "mlflow"
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


def mlflow_connection(login: Login, tracking_uri: str) -> str:
    """The ``mlflow`` connection (type ``http``: the tracking server and the user it is reached as) in
    Airflow's JSON form, for ``AIRFLOW_CONN_MLFLOW``."""
    scheme, _, address = tracking_uri.partition("://")
    host, _, port = address.rstrip("/").partition(":")
    return json.dumps(
        {
            "conn_type": "http",
            "schema": scheme,
            "host": host,
            "port": int(port),
            "login": login.user,
            "password": login.password,
        }
    )


@dataclass(frozen=True)
class DeploymentPorts:
    """The ports one deployment binds: the API server, and the worker and triggerer log servers."""

    api: int
    worker_log: int
    trigger_log: int


@dataclass(frozen=True)
class DeploymentSummary:
    """What ``make status`` says about one deployment as a whole."""

    executor: str
    database: str  #: where the metadata lives (no password)
    workers: int | None  #: Celery workers answering a ping; None where tasks run inside the scheduler
    expected_workers: int | None
    triggerers: int  #: triggerers heartbeating
    expected_triggerers: int


@dataclass
class AirflowHome:
    """One deployment's settings for the Astro project in ``project_dir`` (its ``dags/`` and ``include/``).

    ``environment`` holds the deployment's own variables (``AIRFLOW_CONN_LAKE_S3``, ``MLFLOW_TRACKING_URI``,
    ...); the rest (home, ports, auth, memory limits) is derived here. Subclasses add the metadata
    database and executor through :meth:`runtime_settings`.
    """

    name: str
    home: Path
    project_dir: Path
    ports: DeploymentPorts
    #: Its logins and their roles in the simple auth manager, the deployment's own admin first.
    accounts: Sequence[tuple[Login, AirflowRole]]
    environment: Mapping[str, str] = field(default_factory=dict)
    parallelism: int = int(DEFAULTS["AIRFLOW_PARALLELISM"])
    #: A second DAG folder served beside the project's ``dags/`` (the bench's floor DAGs), or None.
    extra_dags: Path | None = None

    def __post_init__(self) -> None:
        self.base_url = f"http://127.0.0.1:{self.ports.api}"

    @property
    def passwords_file(self) -> Path:
        return self.home / "simple_auth_manager_passwords.json"

    def runtime_settings(self) -> dict[str, str]:
        """The metadata database and executor variables (each way of running a deployment has its own)."""
        raise NotImplementedError

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
            # Airflow spawns `airflow ...` subprocesses by name
            "PATH": os.pathsep.join([bin_dir, inherited.get("PATH", "")]),
            # the project root on sys.path, as in Astro: `from include.housing_data import ...`
            "PYTHONPATH": os.pathsep.join(python_path),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.project_dir / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.project_dir / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # MLflow's usage telemetry sets and unsets an environment variable from a background thread
            # while its HTTP requests read the environment: a task's MLflow call failed with KeyError
            # '_MLFLOW_TELEMETRY_SESSION_ID' (and nothing outside loopback is reachable to send it to)
            "MLFLOW_DISABLE_TELEMETRY": "true",
            # new DAGs wait for an explicit unpause (make demo, the end-to-end test)
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # task slots of the deployment: memory (see .env.example)
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            # new and changed DAG files show up within seconds, not the default minutes
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.ports.api),
            # links in the UI and logs, and the deployment a consumer's watcher names in its subscription
            "AIRFLOW__API__BASE_URL": self.base_url,
            # the default points at 8080: tasks of another deployment would call the wrong API server
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.ports.worker_log),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.ports.trigger_log),
            # the simple auth manager reads users from here and passwords from the file write_home() writes
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{login.user}:{role.value}" for login, role in self.accounts
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            **self.runtime_settings(),
        }
        if self.extra_dags is not None:
            env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = self.dag_bundles()
        env.update(self.environment)
        return env

    def dag_bundles(self) -> str:
        """The project's ``dags/`` as the default ``dags-folder`` bundle plus :attr:`extra_dags` as a
        second local bundle (Airflow 3 parses and runs each bundle's DAGs the same way)."""
        local = "airflow.dag_processing.bundles.local.LocalDagBundle"
        return json.dumps(
            [
                {"name": "dags-folder", "classpath": local, "kwargs": {}},
                {"name": "extra-dags", "classpath": local, "kwargs": {"path": str(self.extra_dags)}},
            ]
        )

    @property
    def admin(self) -> Login:
        """The deployment's admin login."""
        return next(login for login, role in self.accounts if role is AirflowRole.ADMIN)

    def write_home(self) -> None:
        """The home folder and the accounts' password file (owner-only)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.passwords_file.touch(mode=0o600)
        self.passwords_file.write_text(json.dumps(dict(login for login, _ in self.accounts)) + "\n")

    def health(self) -> dict[str, str]:
        """Each component's status from ``/api/v2/monitor/health`` (empty if the API does not answer)."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=5) as response:
                body = json.load(response)
        except (OSError, ValueError):
            return {}
        return {name: (body.get(name) or {}).get("status") or "unknown" for name in HEALTH_COMPONENTS}

    def all_healthy(self) -> bool:
        """Whether the API answers and the database, scheduler, triggerer and dag processor are healthy."""
        health = self.health()
        return bool(health) and all(status == "healthy" for status in health.values())
