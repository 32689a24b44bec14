"""The data team's Airflow connection to the lake, as s3fs storage options: read inside tasks and the
Contract page's requests, never at DAG parse time."""

from __future__ import annotations

from typing import Any

from include.housing_data.settings import LAKE_CONN_ID


def lake_storage_options() -> dict[str, Any]:
    """s3fs options (keys, endpoint, region) of this deployment's ``lake_s3`` connection (the data-team
    identity)."""
    from housing_contracts.airflow.connections import storage_options_from_connection

    return storage_options_from_connection(LAKE_CONN_ID)
