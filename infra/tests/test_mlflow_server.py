"""The ``mlflow_server`` fixture: a real MLflow server storing artifacts in the S3 server."""

from __future__ import annotations

import uuid

from housing_stack.identities import ML_TEAM
from housing_stack.mlflow_server import MlflowServer, mlflow_user
from housing_stack.process import http_status
from housing_stack.seaweedfs import SeaweedFS
from housing_stack.settings import MLFLOW_BUCKET


def test_health_answers(mlflow_server: MlflowServer) -> None:
    """The server answers /health on its loopback tracking URI."""
    assert mlflow_server.tracking_uri.startswith("http://127.0.0.1:")
    assert http_status(f"{mlflow_server.tracking_uri}/health") == 200


def test_run_artifact_lands_in_the_bucket(mlflow_server: MlflowServer, s3_server: SeaweedFS) -> None:
    """An artifact logged through the tracking server is stored in the mlflow bucket."""
    from mlflow import MlflowClient

    with mlflow_user(mlflow_server.logins[ML_TEAM]):
        client = MlflowClient(tracking_uri=mlflow_server.tracking_uri)
        experiment_id = client.create_experiment(f"infra-test-{uuid.uuid4().hex}")
        run = client.create_run(experiment_id)
        client.log_text(run.info.run_id, "hello from infra", "notes/hello.txt")
        client.set_terminated(run.info.run_id)
        downloaded = client.download_artifacts(run.info.run_id, "notes/hello.txt")

    listing = s3_server.client().list_objects_v2(Bucket=MLFLOW_BUCKET, Prefix=f"{experiment_id}/")
    keys = [item["Key"] for item in listing.get("Contents", [])]
    assert keys == [f"{experiment_id}/{run.info.run_id}/artifacts/notes/hello.txt"]
    assert downloaded
