"""Endpoints from the deployment: S3 options from ``lake_s3``; the MLflow URI from env or ``mlflow``, and
the MLflow user from ``mlflow``."""

from __future__ import annotations

import json
import os

import pytest

from include.housing_ml.connections import export_mlflow_tracking_uri, lake_storage_options


def test_lake_options_come_from_the_lake_s3_connection(monkeypatch) -> None:
    """Keys and endpoint of AIRFLOW_CONN_LAKE_S3 become s3fs storage options."""
    connection = {
        "conn_type": "aws",
        "login": "ml-team",
        "password": "secret",
        "extra": {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", json.dumps(connection))
    assert lake_storage_options() == {
        "key": "ml-team",
        "secret": "secret",
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"},
    }


def test_environment_wins_for_the_mlflow_uri(monkeypatch) -> None:
    """MLFLOW_TRACKING_URI, when set, is used as is."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:1")
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW", json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 2})
    )
    assert export_mlflow_tracking_uri() == "http://127.0.0.1:1"


def test_mlflow_connection_fills_in_a_missing_uri(monkeypatch) -> None:
    """Without MLFLOW_TRACKING_URI, the mlflow connection's URI is used and exported."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_MLFLOW", json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 5000})
    )
    assert export_mlflow_tracking_uri() == "http://127.0.0.1:5000"
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:5000"


def test_no_mlflow_uri_at_all_names_both_sources(monkeypatch) -> None:
    """With neither source, the error names the variable and the connection."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_MLFLOW", raising=False)
    with pytest.raises(RuntimeError, match="MLFLOW_TRACKING_URI or the Airflow connection 'mlflow'"):
        export_mlflow_tracking_uri()


def test_mlflow_connection_login_becomes_the_mlflow_user(monkeypatch) -> None:
    """The mlflow connection's login and password are exported where MLflow's clients read their user."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    connection = {
        "conn_type": "http",
        "schema": "http",
        "host": "127.0.0.1",
        "port": 5001,
        "login": "ml-team",
        "password": "s3cret",
    }
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW", json.dumps(connection))
    assert export_mlflow_tracking_uri() == "http://127.0.0.1:5001"
    assert (os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]) == (
        "ml-team",
        "s3cret",
    )
