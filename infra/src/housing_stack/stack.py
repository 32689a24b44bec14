"""The joint stack: SeaweedFS S3, MLflow and the two teams' Airflow deployments, as one unit.

``Stack(StackConfig.local())`` is what ``make up`` runs (ports and secrets from ``.env``, state in
``.local/``); ``Stack(StackConfig.ephemeral(tmp_path))`` is the same stack on free ports in a temp dir
for tests. Both stop everything they started, even when starting fails.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path

from housing_stack.airflow_standalone import (
    LAKE_CONN_ID,
    AirflowStandalone,
    DeploymentPorts,
    lake_connection,
)
from housing_stack.identities import (
    ADMIN,
    DATA_TEAM,
    IDENTITIES,
    ML_TEAM,
    Credentials,
    credentials_from_settings,
    generate_credentials,
)
from housing_stack.mlflow_server import MlflowServer
from housing_stack.ports import free_ports, port_is_free
from housing_stack.process import Server, StackError
from housing_stack.seaweedfs import SeaweedFS, SeaweedPorts
from housing_stack.settings import DEFAULTS, ENV_PATH, LOCAL_DIR, REGION, REPO_ROOT, ensure_env_file, require

#: Component names, in start order (``make logs COMPONENT=...``).
S3, MLFLOW, AIRFLOW_DATA, AIRFLOW_ML = "s3", "mlflow", "airflow-data", "airflow-ml"
COMPONENTS = (S3, MLFLOW, AIRFLOW_DATA, AIRFLOW_ML)
START_TIMEOUT = 420.0


@dataclass(frozen=True)
class StackPorts:
    """Every port the native stack binds on 127.0.0.1."""

    s3: SeaweedPorts
    mlflow: int
    airflow_data: DeploymentPorts
    airflow_ml: DeploymentPorts

    @classmethod
    def from_settings(cls, settings: Mapping[str, str]) -> StackPorts:
        """The ports of ``.env`` / ``.env.example``."""

        def deployment(team: str) -> DeploymentPorts:
            keys = (
                f"AIRFLOW_{team}_PORT",
                f"AIRFLOW_{team}_WORKER_LOG_PORT",
                f"AIRFLOW_{team}_TRIGGER_LOG_PORT",
            )
            return DeploymentPorts(*(int(require(settings, key)) for key in keys))

        return cls(
            s3=SeaweedPorts.from_settings(settings),
            mlflow=int(require(settings, "MLFLOW_PORT")),
            airflow_data=deployment("DATA"),
            airflow_ml=deployment("ML"),
        )

    @classmethod
    def free(cls) -> StackPorts:
        """Distinct ports free on 127.0.0.1 now (for a stack started by a test)."""
        seaweed_count = len(fields(SeaweedPorts))
        ports = free_ports(seaweed_count + 7)
        rest = ports[seaweed_count:]
        return cls(
            s3=SeaweedPorts(*ports[:seaweed_count]),
            mlflow=rest[0],
            airflow_data=DeploymentPorts(*rest[1:4]),
            airflow_ml=DeploymentPorts(*rest[4:7]),
        )


@dataclass(frozen=True)
class StackConfig:
    """Everything that differs between ``make up`` and a test's stack."""

    state_dir: Path
    ports: StackPorts
    credentials: Mapping[str, Credentials]
    airflow_user: str
    airflow_password: str
    region: str = REGION
    #: LocalExecutor workers per Airflow deployment (memory: ~135 MB RSS each).
    airflow_parallelism: int = int(DEFAULTS["AIRFLOW_PARALLELISM"])
    #: The monorepo whose ``data-team/`` and ``ml-team/`` Astro projects the deployments run.
    repo_root: Path = REPO_ROOT
    #: Extra variables for both Airflow deployments (e.g. HOUSING_DATASET_URI for a private prefix).
    airflow_env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def local(cls, env_path: Path = ENV_PATH, state_dir: Path = LOCAL_DIR) -> StackConfig:
        """``make up``'s stack: ``.env`` (made from ``.env.example`` on first use), state in ``.local/``."""
        settings = ensure_env_file(env_path)
        return cls(
            state_dir=state_dir,
            ports=StackPorts.from_settings(settings),
            credentials=credentials_from_settings(settings),
            airflow_user=require(settings, "AIRFLOW_USER"),
            airflow_password=require(settings, "AIRFLOW_PASSWORD"),
            region=require(settings, "AWS_DEFAULT_REGION"),
            airflow_parallelism=int(require(settings, "AIRFLOW_PARALLELISM")),
        )

    @classmethod
    def ephemeral(cls, state_dir: Path, **overrides: object) -> StackConfig:
        """A private stack for tests: free ports, random secrets, state under ``state_dir``."""
        password = generate_credentials(["airflow"])["airflow"].secret_key
        values: dict[str, object] = {
            "state_dir": Path(state_dir),
            "ports": StackPorts.free(),
            "credentials": generate_credentials(),
            "airflow_user": "admin",
            "airflow_password": password,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def s3_endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.s3.s3}"

    @property
    def mlflow_tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.ports.mlflow}"

    @property
    def airflow_data_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.airflow_data.api}"

    @property
    def airflow_ml_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.airflow_ml.api}"


@dataclass(frozen=True)
class ComponentStatus:
    """One line of ``make status``."""

    name: str
    pid: int | None
    url: str
    healthy: bool
    log_path: Path


