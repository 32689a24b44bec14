"""The joint stack: SeaweedFS S3, MLflow and the two teams' Airflow deployments, as one unit, in one of
two profiles:

- ``embedded`` (default): each deployment is ``airflow standalone`` (SQLite, LocalExecutor); MLflow on
  SQLite.
- ``production``: each deployment runs on its own PostgreSQL cluster with CeleryExecutor (Redis broker,
  its own queue and database number, two Celery workers), scheduler, API server, DAG processor and
  triggerers as separate processes (two triggerers in the ML team's); MLflow on its own PostgreSQL.

``Stack(StackConfig.local())`` is what ``make up`` runs (ports and secrets from ``.env``, state in
``.local/``, ``.local/production/`` for the production profile); ``Stack(StackConfig.ephemeral(tmp_path))``
is the same stack on free ports in a temp dir for tests. Both stop everything they started, even when
starting fails. Once up, a supervisor process restarts any component that exits on its own.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from housing_stack.airflow_home import (
    LAKE_CONN_ID,
    MLFLOW_CONN_ID,
    AirflowHome,
    DeploymentPorts,
    DeploymentSummary,
    lake_connection,
    mlflow_connection,
)
from housing_stack.airflow_production import AirflowProduction
from housing_stack.airflow_standalone import AirflowStandalone
from housing_stack.identities import (
    ADMIN,
    AIRFLOW_ACCOUNTS,
    DATA_TEAM,
    ML_TEAM,
    MLFLOW_ADMIN_USER_VAR,
    Credentials,
    Login,
    airflow_accounts,
    airflow_admin,
    airflow_logins_from_settings,
    all_identities,
    credentials_from_settings,
    generate_credentials,
    generate_mlflow_logins,
    mlflow_logins_from_settings,
    team_accounts,
)
from housing_stack.mlflow_server import MlflowServer
from housing_stack.ports import free_ports, port_is_free
from housing_stack.postgres import PostgresServer
from housing_stack.process import Server, ServerProcess, StackError, ancestors, stop_processes
from housing_stack.redis_server import RedisServer
from housing_stack.seaweedfs import SeaweedFS, SeaweedPorts
from housing_stack.settings import DEFAULTS, ENV_PATH, LOCAL_DIR, REGION, REPO_ROOT, ensure_env_file, require
from housing_stack.supervisor import Restart, hold_path, read_restarts
from housing_stack.teams import ConsumerTeam, TeamPorts, registered_teams, team_settings

#: Component names (``make logs COMPONENT=...``); a production deployment's processes are named
#: ``airflow-data-scheduler``, ``airflow-ml-triggerer-2``, ... (a prefix selects them all).
S3, MLFLOW, AIRFLOW_DATA, AIRFLOW_ML = "s3", "mlflow", "airflow-data", "airflow-ml"
COMPONENTS = (S3, MLFLOW, AIRFLOW_DATA, AIRFLOW_ML)
REDIS, POSTGRES_DATA, POSTGRES_ML, POSTGRES_MLFLOW = (
    "redis",
    "postgres-data",
    "postgres-ml",
    "postgres-mlflow",
)
SUPERVISOR = "supervisor"
START_TIMEOUT = 420.0
#: SIGTERM grace for processes of the stack that outlived their component (then SIGKILL).
STOP_TIMEOUT = 10.0


class Profile(StrEnum):
    EMBEDDED = "embedded"
    PRODUCTION = "production"


def profile_state_dir(base: Path, profile: Profile) -> Path:
    """Each profile's state under its own folder: ``base`` itself for embedded, ``base/production``."""
    return base if profile is Profile.EMBEDDED else base / profile.value


@dataclass(frozen=True)
class ProductionPorts:
    """The ports only the production profile binds (``.env`` keys in :data:`PRODUCTION_PORT_KEYS`)."""

    redis: int
    postgres_data: int
    postgres_ml: int
    postgres_mlflow: int
    data_worker_2_log: int
    ml_worker_2_log: int
    ml_trigger_2_log: int


