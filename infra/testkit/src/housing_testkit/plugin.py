"""The pytest plugin of the housing-handoff tests: real servers on 127.0.0.1 (no mocks), the real dataset,
the teams' S3 identities and the reliability table.

Enable with ``pytest_plugins = ["housing_testkit.plugin"]`` in a project's top-level ``conftest.py``.

Servers: ``s3_server`` (SeaweedFS, session) and ``mlflow_server`` (session), ``disposable_s3_server`` /
``disposable_mlflow_server`` (a test's own, free to kill). Locations: ``lake_uri`` (a private prefix
for the admin identity) and ``team_lake_uri`` (a private dataset URI inside both teams' grants).
Identities: ``data_team_s3`` / ``ml_team_s3`` (:class:`~housing_testkit.S3Identity`: storage options,
``lake_s3`` connection JSON, AWS environment, boto3 client).

Reliability and security tests take the ``reliability_row`` fixture and call it once with
``(case, expected, observed)``; the rows, with each test's outcome, are printed as one table at the end
of the run, and such tests carry the ``reliability`` marker (``pytest -m reliability``, ``make
test-faults``). Fault-injection tests use the disposable servers and ``task_hooks`` (quick retries and
callbacks on a parsed DAG's tasks).
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from housing_contracts.contract.versions import DATASET_URI
from housing_stack.identities import DATA_TEAM, ML_TEAM, generate_credentials
from housing_stack.seaweedfs import SeaweedFS, SeaweedPorts
from housing_stack.settings import LAKE_BUCKET
from housing_testkit.identities import S3Identity, private_uri

if TYPE_CHECKING:
    import pandas as pd

    from housing_stack.mlflow_server import MlflowServer

#: The dataset's path inside the lake bucket ("california_housing/v1"), reused under a private prefix.
_DATASET_KEY = DATASET_URI.removeprefix(f"s3://{LAKE_BUCKET}/")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """Treat SIGTERM (a CI timeout, `timeout`, `kill`) like Ctrl-C, so fixtures' teardown still stops
    the servers they started instead of leaving them running. Register the ``reliability`` marker."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    config.addinivalue_line(
        "markers", "reliability: a reliability or security case that prints a row of the summary table"
    )


# --- the reliability summary table ---------------------------------------------------------------------

#: (case, expected, observed, outcome) rows, in the order the tests ran.
_ROWS = pytest.StashKey[list[tuple[str, str, str, str]]]()
_OUTCOME = pytest.StashKey[str]()
_HEADER = ("case", "expected", "observed", "test")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that reports a reliability row, so ``-m reliability`` selects exactly those."""
    for item in items:
        if "reliability_row" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.reliability)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    """Remember each test's outcome for its reliability row (a failed assertion shows in the table)."""
    report = yield
    if report.when == "call" or report.failed:
        item.stash[_OUTCOME] = report.outcome
    return report


@pytest.fixture
def reliability_row(request: pytest.FixtureRequest) -> Iterator[Callable[[str, str, str], None]]:
    """``reliability_row(case, expected, observed)``: this test's row of the reliability summary table."""
    recorded: list[tuple[str, str, str]] = []
    yield lambda case, expected, observed: recorded.append((case, expected, observed))
    outcome = request.node.stash.get(_OUTCOME, "passed")
    request.config.stash.setdefault(_ROWS, []).extend((*row, outcome) for row in recorded)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the reliability rows of this run as one table."""
    rows = config.stash.get(_ROWS, [])
    if not rows:
        return
    widths = [min(70, max(len(row[i]) for row in [_HEADER, *rows])) for i in range(len(_HEADER))]
    terminalreporter.write_sep("=", f"reliability summary: {len(rows)} cases")
    for row in [_HEADER, *rows]:
        terminalreporter.write_line(
            " | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A real SeaweedFS S3 server on free loopback ports with buckets ``lake`` and ``mlflow``.

    The admin's keys are ``access_key``/``secret_key`` (``storage_options``, ``env``, ``client()``); the
    teams' least-privilege identities are the ``data_team_s3`` / ``ml_team_s3`` fixtures.
    """
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"), SeaweedPorts.free(), generate_credentials())
    with server:
        yield server


@pytest.fixture
def disposable_s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A SeaweedFS of this test's own (same identities and buckets as ``s3_server``): kill it at will."""
    server = SeaweedFS(
        tmp_path_factory.mktemp("disposable-seaweedfs"), SeaweedPorts.free(), generate_credentials()
    )
    with server:
        yield server


