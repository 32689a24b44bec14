"""Credentials and endpoints from the ML team's Airflow connections (imported inside tasks only)."""

from __future__ import annotations

import os
from typing import Any

from include.housing_ml.settings import LAKE_CONN_ID, MLFLOW_CONN_ID, MLFLOW_TRACKING_URI_ENV

#: Where MLflow's clients read the user they act as.
MLFLOW_USER_ENV = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")


def lake_storage_options() -> dict[str, Any]:
    """s3fs options (keys, endpoint, region) from the ``lake_s3`` connection."""
    from housing_contracts.airflow.connections import storage_options_from_connection

    return storage_options_from_connection(LAKE_CONN_ID)


def export_mlflow_tracking_uri() -> str:
    """Point this task's MLflow clients at the tracking server: ``$MLFLOW_TRACKING_URI`` if set, else the
    ``mlflow`` connection, whose login and password (the ML team's MLflow user) are exported as
    ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``, the only way MLflow's clients take a user."""
    if uri := os.environ.get(MLFLOW_TRACKING_URI_ENV):
        return uri
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        connection = Connection.get(MLFLOW_CONN_ID)
    except AirflowNotFoundException as err:
        raise RuntimeError(
            f"no MLflow tracking URI: set {MLFLOW_TRACKING_URI_ENV} or the Airflow connection "
            f"{MLFLOW_CONN_ID!r} (type http, e.g. host 127.0.0.1 port 5000, login and password of the "
            "team's MLflow user)"
        ) from err
    port = f":{connection.port}" if connection.port else ""
    uri = f"{connection.schema or 'http'}://{connection.host}{port}"
    os.environ[MLFLOW_TRACKING_URI_ENV] = uri
    if connection.login:
        os.environ.update(zip(MLFLOW_USER_ENV, (connection.login, connection.password or ""), strict=True))
    return uri
