"""The MLflow tracking server: sqlite (or PostgreSQL) backend store, artifacts proxied to ``s3://mlflow``,
behind MLflow's basic-auth app: no request without a user, and each team's user holds exactly the
permissions ``identities.MLFLOW_USERS`` gives it."""

from __future__ import annotations

import configparser
import io
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from housing_stack.identities import (
    ADMIN,
    MLFLOW_DEFAULT_PERMISSION,
    MLFLOW_EXPERIMENT,
    MLFLOW_MODEL,
    MLFLOW_USERS,
    Login,
)
from housing_stack.process import Server, ServerProcess, StackError, http_status, installed_executable
from housing_stack.settings import MLFLOW_BUCKET

#: ~25 s to the first /health answer on 2 idle cores; more under load.
START_TIMEOUT = 120.0
#: How long the basic-auth app trusts a user's password once checked (see ``prepare``).
AUTH_CACHE_SECONDS = 300


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
        logins: Mapping[str, Login],
        flask_secret: str,
        *,
        bucket: str = MLFLOW_BUCKET,
        backend_store_uri: str | None = None,
        auth_database_uri: str | None = None,
        log_path: Path | None = None,
        pid_path: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.tracking_uri = f"http://127.0.0.1:{port}"
        self.artifacts_destination = f"s3://{bucket}"
        #: ``admin`` and each team's user (:data:`~housing_stack.identities.MLFLOW_USERS`).
        self.logins = dict(logins)
        #: The users and permissions live beside the tracking store.
        self.auth_database_uri = auth_database_uri or f"sqlite:///{self.data_dir / 'basic_auth.db'}"
        self.auth_config_path = self.data_dir / "basic_auth.ini"
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLFLOW_"))}
        environment.update(s3_env)
        # MLflow's S3 artifact repository reads its endpoint from this variable, not AWS_ENDPOINT_URL
        environment["MLFLOW_S3_ENDPOINT_URL"] = s3_env["AWS_ENDPOINT_URL"]
        # the GenAI job runner spawns 8 more Python processes (~0.6 GB RSS) this project never uses
        environment["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
        environment["MLFLOW_DISABLE_TELEMETRY"] = "true"
        # sqlite under data_dir unless given; an environment variable keeps a database password out of `ps`
        environment["MLFLOW_BACKEND_STORE_URI"] = (
            backend_store_uri or f"sqlite:///{self.data_dir / 'mlflow.db'}"
        )
        # the basic-auth app: its config file, and the admin it creates on first start and the key Flask
        # signs sessions with, as MLflow reads them from the environment (kept out of files and `ps`)
        environment["MLFLOW_AUTH_CONFIG_PATH"] = str(self.auth_config_path)
        environment["MLFLOW_AUTH_ADMIN_USERNAME"] = self.logins[ADMIN].user
        environment["MLFLOW_AUTH_ADMIN_PASSWORD"] = self.logins[ADMIN].password
        environment["MLFLOW_FLASK_SERVER_SECRET_KEY"] = flask_secret
        self.process = ServerProcess(
            name=self.name,
            command=[
                installed_executable("mlflow"),
                "server",
                "--artifacts-destination",
                self.artifacts_destination,
                "--app-name",
                "basic-auth",
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
        """The folder of the sqlite stores and the log, and the basic-auth config (owner-only: a PostgreSQL
        permission database's URI holds its password)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.auth_config_path.touch(mode=0o600)
        self.auth_config_path.write_text(auth_config(self.auth_database_uri))

    def wait_ready(self, timeout: float | None = START_TIMEOUT) -> None:
        """Wait until ``/health`` answers, then make sure every user and grant is in place."""
        timeout = START_TIMEOUT if timeout is None else timeout
        self.process.wait_until(self.healthy, "answering /health", timeout)
        self.grant()

    def grant(self) -> None:
        """Every user and grant of :data:`~housing_stack.identities.MLFLOW_USERS` (see :func:`grant`)."""
        grant(self.tracking_uri, self.logins)


def auth_config(database_uri: str) -> str:
    """The basic-auth app's config file (``MLFLOW_AUTH_CONFIG_PATH``), its users and grants kept in
    ``database_uri``."""
    config = configparser.ConfigParser()
    config["mlflow"] = {
        "default_permission": MLFLOW_DEFAULT_PERMISSION.value,
        "database_uri": database_uri,
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
        # Checking a password is a deliberately slow hash (werkzeug's scrypt), and MLflow checks it on
        # every request: a training run's dozens of calls then cost seconds of CPU on a busy machine. A
        # success is remembered this long (one worker; a password changed through the API takes effect
        # at once on it).
        "auth_cache_ttl_seconds": str(AUTH_CACHE_SECONDS),
    }
    text = io.StringIO()
    config.write(text)
    return text.getvalue()


def grant(tracking_uri: str, logins: Mapping[str, Login]) -> None:
    """As MLflow's admin (``logins["admin"]``), create each team's user (or reset its password to the one in
    ``logins``), the experiment and the registered model the grants name, and give each user exactly its
    permissions. Idempotent: the stack runs it at every start."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException, RestException
    from mlflow.server import get_app_client

    with mlflow_user(logins[ADMIN]):
        auth = get_app_client("basic-auth", tracking_uri=tracking_uri)
        tracking = MlflowClient(tracking_uri=tracking_uri)
        experiment = tracking.get_experiment_by_name(MLFLOW_EXPERIMENT)
        experiment_id = (
            experiment.experiment_id if experiment else tracking.create_experiment(MLFLOW_EXPERIMENT)
        )
        try:
            tracking.get_registered_model(MLFLOW_MODEL)
        except MlflowException:
            tracking.create_registered_model(MLFLOW_MODEL)
        for user in MLFLOW_USERS:
            password = logins[user.name].password
            try:
                auth.create_user(user.name, password)
            except RestException as error:
                if error.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise StackError(f"MLflow: creating user {user.name!r} failed: {error}") from error
                auth.update_user_password(user.name, password)
            for resource_type, resource_id, permission in (
                ("experiment", experiment_id, user.experiment),
                ("registered_model", MLFLOW_MODEL, user.model),
            ):
                held = auth.get_user_permission(user.name, resource_type, resource_id).permission
                if held != permission.value:
                    # a grant is replaced, not stacked: revoke what an earlier start gave
                    if held != MLFLOW_DEFAULT_PERMISSION.value:
                        auth.revoke_user_permission(user.name, resource_type, resource_id)
                    auth.grant_user_permission(user.name, resource_type, resource_id, permission.value)


@contextmanager
def mlflow_user(login: Login) -> Iterator[None]:
    """MLflow's clients in this process act as ``login`` inside the block: they read the user from
    ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD`` and have no other way to be given one."""
    keys = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")
    saved = {key: os.environ.get(key) for key in keys}
    os.environ.update(zip(keys, login, strict=True))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
