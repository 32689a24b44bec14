"""DAG integrity (Astro template style): every DAG file imports cleanly and fast; every DAG is well formed."""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from functools import cache

import pytest
from airflow.models import DagBag

#: Modules that cost seconds to import; a DAG file must import them inside tasks, never at parse time.
HEAVY_MODULES = ("pandas", "pyarrow", "pandera", "sklearn", "mlflow", "s3fs", "matplotlib")


@contextmanager
def suppress_logging(namespace: str):
    """Silence a logger while the DagBag parses."""
    logger = logging.getLogger(namespace)
    old_value = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = old_value


@cache
def _dag_bag() -> DagBag:
    started = time.perf_counter()
    with suppress_logging("airflow"):
        # Airflow 3.3's DagBag has no include_examples argument: examples stay out through
        # AIRFLOW__CORE__LOAD_EXAMPLES=False (conftest), and the bag reads only this project's dags/.
        bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    print(f"DagBag parse: {time.perf_counter() - started:.2f} s for {len(bag.dags)} DAG(s)")
    return bag


def _relative(path: str) -> str:
    return os.path.relpath(path, os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def get_import_errors() -> list[tuple[str | None, str | None]]:
    """(file, error) per file that failed to import; (None, None) so the test always exists."""
    return [(None, None)] + [(_relative(k), v.strip()) for k, v in _dag_bag().import_errors.items()]


def get_dags() -> list[tuple[str, object, str]]:
    """(dag_id, dag, file) per DAG in the bag."""
    return [(dag_id, dag, _relative(dag.fileloc)) for dag_id, dag in _dag_bag().dags.items()]


@pytest.mark.parametrize("rel_path,rv", get_import_errors(), ids=[x[0] for x in get_import_errors()])
def test_file_imports(rel_path: str | None, rv: str | None) -> None:
    """Each DAG file imports without errors."""
    if rel_path and rv:
        raise Exception(f"{rel_path} failed to import with message \n {rv}")


@pytest.mark.parametrize("dag_id,dag,fileloc", get_dags(), ids=[x[2] for x in get_dags()])
def test_dag_tags(dag_id: str, dag, fileloc: str) -> None:
    """Each DAG has tags."""
    assert dag.tags, f"{dag_id} in {fileloc} has no tags"


@pytest.mark.parametrize("dag_id,dag,fileloc", get_dags(), ids=[x[2] for x in get_dags()])
def test_dag_retries(dag_id: str, dag, fileloc: str) -> None:
    """Each DAG retries tasks at least twice, with exponential backoff and a retry policy."""
    assert dag.default_args.get("retries", 0) >= 2, f"{dag_id} in {fileloc} must have task retries >= 2."
    assert dag.default_args.get("retry_exponential_backoff"), f"{dag_id} in {fileloc} has no backoff"
    assert dag.default_args.get("retry_policy") is not None, f"{dag_id} in {fileloc} has no retry policy"


@pytest.mark.parametrize("dag_id,dag,fileloc", get_dags(), ids=[x[2] for x in get_dags()])
def test_dag_owner(dag_id: str, dag, fileloc: str) -> None:
    """Each DAG names a real owner (not Airflow's default 'airflow')."""
    assert dag.default_args.get("owner") not in (None, "", "airflow"), f"{dag_id} in {fileloc} has no owner"


@pytest.mark.parametrize("dag_id,dag,fileloc", get_dags(), ids=[x[2] for x in get_dags()])
def test_dag_does_not_catch_up(dag_id: str, dag, fileloc: str) -> None:
    """Each DAG has catchup off."""
    assert dag.catchup is False, f"{dag_id} in {fileloc} catches up"


def test_consumer_dag_is_in_the_bag() -> None:
    """The bag holds the consumer DAG."""
    assert "housing_consumer" in _dag_bag().dags


def test_consumer_is_scheduled_on_the_watched_contract_asset() -> None:
    """housing_consumer runs on the contract's Asset, which carries the snapshot watcher."""
    from housing_contracts import ASSET_NAME, DATASET_URI

    (asset,) = _dag_bag().dags["housing_consumer"].timetable.asset_condition.objects
    assert (asset.name, asset.uri) == (ASSET_NAME, DATASET_URI)
    assert [type(w.trigger).__name__ for w in asset.watchers] == ["SnapshotCommittedTrigger"]


def test_consumer_writes_the_predictions_asset() -> None:
    """The predictions task declares the predictions Asset as its outlet."""
    task = _dag_bag().dags["housing_consumer"].get_task("write_predictions")
    assert [(a.name, a.uri) for a in task.outlets] == [
        ("california_housing_predictions_v1", "s3://lake/california_housing_predictions/v1")
    ]


def test_manual_runs_take_a_snapshot_id_param() -> None:
    """The snapshot_id param defaults to None (newest snapshot)."""
    assert _dag_bag().dags["housing_consumer"].params["snapshot_id"] is None


def test_dag_file_imports_nothing_heavy() -> None:
    """Parsing the DAG file imports none of pandas, pyarrow, pandera, sklearn, mlflow, s3fs, matplotlib."""
    import subprocess
    import sys

    probe = (
        "import runpy, sys; runpy.run_path(sys.argv[1]); "
        f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    dag_file = os.path.join(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], "housing_consumer.py")
    project = os.path.dirname(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    out = subprocess.run(
        [sys.executable, "-c", probe, dag_file],
        capture_output=True,
        text=True,
        check=True,
        cwd=project,
        env={**os.environ, "PYTHONPATH": project},
    )
    assert out.stdout.strip().splitlines()[-1:] in ([""], []), f"heavy imports at parse time: {out.stdout}"
