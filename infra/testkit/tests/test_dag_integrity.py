"""The DAG-integrity check fails each rule on a DAG that breaks it, and passes a DAG that keeps them all.

The check runs once, in a pytest subprocess, over a throwaway project whose dags/ folder holds one good
DAG, one that breaks every per-DAG rule, and one that does not import; each test reads its outcomes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

GOOD = '''
"""A DAG that keeps every rule."""
from datetime import UTC, datetime

from airflow.sdk import ExceptionRetryPolicy, RetryAction, dag, task


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    tags=["test"],
    doc_md=__doc__,
    default_args={
        "owner": "some-team",
        "retries": 2,
        "retry_exponential_backoff": 2.0,
        "retry_policy": ExceptionRetryPolicy(rules=[], default=RetryAction.FAIL),
    },
)
def good():
    @task
    def noop() -> None:
        pass

    noop()


good()
'''

BAD = """
import pandas  # heavy, at parse time
import pendulum
from airflow.sdk import dag, task


@dag(
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="Europe/Paris"),
    catchup=True,
    default_args={"owner": "airflow", "retries": 1},
)
def bad():
    @task
    def noop() -> None:
        pass

    noop()


bad()
"""

BROKEN = """
from airflow.sdk import dag
import no_such_module_for_the_dag_integrity_test
"""

TEST_MODULE = """
from pathlib import Path

from housing_testkit import DagIntegrity


class TestDagIntegrity(DagIntegrity):
    dags_folder = Path(__file__).resolve().parent / "dags"
"""


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """test id -> outcome of one run of the check over good.py, bad.py and broken.py."""
    project = tmp_path_factory.mktemp("project")
    (project / "dags").mkdir()
    for name, source in {"good": GOOD, "bad": BAD, "broken": BROKEN}.items():
        (project / "dags" / f"{name}.py").write_text(textwrap.dedent(source))
    (project / "test_integrity.py").write_text(TEST_MODULE)
    home = tmp_path_factory.mktemp("airflow-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_HOME", str(home))
        patch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        patch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "test_integrity.py"],
            capture_output=True,
            text=True,
            cwd=project,
        )
    lines = re.findall(r"^(PASSED|FAILED) test_integrity\.py::TestDagIntegrity::(\S+)", run.stdout, re.M)
    assert lines, run.stdout[-3000:] + run.stderr[-3000:]
    return {test: outcome for outcome, test in lines}


PER_DAG = [
    "dag_tags",
    "dag_owner",
    "dag_retries",
    "dag_does_not_catch_up",
    "dag_starts_in_utc",
    "dag_has_doc_md",
]
ALL = ["file_imports", "file_defines_a_dag", *PER_DAG, "file_parses_without_heavy_imports"]


def test_ids_are_the_dag_files_paths(outcomes: dict[str, str]) -> None:
    """Every check runs once per DAG file, with the file's path in the project as its id."""
    assert set(outcomes) == {f"test_{check}[dags/{f}.py]" for check in ALL for f in ("bad", "broken", "good")}


def test_a_dag_that_keeps_every_rule_passes(outcomes: dict[str, str]) -> None:
    """good.py passes every check."""
    assert {check: outcomes[f"test_{check}[dags/good.py]"] for check in ALL} == dict.fromkeys(ALL, "PASSED")


@pytest.mark.parametrize("check", [*PER_DAG, "file_parses_without_heavy_imports"])
def test_each_broken_rule_fails(outcomes: dict[str, str], check: str) -> None:
    """bad.py (no tags, owner airflow, 1 retry, catchup, Paris start, no doc_md, pandas) fails each check."""
    assert outcomes[f"test_{check}[dags/bad.py]"] == "FAILED"


@pytest.mark.parametrize("check", ["file_imports", "file_defines_a_dag"])
def test_a_file_that_does_not_import_fails(outcomes: dict[str, str], check: str) -> None:
    """broken.py fails the import check and defines no DAG."""
    assert outcomes[f"test_{check}[dags/broken.py]"] == "FAILED"