class Stack:
    """The four components of the native stack; a context manager that stops them on exit."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        state = config.state_dir
        logs, run = self._logs, self._run = state / "logs", state / "run"
        self.s3 = SeaweedFS(
            state / "seaweedfs",
            config.ports.s3,
            config.credentials,
            region=config.region,
            log_path=logs / f"{S3}.log",
            pid_path=run / f"{S3}.pid",
        )
        self.mlflow = MlflowServer(
            state / "mlflow",
            config.ports.mlflow,
            self.s3.env_for(ML_TEAM),
            log_path=logs / f"{MLFLOW}.log",
            pid_path=run / f"{MLFLOW}.pid",
        )
        self.airflow_data = self._deployment(DATA_TEAM, AIRFLOW_DATA, config.ports.airflow_data, {})
        self.airflow_ml = self._deployment(
            ML_TEAM, AIRFLOW_ML, config.ports.airflow_ml, {"MLFLOW_TRACKING_URI": self.mlflow.tracking_uri}
        )

    def _deployment(
        self, team: str, component: str, ports: DeploymentPorts, environment: dict[str, str]
    ) -> AirflowStandalone:
        """``team``'s Airflow: its project folder, its S3 identity in ``lake_s3``, ``environment`` added."""
        config = self.config
        lake = lake_connection(config.credentials[team], self.s3.endpoint_url, config.region)
        return AirflowStandalone(
            name=f"Airflow {team}",
            home=config.state_dir / component,
            project_dir=config.repo_root / team,
            ports=ports,
            user=config.airflow_user,
            password=config.airflow_password,
            environment={f"AIRFLOW_CONN_{LAKE_CONN_ID.upper()}": lake, **environment, **config.airflow_env},
            parallelism=config.airflow_parallelism,
            log_path=self._logs / f"{component}.log",
            pid_path=self._run / f"{component}.pid",
        )

    @property
    def components(self) -> dict[str, Server]:
        """Name -> server, in start order."""
        return {
            S3: self.s3,
            MLFLOW: self.mlflow,
            AIRFLOW_DATA: self.airflow_data,
            AIRFLOW_ML: self.airflow_ml,
        }

    def component(self, name: str) -> Server:
        try:
            return self.components[name]
        except KeyError:
            raise KeyError(f"unknown stack component {name!r}; expected one of {list(COMPONENTS)}") from None

    def up(self, timeout: float = START_TIMEOUT) -> Stack:
        """Start whatever is not running and wait until all is healthy; on failure stop everything.

        S3 first (the others need it); then MLflow and both Airflows start side by side.
        """
        self._check_ports()
        try:
            self.s3.launch()
            self.s3.wait_ready(timeout)
            others = [self.mlflow, self.airflow_data, self.airflow_ml]
            for component in others:
                component.launch()
            for component in others:
                component.wait_ready(timeout)
        except BaseException:
            self.down()
            raise
        return self

    def ports_of(self, name: str) -> list[int]:
        """The ports component ``name`` binds."""
        ports = self.config.ports
        deployment = {AIRFLOW_DATA: ports.airflow_data, AIRFLOW_ML: ports.airflow_ml}.get(name)
        if deployment is not None:
            return [deployment.api, deployment.worker_log, deployment.trigger_log]
        return list(ports.s3) if name == S3 else [ports.mlflow]

    def _check_ports(self) -> None:
        """Fail before starting anything if a component that is not running would find its port taken."""
        taken = {
            name: busy
            for name, component in self.components.items()
            if not component.process.is_running()
            and (busy := [port for port in self.ports_of(name) if not port_is_free(port)])
        }
        if taken:
            described = "; ".join(f"{name}: {ports}" for name, ports in taken.items())
            raise StackError(
                f"ports already in use on 127.0.0.1 ({described}); expected them free. Another stack "
                "(make down) or another program holds them; change them in .env"
            )

    def down(self) -> None:
        """Stop every component this stack's pid files name: S3 last, the others side by side (each
        Airflow may take its full SIGTERM grace period)."""
        errors: list[str] = []

        def stop(component: Server) -> None:
            try:
                component.stop()
            except StackError as error:
                errors.append(str(error))

        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(stop, [self.airflow_ml, self.airflow_data, self.mlflow]))
        stop(self.s3)
        if errors:
            raise StackError("; ".join(errors))

    def status(self) -> list[ComponentStatus]:
        """Pid, URL and health of each component."""
        urls = {
            S3: self.s3.endpoint_url,
            MLFLOW: self.mlflow.tracking_uri,
            AIRFLOW_DATA: self.airflow_data.base_url,
            AIRFLOW_ML: self.airflow_ml.base_url,
        }
        return [
            ComponentStatus(name, c.process.pid, urls[name], c.healthy(), c.process.log_path)
            for name, c in self.components.items()
        ]

    def env(self) -> dict[str, str]:
        """What ``make -s env`` exports: endpoints, the admin's and each team's keys, the Airflow user."""
        config = self.config
        admin = config.credentials[ADMIN]
        values = {
            "AWS_ENDPOINT_URL": config.s3_endpoint_url,
            "AWS_ACCESS_KEY_ID": admin.access_key,
            "AWS_SECRET_ACCESS_KEY": admin.secret_key,
            "AWS_DEFAULT_REGION": config.region,
        }
        for identity in IDENTITIES:
            if identity.name != ADMIN:
                key = config.credentials[identity.name]
                values[identity.access_key_var] = key.access_key
                values[identity.secret_key_var] = key.secret_key
        values.update(
            {
                "MLFLOW_TRACKING_URI": config.mlflow_tracking_uri,
                "AIRFLOW_DATA_URL": config.airflow_data_url,
                "AIRFLOW_ML_URL": config.airflow_ml_url,
                "AIRFLOW_USER": config.airflow_user,
                "AIRFLOW_PASSWORD": config.airflow_password,
            }
        )
        return values

    def __enter__(self) -> Stack:
        return self.up()

    def __exit__(self, *exc_info: object) -> None:
        self.down()


def export_lines(values: Mapping[str, str]) -> str:
    """``export KEY=value`` lines, shell-quoted."""
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in values.items())