@pytest.fixture
def lake_uri(s3_server: SeaweedFS) -> str:
    """A fresh ``s3://lake/tests/<uuid>/california_housing/v1``, so tests never see each other's snapshots."""
    return f"s3://{LAKE_BUCKET}/tests/{uuid.uuid4().hex}/{_DATASET_KEY}"


@pytest.fixture
def team_lake_uri(s3_server: SeaweedFS) -> str:
    """A fresh ``s3://lake/california_housing/tests/<uuid>/v1``: inside the dataset prefix, so the
    data-team identity may publish there and the ml-team identity may read it."""
    return private_uri(DATASET_URI)


@pytest.fixture(scope="session")
def data_team_s3(s3_server: SeaweedFS) -> S3Identity:
    """The data-team identity on ``s3_server`` (what the producer deployment's ``lake_s3`` holds)."""
    return S3Identity(s3_server, DATA_TEAM)


@pytest.fixture(scope="session")
def ml_team_s3(s3_server: SeaweedFS) -> S3Identity:
    """The ml-team identity on ``s3_server`` (what the consumer deployment's ``lake_s3`` holds)."""
    return S3Identity(s3_server, ML_TEAM)


def _mlflow(s3_server: SeaweedFS, data_dir: Path) -> MlflowServer:
    """An MLflow server on a free loopback port: sqlite stores under ``data_dir``, artifacts in bucket
    ``mlflow``, behind basic-auth as in the stack (``server.logins[team]`` is each team's user)."""
    import secrets

    from housing_stack.identities import generate_mlflow_logins
    from housing_stack.mlflow_server import MlflowServer
    from housing_stack.ports import free_ports

    logins = generate_mlflow_logins()
    return MlflowServer(
        data_dir, free_ports(1)[0], s3_server.env_for(ML_TEAM), logins, secrets.token_urlsafe(24)
    )


@pytest.fixture(scope="session")
def mlflow_server(s3_server: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` for the session (see :func:`_mlflow`)."""
    with _mlflow(s3_server, tmp_path_factory.mktemp("mlflow")) as server:
        yield server


@pytest.fixture
def disposable_mlflow_server(
    s3_server: SeaweedFS, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """An MLflow server of this test's own (see :func:`_mlflow`): kill it at will."""
    with _mlflow(s3_server, tmp_path_factory.mktemp("disposable-mlflow")) as server:
        yield server


class TaskHooks:
    """Changes to a parsed DAG's tasks for one test, undone after it (``dag.test()`` runs these objects).

    ``quick_retries(dag)`` makes every retry wait ``delay`` seconds instead of the production backoff;
    ``on_execute(dag, task_id, fn)`` / ``on_retry(dag, task_id, fn)`` add Airflow callbacks, which run in
    the test's process: where a test kills a server as a task starts, or restarts it once a task failed.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._patch = monkeypatch

    def quick_retries(self, dag: Any, delay: float = 1.0) -> None:
        """Every task retries after ``delay`` seconds, without exponential backoff."""
        for task in dag.tasks:
            self._patch.setattr(task, "retry_delay", timedelta(seconds=delay))
            self._patch.setattr(task, "retry_exponential_backoff", 0)

    def on_execute(self, dag: Any, task_id: str, callback: Callable[[Any], None]) -> None:
        """Run ``callback(context)`` just before each try of ``task_id``."""
        self._patch.setattr(dag.get_task(task_id), "on_execute_callback", [callback])

    def on_retry(self, dag: Any, task_id: str, callback: Callable[[Any], None]) -> None:
        """Run ``callback(context)`` each time ``task_id`` fails and is set up for a retry."""
        self._patch.setattr(dag.get_task(task_id), "on_retry_callback", [callback])


@pytest.fixture
def task_hooks(monkeypatch: pytest.MonkeyPatch) -> TaskHooks:
    """:class:`TaskHooks` for this test."""
    return TaskHooks(monkeypatch)


@pytest.fixture(scope="session")
def california_housing_frame() -> pd.DataFrame:
    """The real California housing dataset (20,640 rows; features + ``MedHouseVal``); do not mutate it."""
    from sklearn.datasets import fetch_california_housing

    data_home = os.environ.get("SCIKIT_LEARN_DATA")
    if not data_home or not Path(data_home).is_dir():
        raise RuntimeError(
            f"SCIKIT_LEARN_DATA={data_home!r}: expected a directory holding cal_housing_py3.pkz "
            "(e.g. export SCIKIT_LEARN_DATA=/work/shared/data/scikit_learn_data); tests never download"
        )
    bunch = fetch_california_housing(data_home=data_home, as_frame=True, download_if_missing=False)
    return bunch.frame
