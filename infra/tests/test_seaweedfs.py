"""The ``s3_server`` fixture: a real SeaweedFS with the stack's buckets and identities."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest
import s3fs
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from housing_stack.identities import ADMIN, generate_credentials
from housing_stack.seaweedfs import SeaweedFS, SeaweedPorts
from housing_stack.settings import LAKE_BUCKET, MLFLOW_BUCKET, REGION


def test_buckets_exist(s3_server: SeaweedFS) -> None:
    """The server starts with the lake and mlflow buckets."""
    names = {bucket["Name"] for bucket in s3_server.client().list_buckets()["Buckets"]}
    assert {LAKE_BUCKET, MLFLOW_BUCKET} <= names


def test_storage_options_round_trip(s3_server: SeaweedFS, lake_uri: str) -> None:
    """The admin storage_options let s3fs write and read back an object."""
    fs = s3fs.S3FileSystem(**s3_server.storage_options)
    fs.pipe(f"{lake_uri}/hello.txt", b"hello")
    assert fs.cat(f"{lake_uri}/hello.txt") == b"hello"


def test_lake_uri_is_fresh_and_inside_the_lake(lake_uri: str) -> None:
    """lake_uri points at an empty private prefix of the lake bucket ending in the dataset path."""
    assert lake_uri.startswith(f"s3://{LAKE_BUCKET}/tests/")
    assert lake_uri.endswith("/california_housing/v1")


def test_env_names_the_admin(s3_server: SeaweedFS) -> None:
    """env carries the standard AWS variables for the admin identity."""
    assert s3_server.env == {
        "AWS_ENDPOINT_URL": s3_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": s3_server.access_key,
        "AWS_SECRET_ACCESS_KEY": s3_server.secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def test_anonymous_requests_are_denied(s3_server: SeaweedFS) -> None:
    """Unsigned requests get AccessDenied."""
    unsigned = Config(signature_version=UNSIGNED)
    anonymous = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name=REGION, config=unsigned)
    with pytest.raises(ClientError, match="AccessDenied"):
        anonymous.list_objects_v2(Bucket=LAKE_BUCKET)


def test_wrong_secret_is_denied(s3_server: SeaweedFS) -> None:
    """A known key id with the wrong secret is rejected."""
    client = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key="not-the-secret",
    )
    with pytest.raises(ClientError, match=r"SignatureDoesNotMatch|AccessDenied"):
        client.list_objects_v2(Bucket=LAKE_BUCKET)


def test_restart_keeps_objects(tmp_path: Path) -> None:
    """stop() then start() on the same directory and ports serves the objects written before."""
    with SeaweedFS(tmp_path, SeaweedPorts.free(), generate_credentials()) as server:
        key = f"restart/{uuid.uuid4().hex}"
        server.client().put_object(Bucket=LAKE_BUCKET, Key=key, Body=b"kept")
        server.stop()
        assert not server.healthy()
        server.start()
        assert server.client(ADMIN).get_object(Bucket=LAKE_BUCKET, Key=key)["Body"].read() == b"kept"
    assert not server.process.is_running()
    assert not list(Path("/tmp").glob(f"seaweedfs-*-{server.ports.s3}.sock"))


def test_airflow_connection_authenticates_as_the_named_identity(s3_server: SeaweedFS) -> None:
    """airflow_connection(name) is the lake_s3 connection JSON with that identity's keys and the endpoint."""
    connection = json.loads(s3_server.airflow_connection("ml-team"))
    assert connection == {
        "conn_type": "aws",
        "login": s3_server.identity("ml-team").access_key,
        "password": s3_server.identity("ml-team").secret_key,
        "extra": {"endpoint_url": s3_server.endpoint_url, "region_name": s3_server.region},
    }


def test_stopping_an_idle_twin_leaves_the_live_server_working(s3_server: SeaweedFS, tmp_path: Path) -> None:
    """stop() of a SeaweedFS that is not running but has the live one's ports (``make down`` of the other
    profile) keeps the live server's unix sockets, so it still stores objects."""
    twin = SeaweedFS(tmp_path, s3_server.ports, s3_server.credentials)
    twin.stop()
    assert list(Path("/tmp").glob(f"seaweedfs-*-{s3_server.ports.master_grpc}.sock"))
    key = f"twin/{uuid.uuid4().hex}"
    s3_server.client().put_object(Bucket=LAKE_BUCKET, Key=key, Body=b"still served")
    assert s3_server.client().get_object(Bucket=LAKE_BUCKET, Key=key)["Body"].read() == b"still served"
