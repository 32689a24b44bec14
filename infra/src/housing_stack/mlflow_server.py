"""The MLflow tracking server: sqlite (or PostgreSQL) backend store, artifacts proxied to ``s3://mlflow``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from housing_stack.process import Server, ServerProcess, http_status, installed_executable
from housing_stack.settings import MLFLOW_BUCKET

#: ~25 s to the first /health answer on 2 idle cores; more under load.
START_TIMEOUT = 120.0


class MlflowServer(Server):
    """``mlflow server`` on 127.0.0.1:``port``; ``s3_env`` (AWS_* variables) is the identity it stores
    artifacts with, so clients need no S3 credentials of their own."""

    name = "MLflow"
    start_timeout = START_TIMEOUT

    def __init__(
        self,
        data_dir: Path,
        port: int,
        s3_env: Mapping[str, str],
        *,
        bucket: str = MLFLOW_BUCKET,
        backend_store_uri: str | None = None,
        log_path: Path | None = None,
        pid_path: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.tracking_uri = f"http://127.0.0.1:{port}"
        self.artifacts_destination = f"s3://{bucket}"
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
        environment.update(s3_env)
        # MLflow's S3 artifact repository reads its endpoint from this variable, not AWS_ENDPOINT_URL
        environment["MLFLOW_S3_ENDPOINT_URL"] = s3_env["AWS_ENDPOINT_URL"]
        # the GenAI job runner spawns 8 more Python processes (~0.6 GB RSS) this project never uses
        environment["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        # sqlite under data_dir unless given; an environment variable keeps a database password out of `ps`
        environment["MLFLOW_BACKEND_STORE_URI"] = (
            backend_store_uri or f"sqlite:///{self.data_dir / 'mlflow.db'}"
        )
        self.process = ServerProcess(
            name=self.name,
            command=[
                installed_executable("mlflow"),
                "server",
                "--artifacts-destination",
                self.artifacts_destination,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                # one worker: the default 4 cost ~1 GB RSS, and sqlite serialises writes anyway
                "--workers",
                "1",
            ],
            log_path=log_path or self.data_dir / "mlflow.log",
            pid_path=pid_path,
            env=environment,
            cwd=self.data_dir,
        )

    def healthy(self) -> bool:
        """Whether ``/health`` answers 200."""
        return http_status(f"{self.tracking_uri}/health") == 200

    def prepare(self) -> None:
        """The folder of the sqlite backend store and the log."""
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def wait_ready(self, timeout: float | None = START_TIMEOUT) -> None:
        """Wait until ``/health`` answers."""
        timeout = START_TIMEOUT if timeout is None else timeout
        self.process.wait_until(self.healthy, "answering /health", timeout)