PRODUCTION_PORT_KEYS = (
    "REDIS_PORT",
    "POSTGRES_DATA_PORT",
    "POSTGRES_ML_PORT",
    "POSTGRES_MLFLOW_PORT",
    "AIRFLOW_DATA_WORKER_2_LOG_PORT",
    "AIRFLOW_ML_WORKER_2_LOG_PORT",
    "AIRFLOW_ML_TRIGGER_2_LOG_PORT",
)


@dataclass(frozen=True)
class StackPorts:
    """Every port the native stack binds on 127.0.0.1."""

    s3: SeaweedPorts
    mlflow: int
    airflow_data: DeploymentPorts
    airflow_ml: DeploymentPorts
    production: ProductionPorts

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
            production=ProductionPorts(*(int(require(settings, key)) for key in PRODUCTION_PORT_KEYS)),
        )

    @classmethod
    def free(cls) -> StackPorts:
        """Distinct ports free on 127.0.0.1 now (for a stack started by a test)."""
        seaweed_count, production_count = len(fields(SeaweedPorts)), len(fields(ProductionPorts))
        ports = free_ports(seaweed_count + 7 + production_count)
        rest = ports[seaweed_count:]
        return cls(
            s3=SeaweedPorts(*ports[:seaweed_count]),
            mlflow=rest[0],
            airflow_data=DeploymentPorts(*rest[1:4]),
            airflow_ml=DeploymentPorts(*rest[4:7]),
            production=ProductionPorts(*rest[7:]),
        )


def _secret() -> str:
    return generate_credentials(["secret"])["secret"].secret_key


