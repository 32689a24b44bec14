"""One team's Airflow deployment as production runs it: PostgreSQL metadata database, CeleryExecutor with
a Redis broker, and each component its own process (API server, scheduler, DAG processor, Celery workers,
triggerers), every one a :class:`~housing_stack.process.Server` with its own log, pid file and health."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.parse
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from housing_stack.airflow_home import AirflowHome, DeploymentSummary
from housing_stack.process import Server, ServerProcess, StackError, http_status, installed_executable

#: The slowest component (the API server) answers in ~30-60 s on 2 busy cores.
START_TIMEOUT = 300.0
#: ``airflow db migrate`` of an empty PostgreSQL database: ~20 s idle.
MIGRATE_TIMEOUT = 600.0
EXECUTOR = "CeleryExecutor"
#: Each process's name in the stack, read by :func:`process_hostname`.
PROCESS_NAME_VAR = "HOUSING_STACK_PROCESS"


def process_hostname() -> str:
    """The process's stack name (``airflow-ml-worker-2``), as a pod's hostname would be in Kubernetes.

    Airflow records it on every task try and triggerer job (``[core] hostname_callable``), so one can
    tell which of two workers ran a try, or which triggerer holds a watcher, on one machine.
    """
    return os.environ.get(PROCESS_NAME_VAR) or socket.getfqdn()


#: Deliberate settings of the production profile (Airflow's defaults suit hours-long tasks on big
#: clusters; these make failures visible and recovered within seconds on one machine).
TUNING = {
    # a task whose worker died is failed, and retried, after 30 s without a heartbeat (default 300 s) ...
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    # ... looked for every 5 s (default 10 s) ...
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    # ... while a live task heartbeats every 5 s, so six beats must be missed first
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_SEC": "5",
    # triggerers heartbeat every 2 s (default 5 s) and one silent for 10 s (default 30 s) is dead: the
    # other triggerer takes over its triggers (the ML team's asset watcher) within ~15 s
    "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
    # Redis gives an unacknowledged task message to another worker after this (default 24 h); longer than
    # any task here, so a running task is never started twice, and a lost message is retried in 15 min
    "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "900",
    # tasks queued to a worker that vanished are reset within a minute (default 5 min)
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "60",
}


class AirflowProcess(Server):
    """One component process of a deployment (``airflow scheduler``, ``airflow celery worker``, ...)."""

    start_timeout = START_TIMEOUT
    stop_timeout = 30.0

    def __init__(
        self, process: ServerProcess, check: Callable[[], bool], what: str, url: str, port: int | None
    ) -> None:
        self.name = process.name
        self.process = process
        self.check = check
        self.what = what
        self.url = url
        self.port = port  #: the one port it binds (None: none)

    def healthy(self) -> bool:
        return self.process.is_running() and self.check()

    def wait_ready(self, timeout: float | None = None) -> None:
        timeout = START_TIMEOUT if timeout is None else timeout
        self.process.wait_until(self.check, self.what, timeout, interval=2.0)


@dataclass
class AirflowProduction(AirflowHome):
    """The components of one deployment (see :class:`AirflowHome` for what they share).

    ``database_url`` is the deployment's own PostgreSQL database (``postgresql://``), also the Celery result
    backend; ``broker_url`` its own Redis database; ``queue`` its own Celery queue. One Celery worker per
    port in ``worker_log_ports``, one triggerer per port in ``trigger_log_ports`` (each process serves its
    logs on its own port). Processes are named ``<component>-<role>``, e.g. ``airflow-ml-triggerer-2``.
    """

    component: str = "airflow"
    database_url: str = ""
    broker_url: str = ""
    queue: str = "default"
    worker_log_ports: tuple[int, ...] = ()
    trigger_log_ports: tuple[int, ...] = ()
    worker_concurrency: int = 1
    logs_dir: Path = field(default_factory=Path)
    run_dir: Path = field(default_factory=Path)

    def __post_init__(self) -> None:
        super().__post_init__()
        health = self.health
        self.servers: dict[str, AirflowProcess] = {}
        self._add(
            "api-server", ["api-server"], {}, self._api_answers, "answering", self.base_url, self.ports.api
        )
        self._add(
            "scheduler",
            # the Celery workers serve task logs; the scheduler's own log server would take a worker's port
            ["scheduler", "--skip-serve-logs"],
            {},
            lambda: health().get("scheduler") == "healthy",
            "heartbeating",
            "-",
            None,
        )
        self._add(
            "dag-processor",
            ["dag-processor"],
            {},
            lambda: health().get("dag_processor") == "healthy",
            "heartbeating",
            "-",
            None,
        )
        for number, port in enumerate(self.worker_log_ports, start=1):
            hostname = self.worker_hostname(number)
            self._add(
                f"worker-{number}",
                [
                    *("celery", "worker", "--queues", self.queue, "--celery-hostname", hostname),
                    *("--concurrency", str(self.worker_concurrency), "--without-gossip", "--without-mingle"),
                ],
                {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port)},
                lambda hostname=hostname: hostname in self.answering_workers(),
                "answering a Celery ping",
                f"celery {hostname}",
                port,
            )
        for number, port in enumerate(self.trigger_log_ports, start=1):
            self._add(
                f"triggerer-{number}",
                ["triggerer"],
                {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(port)},
                lambda port=port: http_status(f"http://127.0.0.1:{port}/") is not None,
                "serving its logs",
                f"log server :{port}",
                port,
            )

    def _add(
        self,
        role: str,
        arguments: list[str],
        env: dict[str, str],
        check: Callable[[], bool],
        what: str,
        url: str,
        port: int | None,
    ) -> None:
        name = f"{self.component}-{role}"
        process = ServerProcess(
            name=name,
            command=[installed_executable("airflow"), *arguments],
            log_path=self.logs_dir / f"{name}.log",
            pid_path=self.run_dir / f"{name}.pid",
            env={**self.env(), PROCESS_NAME_VAR: name, **env},
            cwd=self.home,
        )
        self.servers[name] = AirflowProcess(process, check, what, url, port)

    def worker_hostname(self, number: int) -> str:
        return f"{self.component}-worker-{number}@localhost"

    def runtime_settings(self) -> dict[str, str]:
        """PostgreSQL, CeleryExecutor on the deployment's own broker database, result backend and queue."""
        # SQLAlchemy 2.1's default PostgreSQL driver is psycopg 3; the stack installs psycopg2
        sqlalchemy_url = self.database_url.replace("postgresql://", "postgresql+psycopg2://")
        return {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url,
            "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
            "AIRFLOW__CELERY__BROKER_URL": self.broker_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{sqlalchemy_url}",
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.{process_hostname.__name__}",
            **TUNING,
        }

    def _api_answers(self) -> bool:
        return http_status(f"{self.base_url}/api/v2/monitor/health") == 200

    def answering_workers(self, timeout: float = 1.0) -> list[str]:
        """The Celery hostnames of this deployment's workers that answer a ping on its broker."""
        import redis
        from celery import Celery

        try:  # Celery would keep retrying a broker that is down
            redis.Redis.from_url(self.broker_url, socket_timeout=2).ping()
        except redis.RedisError:
            return []
        app = Celery(broker=self.broker_url)
        try:
            return [name for reply in app.control.ping(timeout=timeout) or [] for name in reply]
        except Exception:
            return []
        finally:
            app.close()

    def live_triggerers(self) -> int:
        """Triggerer jobs that heartbeat in the metadata database within the health threshold."""
        import psycopg2

        threshold = TUNING["AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD"]
        sql = (
            "SELECT count(*) FROM job WHERE job_type = 'TriggererJob' AND state = 'running' "
            f"AND latest_heartbeat > now() - interval '{threshold} seconds'"
        )
        try:
            with (
                psycopg2.connect(self.database_url, connect_timeout=3) as connection,
                connection.cursor() as cursor,
            ):
                cursor.execute(sql)
                (count,) = cursor.fetchone()
            connection.close()
            return int(count)
        except psycopg2.Error:
            return 0

    def summary(self) -> DeploymentSummary:
        where = urllib.parse.urlsplit(self.database_url)
        return DeploymentSummary(
            f"{EXECUTOR} (queue {self.queue})",
            f"PostgreSQL {where.hostname}:{where.port}{where.path}",
            len([name for name in self.answering_workers() if name.startswith(f"{self.component}-")]),
            len(self.worker_log_ports),
            self.live_triggerers(),
            len(self.trigger_log_ports),
        )

    def migrate(self, timeout: float = MIGRATE_TIMEOUT) -> None:
        """``airflow db migrate`` (idempotent), logged to ``<component>-migrate.log``."""
        log_path = self.logs_dir / f"{self.component}-migrate.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            result = subprocess.run(
                [installed_executable("airflow"), "db", "migrate"],
                env=self.env(),
                cwd=self.home,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        if result.returncode != 0:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
            raise StackError(
                f"{self.name}: airflow db migrate failed ({result.returncode}); tail of {log_path}:\n{tail}"
            )

    def launch(self) -> None:
        """Migrate the database (unless every component already runs), then spawn what is not running."""
        if all(server.process.is_running() for server in self.servers.values()):
            return
        self.write_home()
        self.migrate()
        for server in self.servers.values():
            server.launch()

    def wait_ready(self, timeout: float | None = None) -> None:
        for server in self.servers.values():
            server.wait_ready(timeout)

    def stop(self) -> None:
        """Stop every component at once (each may take its SIGTERM grace period)."""
        with ThreadPoolExecutor(max_workers=len(self.servers)) as pool:
            list(pool.map(lambda server: server.stop(), self.servers.values()))
