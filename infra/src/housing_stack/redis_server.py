"""Redis on 127.0.0.1 as the Celery broker of the production profile: Debian's ``redis-server``
(``make install-servers``), one process for the stack; each deployment uses its own database number."""

from __future__ import annotations

import shutil
from pathlib import Path

from housing_stack.process import Server, ServerProcess, StackError

#: How a missing server binary is installed (the message ``make up PROFILE=production`` shows).
INSTALL_COMMAND = "make install-servers"
START_TIMEOUT = 30.0


def redis_executable() -> str:
    """The ``redis-server`` on PATH; StackError naming the command that installs it."""
    found = shutil.which("redis-server")
    if found is None:
        raise StackError(
            f"redis-server is not installed (not on PATH); install it with `{INSTALL_COMMAND}` "
            "(apt-get install -y redis-server)"
        )
    return found


class RedisServer(Server):
    """``redis-server`` on 127.0.0.1:``port`` with a password, its append-only file under ``data_dir``
    (queued task messages survive a restart)."""

    name = "Redis"
    start_timeout = START_TIMEOUT

    def __init__(
        self,
        data_dir: Path,
        port: int,
        password: str,
        *,
        log_path: Path | None = None,
        pid_path: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.password = password
        self.process = ServerProcess(
            name=self.name,
            command=[redis_executable(), str(self.config_path)],
            log_path=log_path or self.data_dir / "redis.log",
            pid_path=pid_path,
            cwd=self.data_dir,
        )

    @property
    def config_path(self) -> Path:
        # a file, not arguments: the password stays out of `ps`
        return self.data_dir / "redis.conf"

    def url(self, database: int) -> str:
        """The broker URL of database number ``database``."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/{database}"

    def prepare(self) -> None:
        """The data folder and the config file (owner-only: it holds the password)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        settings = {
            "bind": "127.0.0.1",
            "port": str(self.port),
            "dir": str(self.data_dir),
            "requirepass": self.password,
            "appendonly": "yes",
            "save": '""',
            "daemonize": "no",
        }
        self.config_path.write_text("".join(f"{key} {value}\n" for key, value in settings.items()))
        self.config_path.chmod(0o600)

    def healthy(self) -> bool:
        """Whether an authenticated PING answers."""
        import redis

        try:
            return bool(
                redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=2).ping()
            )
        except redis.RedisError:
            return False

    def wait_ready(self, timeout: float | None = None) -> None:
        timeout = START_TIMEOUT if timeout is None else timeout
        self.process.wait_until(self.healthy, "answering PING", timeout)