@dataclass(frozen=True)
class StackConfig:
    """Everything that differs between ``make up`` and a test's stack."""

    state_dir: Path
    ports: StackPorts
    credentials: Mapping[str, Credentials]
    #: Each Airflow account's login, by its ``.env`` prefix (``AIRFLOW_DATA``, ``AIRFLOW_ML_READER``, ...).
    airflow_logins: Mapping[str, Login]
    #: MLflow's users: ``admin`` and each team's.
    mlflow_logins: Mapping[str, Login]
    #: The key MLflow's Flask app signs its sessions with.
    mlflow_flask_secret: str
    profile: Profile = Profile.EMBEDDED
    region: str = REGION
    #: Task slots per Airflow deployment (memory: ~135 MB RSS each under LocalExecutor).
    airflow_parallelism: int = int(DEFAULTS["AIRFLOW_PARALLELISM"])
    #: Production profile: tasks one Celery worker runs at once.
    worker_concurrency: int = int(DEFAULTS["AIRFLOW_WORKER_CONCURRENCY"])
    #: Production profile: the PostgreSQL superuser of every cluster, and the Redis password.
    postgres_user: str = DEFAULTS["POSTGRES_USER"]
    postgres_password: str = field(default_factory=_secret)
    redis_password: str = field(default_factory=_secret)
    #: The monorepo whose ``data-team/`` and ``ml-team/`` Astro projects the deployments run.
    repo_root: Path = REPO_ROOT
    #: Extra variables for both Airflow deployments (e.g. HOUSING_DATASET_URI for a private prefix).
    airflow_env: Mapping[str, str] = field(default_factory=dict)
    #: Team (``data-team``/``ml-team``) → a DAG folder its deployment serves beside the project's (the
    #: bench's floor DAGs); empty for ``make up``.
    extra_dags: Mapping[str, Path] = field(default_factory=dict)
    #: Consuming teams added with ``make new-consumer``, each a deployment of its own (embedded profile).
    teams: tuple[ConsumerTeam, ...] = ()

    @classmethod
    def local(
        cls, env_path: Path = ENV_PATH, state_dir: Path = LOCAL_DIR, profile: Profile = Profile.EMBEDDED
    ) -> StackConfig:
        """``make up``'s stack: ``.env`` (made from ``.env.example`` on first use), state in ``.local/``
        (the production profile in ``.local/production/``)."""
        registered = registered_teams() if profile is Profile.EMBEDDED else ()
        settings = ensure_env_file(env_path, extra=team_settings())
        teams = tuple(
            ConsumerTeam(
                team.name,
                team.majors,
                team.project_dir,
                TeamPorts(
                    *(
                        int(require(settings, f"AIRFLOW_{team.env_prefix}_{key}PORT"))
                        for key in ("", "WORKER_LOG_", "TRIGGER_LOG_")
                    )
                ),
            )
            for team in registered
        )
        return cls(
            teams=teams,
            state_dir=profile_state_dir(state_dir, profile),
            ports=StackPorts.from_settings(settings),
            credentials=credentials_from_settings(settings),
            airflow_logins=airflow_logins_from_settings(settings),
            mlflow_logins=mlflow_logins_from_settings(settings),
            mlflow_flask_secret=require(settings, "MLFLOW_FLASK_SECRET_KEY"),
            profile=profile,
            region=require(settings, "AWS_DEFAULT_REGION"),
            airflow_parallelism=int(require(settings, "AIRFLOW_PARALLELISM")),
            worker_concurrency=int(require(settings, "AIRFLOW_WORKER_CONCURRENCY")),
            postgres_user=require(settings, "POSTGRES_USER"),
            postgres_password=require(settings, "POSTGRES_PASSWORD"),
            redis_password=require(settings, "REDIS_PASSWORD"),
        )

    @classmethod
    def ephemeral(cls, state_dir: Path, **overrides: object) -> StackConfig:
        """A private stack for tests: free ports, random secrets, state under ``state_dir``."""
        values: dict[str, object] = {
            "state_dir": Path(state_dir),
            "ports": StackPorts.free(),
            "credentials": generate_credentials(),
            "airflow_logins": {
                a.env_prefix: Login(DEFAULTS[a.user_var], _secret()) for a in AIRFLOW_ACCOUNTS
            },
            "mlflow_logins": generate_mlflow_logins(DEFAULTS[MLFLOW_ADMIN_USER_VAR]),
            "mlflow_flask_secret": _secret(),
        }
        values.update(overrides)
        teams: tuple[ConsumerTeam, ...] = tuple(values.get("teams", ()))  # type: ignore[arg-type]
        if teams:  # their keys and logins, unless given
            credentials = dict(values["credentials"])  # type: ignore[call-overload]
            logins = dict(values["airflow_logins"])  # type: ignore[call-overload]
            for team in teams:
                credentials.setdefault(team.name, Credentials.generate(team.name))
                for account in team_accounts(team):
                    user = team.settings()[account.user_var]
                    logins.setdefault(account.env_prefix, Login(user, _secret()))
            values.update(credentials=credentials, airflow_logins=logins)
        return cls(**values)  # type: ignore[arg-type]

    @classmethod
    def recorded(cls, state_dir: Path) -> StackConfig:
        """The config a started stack wrote to ``<state_dir>/run/stack.json`` (for its supervisor)."""
        values = json.loads((state_dir / "run" / "stack.json").read_text())
        ports = values["ports"]
        values.update(
            state_dir=Path(values["state_dir"]),
            repo_root=Path(values["repo_root"]),
            profile=Profile(values["profile"]),
            credentials={name: Credentials(*pair) for name, pair in values["credentials"].items()},
            airflow_logins={name: Login(*pair) for name, pair in values["airflow_logins"].items()},
            mlflow_logins={name: Login(*pair) for name, pair in values["mlflow_logins"].items()},
            ports=StackPorts(
                s3=SeaweedPorts(**ports["s3"]),
                mlflow=ports["mlflow"],
                airflow_data=DeploymentPorts(**ports["airflow_data"]),
                airflow_ml=DeploymentPorts(**ports["airflow_ml"]),
                production=ProductionPorts(**ports["production"]),
            ),
            teams=tuple(
                ConsumerTeam(t["name"], tuple(t["majors"]), Path(t["project_dir"]), TeamPorts(**t["ports"]))
                for t in values.get("teams", ())
            ),
        )
        return cls(**values)

    def record(self) -> None:
        """Write this config (secrets included, owner-only) where :meth:`recorded` reads it."""
        path = self.state_dir / "run" / "stack.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(asdict(self), default=str, indent=1))

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

    def team(self, name: str) -> ConsumerTeam:
        """The consuming team ``name`` of :attr:`teams`."""
        try:
            return next(team for team in self.teams if team.name == name)
        except StopIteration:
            known = [t.name for t in self.teams]
            raise KeyError(f"no team {name!r} in this stack; expected one of {known}") from None

    def airflow_url(self, team: str) -> str:
        """The API server of ``team``'s deployment."""
        if team in (DATA_TEAM, ML_TEAM):
            return self.airflow_data_url if team == DATA_TEAM else self.airflow_ml_url
        return f"http://127.0.0.1:{self.team(team).ports.api}"

    def airflow_admin(self, team: str) -> Login:
        """The admin login of ``team``'s deployment."""
        if team in (DATA_TEAM, ML_TEAM):
            return self.airflow_logins[airflow_admin(team).env_prefix]
        return self.airflow_logins[team_accounts(self.team(team))[0].env_prefix]


