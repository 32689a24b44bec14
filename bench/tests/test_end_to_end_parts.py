"""Smoke tests of the end-to-end bench's parts that need no stack: import discovery, log marks, the
generated floor DAGs and the task memory sampler."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.breakdown import _log_marks, imports_in_situ, task_imports
from bench.floor_dags import (
    CONSUMER_FILE,
    FLOOR_PREFIX,
    FLOOR_URI,
    consumed_uri,
    dag_shape,
    write_floor_dags,
)
from bench.latency import _frame
from bench.task_memory import TaskMemory
from housing_contracts import V1, V2, contract_for, validate
from housing_stack.settings import REPO_ROOT

TI_ID = "01a22da0-6208-74a2-a6db-c45cc964f551"
DAG_SOURCE = """
from airflow.sdk import dag, task

def _helper():
    from json import dumps
    return dumps

@dag
def d():
    @task
    def first():
        import csv
        _helper()

    @task.python(task_id="renamed")
    def second():
        from os import path

    def not_a_task():
        import sqlite3

    first() >> second()
"""


def test_task_imports_cover_the_body_and_called_helpers() -> None:
    """Each @task function's imports, with its module-level helpers', keyed by task id."""
    assert task_imports(DAG_SOURCE) == {
        "first": ["import csv", "from json import dumps"],
        "renamed": ["from os import path"],
    }


def test_log_marks_read_pre_execute_and_parse_time() -> None:
    """The Pre Execute record's time and dag_file_parse_ms (in seconds) come from a task's records."""
    records = [
        {"timestamp": "2026-11-30T16:03:33.319920Z", "event": "::group::Pre Execute"},
        {
            "timestamp": "2026-11-30T16:03:34.221013Z",
            "event": "Worker startup parse complete",
            "dag_file_parse_ms": 856,
        },
    ]
    started, parse_s = _log_marks(records)
    assert (started.second, started.microsecond, parse_s) == (33, 319920, 0.856)


def test_imports_in_situ_sum_top_level_imports_after_pre_execute() -> None:
    """Only top-level import-time lines logged after the Pre Execute group count, by cumulative time."""
    records = [
        {"event": "::group::Pre Execute"},
        {"event": "import time:       100 |     500000 | airflow_parsed_module"},
        {"event": "::endgroup::"},
        {"event": "import time: self [us] | cumulative | imported package"},
        {"event": "import time:       300 |     300000 |   pandas.core"},
        {"event": "import time:       200 |    1200000 | pandas"},
        {"event": "import time:        50 |      50000 | mlflow"},
    ]
    seconds, modules = imports_in_situ(records)
    assert (round(seconds, 6), modules) == (1.25, ["pandas", "mlflow"])
    assert imports_in_situ([{"event": "::endgroup::"}]) is None


def test_floor_dags_mirror_the_real_shapes(tmp_path: Path) -> None:
    """The generated floor DAGs have the real DAGs' task ids, dependencies and setup/teardown flags; the
    floor producer's committing task has the floor URI as outlet, the floor consumer watches it."""
    shapes = write_floor_dags(REPO_ROOT, tmp_path, "20261130T000000.000000Z-00000000")
    for team in ("data-team", "ml-team"):
        real = shapes[team]
        floor = dag_shape(tmp_path / team / f"{FLOOR_PREFIX}{real['dag_id']}.py")
        assert floor["dag_id"] == FLOOR_PREFIX + real["dag_id"]
        strip = [
            {k: t[k] for k in ("task_id", "upstream", "is_setup", "is_teardown")} for t in floor["tasks"]
        ]
        assert strip == [
            {k: t[k] for k in ("task_id", "upstream", "is_setup", "is_teardown")} for t in real["tasks"]
        ]
    producer = dag_shape(tmp_path / "data-team" / f"{FLOOR_PREFIX}housing_producer.py")
    assert any(FLOOR_URI in t["outlets"] for t in producer["tasks"])
    watched = consumed_uri(shapes["ml-team"])
    assert contract_for(watched) is not None
    assert any(watched in t["outlets"] for t in shapes["data-team"]["tasks"])
    consumer = dag_shape(tmp_path / "ml-team" / f"{FLOOR_PREFIX}housing_consumer.py")
    assert [w["uri"] for w in consumer["watchers"]] == [FLOOR_URI]


def test_task_memory_finds_processes_by_airflow_task_title() -> None:
    """A process titled like an Airflow 3 task runner is sampled under its task instance id."""
    script = (
        f"import setproctitle, time; setproctitle.setproctitle('airflow worker -- {TI_ID}'); time.sleep(3)"
    )
    child = subprocess.Popen([sys.executable, "-c", script])
    try:
        with TaskMemory(interval=0.1) as memory:
            deadline = time.monotonic() + 10
            while TI_ID not in memory.peaks_kb and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        child.kill()
        child.wait()
    assert memory.peaks_mb[TI_ID] > 1
    assert 0 <= memory.added_mb[TI_ID] < memory.peaks_mb[TI_ID]


def test_latency_subscriber_has_the_consumers_schedule(monkeypatch) -> None:
    """bench_snapshot_subscriber is scheduled on the watcher housing_consumer is scheduled on (same URI,
    trigger class and arguments): the latency bench measures the subscription the ML team has."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT / "ml-team"))  # the subscriber's include/ in the stack
    consumer = dag_shape(REPO_ROOT / CONSUMER_FILE)
    subscriber = dag_shape(Path(__file__).parents[1] / "dags" / "bench_snapshot_subscriber.py")
    assert subscriber["watchers"] == consumer["watchers"] and len(consumer["watchers"]) == 1


@pytest.mark.parametrize("contract", [V1, V2], ids=lambda c: c.version)
def test_latency_frames_are_in_the_published_contracts_columns(contract) -> None:
    """The latency bench's bootstrapped rows, converted, pass the contract version they go to."""
    frame = _frame(2_000, 1, contract)
    assert list(frame.columns) == list(contract.columns)
    validate(frame, contract)
