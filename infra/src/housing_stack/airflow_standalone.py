"""One team's Airflow deployment as ``airflow standalone`` (scheduler, dag processor, triggerer, API
server in one process tree; SQLite, LocalExecutor): the embedded profile."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from housing_stack.airflow_home import (
    LAKE_CONN_ID,
    AirflowHome,
    DeploymentPorts,
    DeploymentSummary,
    lake_connection,
)
from housing_stack.process import Server, ServerProcess, StackError, installed_executable

__all__ = ["LAKE_CONN_ID", "AirflowStandalone", "DeploymentPorts", "lake_connection"]

#: Imported once by the LocalExecutor's forkserver. Task processes are forked from its workers, so each
#: task starts with Airflow's task runner and the data libraries the teams' tasks use already loaded,
#: instead of importing them again (seconds per task). A module a deployment lacks is skipped.
TASK_PRELOAD_MODULES = (
    "airflow.sdk.execution_time.task_runner",
    "pandas",
    "pyarrow.parquet",
    "s3fs",
    "pandera.pandas",
    "sklearn.ensemble",
    "mlflow",
)

#: ~20-30 s on 2 idle cores; much longer while other deployments parse and run.
START_TIMEOUT = 300.0


@dataclass
class AirflowStandalone(AirflowHome, Server):
    """``airflow standalone`` for the Astro project in ``project_dir`` (see :class:`AirflowHome`)."""

    log_path: Path | None = None
    pid_path: Path | None = None

    start_timeout = START_TIMEOUT
    stop_timeout = 30.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.process = ServerProcess(
            name=self.name,
            command=[installed_executable("airflow"), "standalone"],
            log_path=self.log_path or self.home / "standalone.log",
            pid_path=self.pid_path,
            env=self.env(),
            cwd=self.home,
        )

    def runtime_settings(self) -> dict[str, str]:
        """SQLite in the home folder; standalone picks LocalExecutor for it."""
        # sqlite waits 5 s for a lock by default; on 2 busy cores the triggerer then died with
        # "database is locked" (seen in the end-to-end test), so wait up to a minute
        return {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}?timeout=60",
            "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
            "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": ",".join(TASK_PRELOAD_MODULES),
        }

    def healthy(self) -> bool:
        return self.all_healthy()

    def summary(self) -> DeploymentSummary:
        triggerer_up = self.health().get("triggerer") == "healthy"
        return DeploymentSummary(
            "LocalExecutor", f"SQLite {self.home / 'airflow.db'}", None, None, int(triggerer_up), 1
        )

    def prepare(self) -> None:
        self.write_home()

    def wait_ready(self, timeout: float | None = START_TIMEOUT) -> None:
        """Wait until every component reports healthy; the error names the ones that are not."""
        timeout = START_TIMEOUT if timeout is None else timeout
        try:
            self.process.wait_until(self.healthy, "healthy", timeout, interval=2.0)
        except StackError as error:
            health = self.health() or {"api-server": "not answering"}
            unhealthy = {name: status for name, status in health.items() if status != "healthy"}
            raise StackError(f"{error}\nunhealthy components: {unhealthy}") from None
