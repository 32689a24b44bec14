"""Test environment of the data team: an isolated Airflow home, the shared stack fixtures.

Airflow reads its configuration when first imported, so the environment is set here, before any test
module (or plugin) imports it: a temporary AIRFLOW_HOME with a SQLite metadata database and this
project's dags/ folder, so tests never touch a developer's Airflow.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="data-team-airflow-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_DIR / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }
)
# A developer's shell may point tasks elsewhere; tests set these themselves.
for _name in ("AIRFLOW_CONN_LAKE_S3", "HOUSING_DATASET_URI"):
    os.environ.pop(_name, None)

pytest_plugins = ["housing_testkit.plugin"]


def pytest_unconfigure(config) -> None:
    """Remove the temporary Airflow home."""
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)
