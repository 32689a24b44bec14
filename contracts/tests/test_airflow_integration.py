"""End to end: a real Airflow 3.3 deployment subscribes to the dataset with ``dataset_asset(watch=True)``.

Scheduler, DAG processor, triggerer and API server run as separate processes (so the triggerer can be
restarted alone) on free loopback ports, in a temporary AIRFLOW_HOME with a SQLite metadata DB. The
consumer DAG records the triggering asset events its task receives; the test reads DagRuns, asset
events and the trigger's cursor from the metadata DB.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_airflow_trigger import Lake

from housing_contracts.airflow.trigger import cursor_key
from housing_contracts.consumers.lag import consumer_lag
from housing_testkit import ServerProcess, free_ports

DAG_ID = "housing_watch_probe"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: Upper bound for each wait; a guard against hangs, not a measurement.
WAIT = 240.0

PROBE_DAG = textwrap.dedent(
    '''
    """Records the triggering asset events of each run (written by the integration test)."""

    from __future__ import annotations

    import json
    import os
    from datetime import timedelta
    from pathlib import Path

    from airflow.sdk import dag, task
    from pendulum import datetime

    from housing_contracts import V1
    from housing_contracts.airflow.asset import dataset_asset, manifests_from_events
    from housing_contracts.airflow.receipts import Receipts

    DATASET = dataset_asset(
        V1,
        watch=True,
        conn_id="lake_s3",
        poll_interval=1.0,
        consumer="ml-team",
        max_lag=timedelta(minutes=5),
    )
    RECEIPTS = Receipts(consumer="ml-team", conn_id="lake_s3", contract=V1)


    @dag(
        schedule=[DATASET],
        start_date=datetime(2026, 1, 1, tz="UTC"),
        catchup=False,
        tags=["test"],
        default_args={"on_failure_callback": RECEIPTS.on_failure},
    )
    def housing_watch_probe():
        @task
        def record(**context):
            events = context["triggering_asset_events"][DATASET]
            extras = [event.extra for event in events]
            probe = Path(os.environ["HOUSING_PROBE_DIR"]) / f"{context['run_id']}.json".replace(":", "_")
            probe.write_text(json.dumps(extras))
            snapshot_id = manifests_from_events(events)[-1]["snapshot_id"]
            RECEIPTS.success(context, snapshot_id=snapshot_id, produced={"probe": probe.name})

        record()


    housing_watch_probe()
    '''
)


class Deployment:
    """One Airflow deployment: its environment, its processes and read access to its metadata DB."""

    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.db_path = home / "airflow.db"
        self.probe_dir = Path(env["HOUSING_PROBE_DIR"])
        self.processes = {
            name: ServerProcess(
                name=f"airflow {name}", command=["airflow", name], log_path=home / f"{name}.log", env=env
            )
            for name in COMPONENTS
        }

    def query(self, sql: str, *params: Any) -> list[tuple]:
        """Rows from the metadata DB (read-only; retried while a writer holds the lock)."""
        for _ in range(50):
            try:
                with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5) as db:
                    return db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as error:
                if "locked" not in str(error):
                    raise
                time.sleep(0.1)
        raise TimeoutError(f"metadata DB {self.db_path} stayed locked")

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while not condition():
            for process in self.processes.values():
                if process.exit_code() is not None:
                    raise RuntimeError(
                        f"{process.name} exited while waiting for {what}:\n{process.log_tail()}"
                    )
            if time.monotonic() > deadline:
                tails = "\n".join(f"--- {p.name}\n{p.log_tail(15)}" for p in self.processes.values())
                raise TimeoutError(f"no {what} within {WAIT} s\n{tails}")
            time.sleep(0.5)

    def runs(self) -> list[tuple[str, str]]:
        return self.query("SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id", DAG_ID)

    def finished_runs(self, count: int) -> bool:
        runs = self.runs()
        return len(runs) >= count and all(state in ("success", "failed") for _, state in runs)

    def cursor(self, uri: str) -> set[str]:
        rows = self.query("SELECT value FROM asset_state_store WHERE key = ?", cursor_key(uri))
        return set(json.loads(rows[0][0])["acked"]) if rows else set()

    def has_cursor(self, uri: str) -> bool:
        return bool(self.query("SELECT 1 FROM asset_state_store WHERE key = ?", cursor_key(uri)))

    def probes(self) -> list[list[dict[str, Any]]]:
        """The triggering asset event extras each run's task received, by snapshot id."""
        probes = [json.loads(path.read_text()) for path in self.probe_dir.glob("*.json")]
        return sorted(probes, key=lambda extras: [extra["payload"]["snapshot_id"] for extra in extras])


