"""DAG integrity (Astro template style): every DAG file imports cleanly and fast; every DAG is well formed."""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from functools import cache

import pytest
from airflow.models import DagBag

#: Modules that cost seconds to import; a DAG file must import them inside tasks, never at parse time.
HEAVY_MODULES = ("pandas", "pyarrow", "pandera", "sklearn", "mlflow", "s3fs")


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
    # Airflow 3.3's DagBag has no include_examples argument: examples stay out through
    # AIRFLOW__CORE__LOAD_EXAMPLES=False (conftest), and the bag reads only this project's dags/ folder.
    with suppress_logging("airflow"):
        return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def _relative(path: str) -> str:
    return os.path.relpath(path, os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) if os.path.isabs(path) else path


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


def test_producer_dag_is_in_the_bag() -> None:
    """The bag holds the producer DAG."""
    assert "housing_producer" in _dag_bag().dags


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
    """Each DAG has catchup disabled and a UTC start date."""
    assert dag.catchup is False, f"{dag_id} in {fileloc} catches up"
    assert dag.start_date.utcoffset().total_seconds() == 0, f"{dag_id} in {fileloc} starts in a local zone"


def test_producer_dag_parses_without_heavy_imports() -> None:
    """The producer DAG file parses without importing pandas & co. (parse time printed, not asserted)."""
    import subprocess
    import sys

    dags_folder = os.environ["AIRFLOW__CORE__DAGS_FOLDER"]
    # A fresh interpreter, because this process has already imported pandas and Airflow.
    code = (
        "import time, runpy, sys; import airflow.sdk; t = time.perf_counter(); "
        f"runpy.run_path({os.path.join(dags_folder, 'housing_producer.py')!r}); "
        "print(time.perf_counter() - t); "
        f"print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    project_dir = os.path.dirname(dags_folder)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=project_dir,
        env={**os.environ, "PYTHONPATH": project_dir},
    ).stdout.splitlines()
    seconds, heavy = float(out[-2]), out[-1]
    print(f"\nhousing_producer.py parse time (after airflow.sdk import): {seconds * 1000:.0f} ms")
    assert heavy == "[]", f"the DAG file imports heavy modules at parse time: {heavy}"
