"""The team identities: the real SeaweedFS enforces exactly what identities.py says."""

from __future__ import annotations

import uuid

import boto3
import pytest
import s3fs
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from housing_contracts.dataset import DATASET_URI
from housing_stack.identities import (
    ADMIN,
    DATA_TEAM,
    IDENTITIES,
    ML_TEAM,
    Access,
    identity,
    may,
    seaweedfs_config,
)
from housing_stack.seaweedfs import SeaweedFS
from housing_stack.settings import LAKE_BUCKET, MLFLOW_BUCKET, REGION

RUN = uuid.uuid4().hex
#: (bucket, key) pairs spanning every prefix the grants mention, plus one outside all of them.
LOCATIONS = [
    (LAKE_BUCKET, f"california_housing/v1/snapshots/{RUN}/_manifest.json"),
    (LAKE_BUCKET, f"california_housing_predictions/v1/{RUN}/predictions.parquet"),
    (LAKE_BUCKET, f"_quarantine/california_housing/{RUN}/rejected.parquet"),
    (LAKE_BUCKET, f"elsewhere/{RUN}/object.bin"),
    (MLFLOW_BUCKET, f"1/{RUN}/artifacts/model.pkl"),
]
CASES = [
    pytest.param(name, access, bucket, key, id=f"{name}-{access}-{bucket}/{key.split('/')[0]}")
    for name in (DATA_TEAM, ML_TEAM, ADMIN)
    for access in Access
    for bucket, key in LOCATIONS
]


def _allowed(server: SeaweedFS, name: str, access: Access, bucket: str, key: str) -> bool:
    """Try ``access`` as identity ``name`` on the real server; False on AccessDenied."""
    client = server.client(name)
    admin = server.client(ADMIN)
    try:
        if access is Access.READ:
            admin.put_object(Bucket=bucket, Key=key, Body=b"x")
            client.get_object(Bucket=bucket, Key=key)["Body"].read()
        elif access is Access.WRITE:
            client.put_object(Bucket=bucket, Key=key, Body=b"x")
            client.delete_object(Bucket=bucket, Key=key)
        else:
            client.list_objects_v2(Bucket=bucket, Prefix=key.rsplit("/", 1)[0] + "/")
    except ClientError as error:
        if error.response["Error"]["Code"] == "AccessDenied":
            return False
        raise
    return True


def _word(allowed: bool) -> str:
    return "allowed" if allowed else "denied"


@pytest.mark.parametrize(("name", "access", "bucket", "key"), CASES)
def test_server_enforces_the_grants(
    s3_server: SeaweedFS, name: str, access: Access, bucket: str, key: str, reliability_row
) -> None:
    """Each identity may do on the real server exactly what may() says."""
    observed, expected = _allowed(s3_server, name, access, bucket, key), may(name, access, bucket, key)
    reliability_row(f"{name} {access.value} {bucket}/{key.split('/')[0]}/", _word(expected), _word(observed))
    assert observed == expected


@pytest.mark.parametrize("access", list(Access))
@pytest.mark.parametrize(("bucket", "key"), LOCATIONS, ids=[f"{b}/{k.split('/')[0]}" for b, k in LOCATIONS])
def test_anonymous_access_is_denied(
    s3_server: SeaweedFS, access: Access, bucket: str, key: str, reliability_row
) -> None:
    """Unsigned requests can neither read, write nor list anywhere (the object exists for the read)."""
    anonymous = boto3.client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name=REGION,
        config=Config(signature_version=UNSIGNED),
    )
    admin = s3_server.client(ADMIN)
    admin.put_object(Bucket=bucket, Key=key, Body=b"x")
    attempt = {
        Access.READ: lambda: anonymous.get_object(Bucket=bucket, Key=key)["Body"].read(),
        Access.WRITE: lambda: anonymous.put_object(Bucket=bucket, Key=f"{key}.anonymous", Body=b"x"),
        Access.LIST: lambda: anonymous.list_objects_v2(Bucket=bucket, Prefix=key.rsplit("/", 1)[0] + "/"),
    }[access]
    try:
        attempt()
        observed = "allowed"
    except ClientError as error:
        observed = error.response["Error"]["Code"]
    finally:  # other tests list these buckets (MLflow's experiment folders): leave nothing behind
        admin.delete_object(Bucket=bucket, Key=key)
        admin.delete_object(Bucket=bucket, Key=f"{key}.anonymous")
    reliability_row(f"anonymous {access.value} {bucket}/{key.split('/')[0]}/", "AccessDenied", observed)
    assert observed == "AccessDenied"


def test_ml_team_can_find_committed_manifests(s3_server: SeaweedFS) -> None:
    """The ML team's trigger can glob manifests under the dataset's snapshots/ prefix with s3fs."""
    prefix = f"{LAKE_BUCKET}/california_housing/v1/snapshots"
    key = f"california_housing/v1/snapshots/{RUN}-glob/_manifest.json"
    s3_server.client().put_object(Bucket=LAKE_BUCKET, Key=key, Body=b"{}")
    fs = s3fs.S3FileSystem(**s3_server.storage_options_for(ML_TEAM))
    assert f"{prefix}/{RUN}-glob/_manifest.json" in fs.glob(f"{prefix}/*/_manifest.json")


def test_ml_team_cannot_publish_the_dataset(s3_server: SeaweedFS) -> None:
    """The ML team's identity cannot write under the dataset prefix."""
    fs = s3fs.S3FileSystem(**s3_server.storage_options_for(ML_TEAM))
    with pytest.raises(PermissionError):
        fs.pipe(f"{LAKE_BUCKET}/california_housing/v1/snapshots/{RUN}-forged/_manifest.json", b"{}")


def test_data_team_cannot_write_mlflow(s3_server: SeaweedFS) -> None:
    """The data team's identity cannot write MLflow artifacts."""
    fs = s3fs.S3FileSystem(**s3_server.storage_options_for(DATA_TEAM))
    with pytest.raises(PermissionError):
        fs.pipe(f"{MLFLOW_BUCKET}/{RUN}/model.pkl", b"x")


def test_grants_cover_the_dataset_uri() -> None:
    """Both teams may read the contract's dataset URI; only the data team may write it."""
    key = DATASET_URI.removeprefix(f"s3://{LAKE_BUCKET}/") + "/snapshots/x/_manifest.json"
    assert may(DATA_TEAM, Access.WRITE, LAKE_BUCKET, key)
    assert may(ML_TEAM, Access.READ, LAKE_BUCKET, key)
    assert not may(ML_TEAM, Access.WRITE, LAKE_BUCKET, key)


def test_seaweedfs_config_lists_every_identity() -> None:
    """The rendered -s3.config has one entry per identity with its own key pair."""
    from housing_stack.identities import generate_credentials

    credentials = generate_credentials()
    config = seaweedfs_config(credentials)
    assert [entry["name"] for entry in config["identities"]] == [i.name for i in IDENTITIES]
    for entry in config["identities"]:
        key = credentials[entry["name"]]
        assert entry["credentials"] == [{"accessKey": key.access_key, "secretKey": key.secret_key}]


def test_unknown_identity_is_named() -> None:
    """Asking for an unknown identity names it and the known ones."""
    with pytest.raises(KeyError, match=r"'qa-team'.*admin"):
        identity("qa-team")