@pytest.fixture
def deployment(tmp_path: Path, s3_server: Any, lake_uri: str) -> Iterator[Deployment]:
    """A fresh Airflow deployment whose ``lake_s3`` connection and dataset URI point at the fixture S3."""
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    (home / "dags" / f"{DAG_ID}.py").write_text(PROBE_DAG)
    (tmp_path / "probes").mkdir()
    api_port, worker_log_port, trigger_log_port = free_ports(3)
    connection = {
        "conn_type": "aws",
        "login": s3_server.access_key,
        "password": s3_server.secret_key,
        "extra": {"endpoint_url": s3_server.endpoint_url, "region_name": "us-east-1"},
    }
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_log_port),
        "AIRFLOW_CONN_LAKE_S3": json.dumps(connection),
        "HOUSING_DATASET_URI": lake_uri,
        "HOUSING_PROBE_DIR": str(tmp_path / "probes"),
    }
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", None)
    subprocess.run(["airflow", "db", "migrate"], env=env, check=True, capture_output=True, timeout=WAIT)
    airflow = Deployment(home, env)
    try:
        for process in airflow.processes.values():
            process.start()
        yield airflow
    finally:
        # Side by side: each component takes seconds to shut down.
        with ThreadPoolExecutor(len(COMPONENTS)) as pool:
            list(pool.map(lambda process: process.stop(timeout=30), airflow.processes.values()))


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def test_watcher_runs_consumer_once_per_snapshot_across_triggerer_restart(
    deployment, s3_server, lake_uri, reliability_row
):
    """Two snapshots make two runs with their manifests; one committed while the triggerer is down a third."""
    lake = Lake(lake_uri, s3_server.storage_options)
    deployment.wait_until(
        lambda: deployment.has_cursor(lake_uri), "subscription (first cursor) in the triggerer"
    )

    first = lake.commit()
    deployment.wait_until(lambda: deployment.finished_runs(1), "run for the first snapshot")
    second = lake.commit()
    deployment.wait_until(lambda: deployment.finished_runs(2), "run for the second snapshot")
    acked = {first["snapshot_id"], second["snapshot_id"]}
    deployment.wait_until(lambda: acked <= deployment.cursor(lake_uri), "cursor acknowledging both snapshots")
    runs_before_restart = len(deployment.runs())

    deployment.processes["triggerer"].stop(timeout=30)
    while_down = lake.commit()
    deployment.processes["triggerer"].start()
    deployment.wait_until(lambda: deployment.finished_runs(3), "run for the snapshot committed while down")
    # Events are persisted before the cursor moves: once it has the third id, any re-fire is in the DB.
    deployment.wait_until(lambda: while_down["snapshot_id"] in deployment.cursor(lake_uri), "third ack")

    expected = [[{"from_trigger": True, "payload": manifest}] for manifest in (first, second, while_down)]
    # The watcher subscribed the consumer (twice: at each triggerer start) and each run left its receipt.
    (row,) = consumer_lag(lake_uri, storage_options=s3_server.storage_options)
    states = [state for _, state in deployment.runs()]
    events = deployment.query("SELECT count(*) FROM asset_event")[0][0]
    reliability_row(
        "ML triggerer restarted while a snapshot is committed",
        "3 snapshots -> 3 runs, each with its own manifest",
        f"{len(states)} runs {sorted(set(states))}, {events} asset events, "
        f"{'each run got its own manifest' if deployment.probes() == expected else 'MISMATCHED manifests'}",
    )
    assert (
        runs_before_restart,
        [state for _, state in deployment.runs()],
        deployment.query("SELECT count(*) FROM asset_event")[0][0],
        deployment.probes(),
    ) == (2, ["success"] * 3, 3, expected)
    assert (row.consumer, row.max_lag, row.last_outcome, row.consumed_snapshot_id, row.lag_snapshots) == (
        "ml-team",
        timedelta(minutes=5),
        "success",
        while_down["snapshot_id"],
        0,
    )
    assert (row.deployment, row.problems) == (socket.gethostname(), ())
