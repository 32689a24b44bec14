"""One DAG-integrity check for every Airflow project of the repository (the Astro template's, extended).

A team's ``tests/dags/test_dag_integrity.py`` subclasses :class:`DagIntegrity` and names its DAGs folder;
each check then runs once per DAG file, with the file's path in the project as the test id::

    class TestDagIntegrity(DagIntegrity):
        dags_folder = Path(__file__).resolve().parents[2] / "dags"

Each file imports without errors and defines a DAG; each of its DAGs has tags, a real owner, task retries
(at least :data:`MIN_RETRIES`, exponential backoff, a retry policy), catchup off, a UTC start date and a
``doc_md``; and parsing the file in a fresh interpreter imports none of :data:`HEAVY_MODULES`. Airflow is
imported when a check runs, not when this module is, so a conftest can configure it first.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

if TYPE_CHECKING:
    from airflow.dag_processing.dagbag import DagBag

#: Modules that cost seconds to import: a DAG file imports them inside tasks, never at parse time.
HEAVY_MODULES = ("pandas", "pyarrow", "pandera", "sklearn", "mlflow", "s3fs", "matplotlib")
MIN_RETRIES = 2
UTC_NAMES = ("UTC", "Etc/UTC")

# Run by the heavy-import check in a fresh interpreter: argv = [dag file, *modules]. Prints the parse
# time (after Airflow's own import) and the heavy modules the file pulled in.
_PROBE = (
    "import runpy, sys, time; import airflow.sdk; started = time.perf_counter(); "
    "runpy.run_path(sys.argv[1]); print(time.perf_counter() - started); "
    "print(','.join(m for m in sys.argv[2:] if m in sys.modules))"
)


def dag_bag(dags_folder: str | Path) -> DagBag:
    """The DagBag of ``dags_folder``, parsed once per process."""
    return _dag_bag(str(Path(dags_folder).resolve()))


@cache
def _dag_bag(dags_folder: str) -> DagBag:
    from airflow.dag_processing.dagbag import DagBag

    # Airflow 3.3's DagBag reads only the folder it is given (it has no include_examples argument; the
    # example DAGs are a bundle of their own). Its loggers are muted while it parses.
    logger = logging.getLogger("airflow")
    disabled, logger.disabled = logger.disabled, True
    try:
        return DagBag(dag_folder=dags_folder)
    finally:
        logger.disabled = disabled


def dag_files(dags_folder: str | Path) -> list[Path]:
    """The Python files of ``dags_folder`` (recursively, without ``__init__.py``)."""
    return sorted(
        path
        for path in Path(dags_folder).resolve().rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    )


class DagIntegrity:
    """The checks, parametrized over the files of :attr:`dags_folder` (set it in the subclass)."""

    dags_folder: ClassVar[Path]
    heavy_modules: ClassVar[tuple[str, ...]] = HEAVY_MODULES

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """One test per DAG file; its id is the file's path relative to the project folder."""
        if "dag_file" in metafunc.fixturenames:
            files = dag_files(self.dags_folder)
            project = Path(self.dags_folder).resolve().parent
            metafunc.parametrize("dag_file", files, ids=[str(f.relative_to(project)) for f in files])

    def dags_in(self, dag_file: Path) -> list[Any]:
        """The DAGs that ``dag_file`` defines."""
        dags = dag_bag(self.dags_folder).dags.values()
        return [dag for dag in dags if Path(dag.fileloc).resolve() == dag_file]

    def test_file_imports(self, dag_file: Path) -> None:
        """The DAG file imports without errors."""
        error = dag_bag(self.dags_folder).import_errors.get(str(dag_file))
        assert error is None, f"{dag_file.name} failed to import:\n{error}"

    def test_file_defines_a_dag(self, dag_file: Path) -> None:
        """The DAG file defines at least one DAG (so the checks below are not vacuous)."""
        assert self.dags_in(dag_file), f"{dag_file.name} defines no DAG"

    def test_dag_tags(self, dag_file: Path) -> None:
        """Each DAG has tags."""
        for dag in self.dags_in(dag_file):
            assert dag.tags, f"{dag.dag_id} in {dag_file.name} has no tags"

    def test_dag_owner(self, dag_file: Path) -> None:
        """Each DAG names a real owner (not Airflow's default 'airflow')."""
        for dag in self.dags_in(dag_file):
            owner = dag.default_args.get("owner")
            assert owner not in (None, "", "airflow"), f"{dag.dag_id} in {dag_file.name} has no owner"

    def test_dag_retries(self, dag_file: Path) -> None:
        """Each DAG retries tasks at least twice, with exponential backoff and a retry policy."""
        for dag in self.dags_in(dag_file):
            args, where = dag.default_args, f"{dag.dag_id} in {dag_file.name}"
            assert args.get("retries", 0) >= MIN_RETRIES, f"{where} must have task retries >= {MIN_RETRIES}"
            assert args.get("retry_exponential_backoff"), f"{where} has no exponential backoff"
            assert args.get("retry_policy") is not None, f"{where} has no retry policy"

    def test_dag_does_not_catch_up(self, dag_file: Path) -> None:
        """Each DAG has catchup off."""
        for dag in self.dags_in(dag_file):
            assert dag.catchup is False, f"{dag.dag_id} in {dag_file.name} catches up"

    def test_dag_starts_in_utc(self, dag_file: Path) -> None:
        """Each DAG has a start date in UTC."""
        for dag in self.dags_in(dag_file):
            assert dag.start_date is not None, f"{dag.dag_id} in {dag_file.name} has no start_date"
            # The DAG stores start_date converted to UTC; the zone it was given is dag.timezone.
            zone = getattr(dag.timezone, "name", str(dag.timezone))
            assert zone in UTC_NAMES, f"{dag.dag_id} in {dag_file.name} starts in {zone}, not in UTC"

    def test_dag_has_doc_md(self, dag_file: Path) -> None:
        """Each DAG carries its documentation (``doc_md``) for the UI."""
        for dag in self.dags_in(dag_file):
            assert (dag.doc_md or "").strip(), f"{dag.dag_id} in {dag_file.name} has no doc_md"

    def test_file_parses_without_heavy_imports(self, dag_file: Path) -> None:
        """Parsing the DAG file imports none of the heavy modules (parse time printed, not asserted)."""
        project = Path(self.dags_folder).resolve().parent
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", _PROBE, str(dag_file), *self.heavy_modules],
            capture_output=True,
            text=True,
            cwd=project,
            env={**os.environ, "PYTHONPATH": str(project)},
        )
        assert out.returncode == 0, f"parsing {dag_file.name} failed:\n{out.stderr[-3000:]}"
        seconds, heavy = out.stdout.splitlines()[-2:]
        print(
            f"\n{dag_file.name}: parse {float(seconds) * 1000:.0f} ms after airflow.sdk "
            f"({time.perf_counter() - started:.1f} s with the interpreter)"
        )
        assert heavy == "", f"{dag_file.name} imports heavy modules at parse time: {heavy}"
