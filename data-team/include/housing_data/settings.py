"""The producer's configuration, each fact defined once.

Values that differ per deployment (keys, endpoint) come from the Airflow connection ``lake_s3``; nothing
here is a secret. The dataset location comes from ``housing_contracts.dataset_uri(V1)`` (overridable through
``HOUSING_DATASET_URI`` for tests and benchmarks).
"""

from __future__ import annotations

import re
from datetime import timedelta

from housing_contracts import CONTRACT_NAME
from housing_contracts.contract.versions import LAKE_ROOT

#: Airflow connection (type ``aws``) holding the data-team S3 identity; endpoint URL in its extra.
LAKE_CONN_ID = "lake_s3"

#: Failure reports and offending rows of runs whose data broke the contract, one folder per run.
QUARANTINE_ROOT = f"{LAKE_ROOT}/_quarantine/{CONTRACT_NAME}"

#: Folder, next to the dataset's version folders, where tasks hand frames to each other during a run.
#: Readers only look at ``<dataset>/snapshots/*/_manifest.json``, so staged files are invisible to them.
STAGING_DIRNAME = "_staging"

#: Default source of a run: scikit-learn's copy of the 1990 census block groups.
DEFAULT_SOURCE = "sklearn"

#: Cleaning may remove at most this share of the rows; more is an incident, not a cleaning job.
DEFAULT_MAX_DROP_SHARE = 0.05

OWNER = "data-team"
TAGS = ["data-team", "producer", CONTRACT_NAME]

#: How often ``housing_consumer_lag`` compares each subscribed consumer's lag with its own promise.
CONSUMER_LAG_CHECK_SCHEDULE = timedelta(minutes=30)

#: Retries are for transient storage and Airflow API errors only (``retries.STORAGE_RETRY_POLICY``, in
#: ``retries.default_args()``);
#: data errors raise AirflowFailException and fail at once.
RETRIES = 3
RETRY_DELAY = timedelta(seconds=30)
RETRY_EXPONENTIAL_BACKOFF = 2.0
MAX_RETRY_DELAY = timedelta(minutes=10)

_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]")


def run_key(run_id: str) -> str:
    """``run_id`` as an object-key segment: characters other than ``A-Za-z0-9._-`` become ``_``.

    Airflow run ids contain ``:`` and ``+`` (``manual__2026-11-23T20:12:08+00:00``), which some S3
    clients and proxies encode differently; a plain segment means one key everywhere.
    """
    if not run_id:
        raise ValueError("run_id must be a non-empty string")
    return _UNSAFE_KEY_CHARS.sub("_", run_id)


def quarantine_uri(run_id: str) -> str:
    """Folder of one run's quarantined report and rows: ``<QUARANTINE_ROOT>/<run key>``."""
    return f"{QUARANTINE_ROOT}/{run_key(run_id)}"


def staging_uri(dataset_uri: str, run_id: str) -> str:
    """Folder of one run's staged frames: ``<dataset parent>/_staging/<run key>``.

    For ``s3://lake/california_housing/v1`` that is ``s3://lake/california_housing/_staging/<run key>``:
    inside the data team's writable prefix, outside every version's ``snapshots/``.
    """
    parent = dataset_uri.rstrip("/").rsplit("/", 1)[0]
    return f"{parent}/{STAGING_DIRNAME}/{run_key(run_id)}"
