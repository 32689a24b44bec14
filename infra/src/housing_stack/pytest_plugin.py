"""Shared pytest fixtures: real servers on 127.0.0.1 (no mocks) and the real dataset.

Enable with ``pytest_plugins = ["housing_stack.pytest_plugin"]`` in a top-level ``conftest.py``.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from housing_contracts.dataset import DATASET_URI
from housing_stack.identities import ML_TEAM, generate_credentials
from housing_stack.seaweedfs import SeaweedFS, SeaweedPorts
from housing_stack.settings import LAKE_BUCKET

if TYPE_CHECKING:
    import pandas as pd

    from housing_stack.mlflow_server import MlflowServer

#: The dataset's path inside the lake bucket ("california_housing/v1"), reused under a private prefix.
_DATASET_KEY = DATASET_URI.removeprefix(f"s3://{LAKE_BUCKET}/")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """Treat SIGTERM (a CI timeout, `timeout`, `kill`) like Ctrl-C, so fixtures' teardown still stops
    the servers they started instead of leaving them running."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedFS]:
    """A real SeaweedFS S3 server on free loopback ports with buckets ``lake`` and ``mlflow``.

    The admin's keys are ``access_key``/``secret_key``; ``identity("data-team")`` and
    ``storage_options_for("ml-team")`` give the teams' least-privilege identities.
    """
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"), SeaweedPorts.free(), generate_credentials())
    with server:
        yield server


@pytest.fixture
def lake_uri(s3_server: SeaweedFS) -> str:
    """A fresh ``s3://lake/tests/<uuid>/california_housing/v1``, so tests never see each other's snapshots."""
    return f"s3://{LAKE_BUCKET}/tests/{uuid.uuid4().hex}/{_DATASET_KEY}"


@pytest.fixture(scope="session")
def mlflow_server(s3_server: SeaweedFS, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` on a free loopback port; sqlite backend, artifacts in bucket ``mlflow``."""
    from housing_stack.mlflow_server import MlflowServer
    from housing_stack.ports import free_ports

    data_dir = tmp_path_factory.mktemp("mlflow")
    server = MlflowServer(data_dir, port=free_ports(1)[0], s3_env=s3_server.env_for(ML_TEAM))
    with server:
        yield server


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