@dataclass(frozen=True)
class ComponentStatus:
    """One line of ``make status``."""

    name: str
    pid: int | None
    url: str
    healthy: bool
    log_path: Path


class Deployment(Protocol):
    """One team's Airflow, whichever profile: started in two steps like every component."""

    base_url: str

    def launch(self) -> None: ...
    def wait_ready(self, timeout: float | None = None) -> None: ...
    def stop(self) -> None: ...
    def env(self) -> dict[str, str]: ...
    def summary(self) -> DeploymentSummary: ...


class Stack:
    """The components of the native stack; a context manager that stops them on exit."""

    def __init__(self, config: StackConfig) -> None:
        self.config = config
        state = config.state_dir
        self.logs_dir, self.run_dir = state / "logs", state / "run"
        production = config.profile is Profile.PRODUCTION
        #: Servers started before the others (which need them), side by side.
        self.foundation: dict[str, Server] = {}
        self.s3 = self.foundation[S3] = SeaweedFS(
            state / "seaweedfs", config.ports.s3, config.credentials, region=config.region, **self._files(S3)
        )
        backend_store_uri = auth_database_uri = None
        if production:
            ports = config.ports.production
            self.redis = self.foundation[REDIS] = RedisServer(
                state / REDIS, ports.redis, config.redis_password, **self._files(REDIS)
            )
            for name, port, databases in (
                (POSTGRES_DATA, ports.postgres_data, ("airflow",)),
                (POSTGRES_ML, ports.postgres_ml, ("airflow",)),
                (POSTGRES_MLFLOW, ports.postgres_mlflow, ("mlflow", "mlflow_auth")),
            ):
                self.foundation[name] = PostgresServer(
                    f"PostgreSQL {name.removeprefix('postgres-')}",
                    state / name,
                    port,
                    config.postgres_user,
                    config.postgres_password,
                    list(databases),
                    **self._files(name),
                )
            backend_store_uri = self.postgres(POSTGRES_MLFLOW).url("mlflow", "postgresql+psycopg2")
            auth_database_uri = self.postgres(POSTGRES_MLFLOW).url("mlflow_auth", "postgresql+psycopg2")
        self.mlflow = MlflowServer(
            state / "mlflow",
            config.ports.mlflow,
            self.s3.env_for(ML_TEAM),
            config.mlflow_logins,
            config.mlflow_flask_secret,
            backend_store_uri=backend_store_uri,
            auth_database_uri=auth_database_uri,
            **self._files(MLFLOW),
        )
        self.airflow_data = self._deployment(DATA_TEAM, AIRFLOW_DATA, {})
        mlflow = mlflow_connection(config.mlflow_logins[ML_TEAM], self.mlflow.tracking_uri)
        self.airflow_ml = self._deployment(
            ML_TEAM, AIRFLOW_ML, {f"AIRFLOW_CONN_{MLFLOW_CONN_ID.upper()}": mlflow}
        )
        #: Each consuming team's deployment (embedded profile), by component name (``airflow-<team>``).
        self.teams: dict[str, AirflowHome] = {
            team.component: self._team_deployment(team)
            for team in config.teams
            if config.profile is Profile.EMBEDDED
        }
        self.supervisor = ServerProcess(
            SUPERVISOR,
            [sys.executable, "-m", "housing_stack.supervise", str(state)],
            **self._files(SUPERVISOR),
        )
        # a process whose command line and environment would otherwise not name the state folder (MLflow
        # on PostgreSQL) is still found by ``leftovers`` and swept by ``down``
        for server in self.components.values():
            server.process.stack_tag = str(state)
        self.supervisor.stack_tag = str(state)

    def _files(self, name: str) -> dict[str, Path]:
        return {"log_path": self.logs_dir / f"{name}.log", "pid_path": self.run_dir / f"{name}.pid"}

    def postgres(self, name: str) -> PostgresServer:
        server = self.foundation[name]
        assert isinstance(server, PostgresServer)
        return server

    def _deployment(self, team: str, component: str, environment: dict[str, str]) -> AirflowHome:
        """``team``'s Airflow: its project folder, its S3 identity in ``lake_s3``, ``environment`` added."""
        config = self.config
        lake = lake_connection(config.credentials[team], self.s3.endpoint_url, config.region)
        ports = config.ports.airflow_data if team == DATA_TEAM else config.ports.airflow_ml
        common = {
            "name": f"Airflow {team}",
            "home": config.state_dir / component,
            "project_dir": config.repo_root / team,
            "ports": ports,
            "accounts": [(config.airflow_logins[a.env_prefix], a.role) for a in airflow_accounts(team)],
            "environment": {
                f"AIRFLOW_CONN_{LAKE_CONN_ID.upper()}": lake,
                **environment,
                **config.airflow_env,
            },
            "parallelism": config.airflow_parallelism,
            "extra_dags": Path(config.extra_dags[team]) if team in config.extra_dags else None,
        }
        if config.profile is Profile.EMBEDDED:
            return AirflowStandalone(**common, **self._files(component))
        extra = config.ports.production
        data = team == DATA_TEAM
        return AirflowProduction(
            **common,
            component=component,
            database_url=self.postgres(POSTGRES_DATA if data else POSTGRES_ML).url("airflow"),
            # never the same broker database or queue for the two deployments
            broker_url=self.redis.url(0 if data else 1),
            queue=team,
            worker_log_ports=(ports.worker_log, extra.data_worker_2_log if data else extra.ml_worker_2_log),
            trigger_log_ports=(ports.trigger_log,) if data else (ports.trigger_log, extra.ml_trigger_2_log),
            worker_concurrency=config.worker_concurrency,
            logs_dir=self.logs_dir,
            run_dir=self.run_dir,
        )

    def _team_deployment(self, team: ConsumerTeam) -> AirflowStandalone:
        """A consuming team's Airflow: its project folder, its S3 identity in ``lake_s3``, its accounts."""
        config = self.config
        lake = lake_connection(config.credentials[team.name], self.s3.endpoint_url, config.region)
        return AirflowStandalone(
            name=f"Airflow {team.name}",
            home=config.state_dir / team.component,
            project_dir=team.project_dir,
            ports=DeploymentPorts(team.ports.api, team.ports.worker_log, team.ports.trigger_log),
            accounts=[(config.airflow_logins[a.env_prefix], a.role) for a in team_accounts(team)],
            environment={f"AIRFLOW_CONN_{LAKE_CONN_ID.upper()}": lake, **config.airflow_env},
            parallelism=config.airflow_parallelism,
            **self._files(team.component),
        )

    @property
    def deployments(self) -> dict[str, Deployment]:
        return {AIRFLOW_DATA: self.airflow_data, AIRFLOW_ML: self.airflow_ml, **self.teams}  # type: ignore[dict-item]

    @property
    def components(self) -> dict[str, Server]:
        """Name -> server, in start order (a production deployment contributes each of its processes)."""
        found: dict[str, Server] = {**self.foundation, MLFLOW: self.mlflow}
        for name, deployment in self.deployments.items():
            if isinstance(deployment, AirflowProduction):
                found.update(deployment.servers)
            else:
                found[name] = deployment  # type: ignore[assignment]
        return found

    def component(self, name: str) -> Server:
        try:
            return self.components[name]
        except KeyError:
            known = ", ".join(self.components)
            raise KeyError(f"unknown stack component {name!r}; expected one of {known}") from None

    def select(self, prefix: str) -> dict[str, Server]:
        """The components named ``prefix`` or ``prefix-...`` (``airflow-ml`` = all its processes)."""
        chosen = {n: c for n, c in self.components.items() if n == prefix or n.startswith(f"{prefix}-")}
        if not chosen:
            self.component(prefix)  # raises, naming the known ones
        return chosen

    def component_of(self, pid: int) -> str | None:
        """The component whose session holds process ``pid`` (e.g. a task instance's ``pid`` from the REST
        API: it runs in the session of the Celery worker, or the standalone, that started it)."""
        try:
            session = os.getsid(pid)
        except ProcessLookupError:
            return None
        return next((name for name, c in self.components.items() if c.process.pid == session), None)

    def log_paths(self, prefix: str | None = None) -> list[Path]:
        """The log files of the components ``prefix`` selects (and the supervisor's), all if None."""
        if prefix == SUPERVISOR:
            return [self.supervisor.log_path]
        chosen = self.select(prefix) if prefix else self.components
        extra = [] if prefix else [self.supervisor.log_path]
        return [c.process.log_path for c in chosen.values()] + extra

    def up(self, timeout: float = START_TIMEOUT) -> Stack:
        """Start whatever is not running and wait until all is healthy; on failure stop everything.

        S3 (and in production Redis and the PostgreSQL clusters) first, side by side; then MLflow and
        both Airflow deployments side by side; then the supervisor.
        """
        self._check_ports()
        try:
            for server in self.foundation.values():
                server.launch()
            for server in self.foundation.values():
                server.wait_ready(timeout)
            others: list[Server | Deployment] = [self.mlflow, *self.deployments.values()]
            # a production deployment's launch migrates its database first: the two run side by side
            with ThreadPoolExecutor(max_workers=len(others)) as pool:
                list(pool.map(lambda unit: unit.launch(), others))
            for unit in others:
                unit.wait_ready(timeout)
            self.config.record()
            self.supervisor.start()
        except BaseException:
            self.down()
            raise
        return self

    def ports_of(self, name: str) -> list[int]:
        """The ports component ``name`` binds."""
        component = self.component(name)
        if isinstance(component, SeaweedFS):
            return list(self.config.ports.s3)
        if isinstance(component, AirflowStandalone):
            return [component.ports.api, component.ports.worker_log, component.ports.trigger_log]
        port = getattr(component, "port", None)
        return [port] if port else []

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
                "(make down, with the PROFILE it was started with) or another program holds them; change "
                "them in .env"
            )

    def down(self) -> None:
        """Stop the supervisor, then every component this stack's pid files name: the Airflow deployments
        and MLflow side by side (each may take its full SIGTERM grace period), then the servers they use."""
        errors: list[str] = []

        def stop(unit: Server | Deployment | ServerProcess) -> None:
            try:
                unit.stop()
            except StackError as error:
                errors.append(str(error))

        stop(self.supervisor)
        first = [self.airflow_ml, self.airflow_data, *self.teams.values(), self.mlflow]
        with ThreadPoolExecutor(max_workers=len(first)) as pool:
            list(pool.map(stop, first))
        with ThreadPoolExecutor(max_workers=len(self.foundation)) as pool:
            list(pool.map(stop, self.foundation.values()))
        # A component whose leader alone was killed (an OOM kill, a fault test) and that the supervisor
        # restarted in a new session leaves its children in the old one, where stopping the new session
        # never reaches them; they still carry the stack's state folder in their environment.
        orphans = stop_processes(self._processes(), STOP_TIMEOUT)
        if orphans:
            errors.append(f"processes of the stack survived SIGKILL: {', '.join(map(str, orphans))}")
        if errors:
            raise StackError("; ".join(errors))

    def _processes(self) -> dict[int, str]:
        """Live processes (pid -> command line) whose command line or environment names this stack's state
        folder (each component exports it as ``HOUSING_STACK``): each of its components and their
        children, also ones orphaned by a kill. This process
        and its ancestors are left out (a shell or test may hold the folder in its environment)."""
        state = str(self.config.state_dir).encode()
        mine = ancestors(os.getpid())
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in mine:
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                text = cmdline + (entry / "environ").read_bytes()
            except OSError:
                continue
            if state in text:
                found[int(entry.name)] = cmdline.replace(bytes(1), b" ").decode(errors="replace").strip()
        return found

    def leftovers(self) -> list[str]:
        """The stack's live processes as ``pid: command`` lines: after ``down``, there should be none."""
        return [f"{pid}: {command[:200]}" for pid, command in self._processes().items()]

    def url_of(self, name: str) -> str:
        component = self.component(name)
        for attribute in ("url", "base_url", "endpoint_url", "tracking_uri"):
            value = getattr(component, attribute, None)
            if isinstance(value, str):
                return value
        if isinstance(component, RedisServer | PostgresServer):
            scheme = "redis" if isinstance(component, RedisServer) else "postgresql"
            return f"{scheme}://127.0.0.1:{component.port}"
        return "-"

    def status(self) -> list[ComponentStatus]:
        """Pid, URL and health of each component, and of the supervisor."""
        rows = [
            ComponentStatus(name, c.process.pid, self.url_of(name), c.healthy(), c.process.log_path)
            for name, c in self.components.items()
        ]
        supervisor = self.supervisor
        rows.append(
            ComponentStatus(SUPERVISOR, supervisor.pid, "-", supervisor.is_running(), supervisor.log_path)
        )
        return rows

    def summaries(self) -> dict[str, DeploymentSummary]:
        """Per deployment: executor, metadata database, live Celery workers and triggerers."""
        return {name: deployment.summary() for name, deployment in self.deployments.items()}

    def restarts(self) -> list[Restart]:
        """The supervisor's restarts so far (component and time), oldest first."""
        return read_restarts(self.config.state_dir)

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        """Keep the supervisor from restarting component ``name`` in the block (a test holding it down)."""
        self.component(name)
        path = hold_path(self.run_dir, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)

    def env(self) -> dict[str, str]:
        """What ``make -s env`` exports: endpoints, the admin's and each team's keys, the ML team's MLflow
        user, and each deployment's admin login."""
        config = self.config
        values = config.credentials[ADMIN].aws_env(config.s3_endpoint_url, config.region)
        for identity in all_identities():
            if identity.name != ADMIN and identity.name in config.credentials:
                key = config.credentials[identity.name]
                values[identity.access_key_var] = key.access_key
                values[identity.secret_key_var] = key.secret_key
        values.update(
            {
                "MLFLOW_TRACKING_URI": config.mlflow_tracking_uri,
                # MLflow's clients read these: the ML team's user
                "MLFLOW_TRACKING_USERNAME": config.mlflow_logins[ML_TEAM].user,
                "MLFLOW_TRACKING_PASSWORD": config.mlflow_logins[ML_TEAM].password,
                "AIRFLOW_DATA_URL": config.airflow_data_url,
                "AIRFLOW_ML_URL": config.airflow_ml_url,
            }
        )
        for team in (DATA_TEAM, ML_TEAM):
            account = airflow_admin(team)
            login = config.airflow_admin(team)
            values[account.user_var], values[account.password_var] = login.user, login.password
        for team in config.teams:
            account, login = team_accounts(team)[0], config.airflow_admin(team.name)
            values[f"AIRFLOW_{team.env_prefix}_URL"] = config.airflow_url(team.name)
            values[account.user_var], values[account.password_var] = login.user, login.password
        return values

    def __enter__(self) -> Stack:
        return self.up()

    def __exit__(self, *exc_info: object) -> None:
        self.down()


def export_lines(values: Mapping[str, str]) -> str:
    """``export KEY=value`` lines, shell-quoted."""
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in values.items())
