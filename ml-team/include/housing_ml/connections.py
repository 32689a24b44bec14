"""Credentials and endpoints from the ML team's Airflow connections (imported inside tasks only)."""

from __future__ import annotations

import os
from typing import Any

from include.housing_ml.settings import LAKE_CONN_ID, MLFLOW_CONN_ID, MLFLOW_TRACKING_URI_ENV


def lake_storage_options() -> dict[str, Any]:
    """s3fs options (keys, endpoint, region) from the ``lake_s3`` connection."""
    from housing_contracts.airflow.connections import storage_options_from_connection

    return storage_options_from_connection(LAKE_CONN_ID)


def export_mlflow_tracking_uri() -> str:
    """Make sure ``$MLFLOW_TRACKING_URI`` is set: the environment wins, else the ``mlflow`` connection."""
    if uri := os.environ.get(MLFLOW_TRACKING_URI_ENV):
        return uri
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        uri = Connection.get(MLFLOW_CONN_ID).get_uri()
    except AirflowNotFoundException as err:
        raise RuntimeError(
            f"no MLflow tracking URI: set {MLFLOW_TRACKING_URI_ENV} or the Airflow connection "
            f"{MLFLOW_CONN_ID!r} (type http, e.g. host 127.0.0.1 port 5000)"
        ) from err
    os.environ[MLFLOW_TRACKING_URI_ENV] = uri
    return uri
