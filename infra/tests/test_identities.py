"""The team identities: the real SeaweedFS enforces exactly what identities.py says."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import s3fs
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from housing_contracts import V1
from housing_contracts.contract.versions import DATASET_URI
from housing_stack.identities import (
    ADMIN,
    CONSUMERS_PREFIX,
    DATA_TEAM,
    IDENTITIES,
    ML_TEAM,
    Access,
    Credentials,
    consumer_prefix,
    identity,
    may,
    seaweedfs_config,
)
from housing_stack.seaweedfs import SeaweedFS
from housing_stack.settings import LAKE_BUCKET, MLFLOW_BUCKET, REGION
from housing_testkit.identities import S3Identity

RUN = uuid.uuid4().hex
DATASET_KEY = DATASET_URI.removeprefix(f"s3://{LAKE_BUCKET}/")
#: A consumer with no identity in the stack: its prefix is nobody's to write but its own.
OTHER_CONSUMER = "other-team"
#: (bucket, key) pairs spanning every prefix the grants mention, plus one outside all of them.
LOCATIONS = [
    (LAKE_BUCKET, f"california_housing/v1/snapshots/{RUN}/_manifest.json"),
    (LAKE_BUCKET, f"california_housing_predictions/v1/{RUN}/predictions.parquet"),
    (LAKE_BUCKET, f"_quarantine/california_housing/{RUN}/rejected.parquet"),
    (LAKE_BUCKET, f"{consumer_prefix(ML_TEAM)}{DATASET_KEY}/receipts/{RUN}/run.json"),
    (LAKE_BUCKET, f"{consumer_prefix(OTHER_CONSUMER)}{DATASET_KEY}/receipts/{RUN}/run.json"),
    (LAKE_BUCKET, f"elsewhere/{RUN}/object.bin"),
    (MLFLOW_BUCKET, f"1/{RUN}/artifacts/model.pkl"),
]


def _area(key: str) -> str:
    """The part of ``key`` a grant is about: its first folder, or ``_consumers/<consumer>``."""
    parts = key.split("/")
    return "/".join(parts[:2]) if key.startswith(CONSUMERS_PREFIX) else parts[0]


CASES = [
    pytest.param(name, access, bucket, key, id=f"{name}-{access}-{bucket}/{_area(key)}")
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
    reliability_row(f"{name} {access.value} {bucket}/{_area(key)}/", _word(expected), _word(observed))
    assert observed == expected


@pytest.mark.parametrize("access", list(Access))
@pytest.mark.parametrize(("bucket", "key"), LOCATIONS, ids=[f"{b}/{_area(k)}" for b, k in LOCATIONS])
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
    reliability_row(f"anonymous {access.value} {bucket}/{_area(key)}/", "AccessDenied", observed)
    assert observed == "AccessDenied"


#: Who may do what with consumer records, stated outright rather than through may(): a grant changed in
#: identities.py changes may() and the server alike, but fails one of these rows.
UNKNOWN = "qa-team"  # keys the server has never seen
CONSUMER_ROWS = [
    (ML_TEAM, "put", ML_TEAM, True),
    (ML_TEAM, "get", ML_TEAM, True),
    (ML_TEAM, "list", ML_TEAM, True),
    (ML_TEAM, "delete", ML_TEAM, True),
    (ML_TEAM, "put", OTHER_CONSUMER, False),
    (ML_TEAM, "delete", OTHER_CONSUMER, False),
    (DATA_TEAM, "get", ML_TEAM, True),
    (DATA_TEAM, "list", ML_TEAM, True),
    (DATA_TEAM, "get", OTHER_CONSUMER, True),
    (DATA_TEAM, "list", OTHER_CONSUMER, True),
    (DATA_TEAM, "list", None, True),  # the consumers themselves: `_consumers/`
    (DATA_TEAM, "put", ML_TEAM, False),
    (DATA_TEAM, "delete", ML_TEAM, False),
    (UNKNOWN, "get", ML_TEAM, False),
    (UNKNOWN, "list", None, False),
    (UNKNOWN, "put", ML_TEAM, False),
]


def _client_as(server: SeaweedFS, name: str):
    """A boto3 client of identity ``name``; for an unknown name, keys the server does not know."""
    if name in server.credentials:
        return server.client(name)
    return Credentials.generate(name).s3_client(server.endpoint_url, REGION)


@pytest.mark.parametrize(
    ("name", "operation", "consumer", "allowed"),
    CONSUMER_ROWS,
    ids=[f"{n}-{op}-{c or 'all'}" for n, op, c, _ in CONSUMER_ROWS],
)
def test_consumer_records(
    s3_server: SeaweedFS, name: str, operation: str, consumer: str | None, allowed: bool, reliability_row
) -> None:
    """Each consumer writes only its own ``_consumers/<consumer>/`` prefix; the data team reads every
    consumer's records and writes none; an identity the server does not know gets nothing."""
    prefix = consumer_prefix(consumer) if consumer else CONSUMERS_PREFIX
    key = f"{prefix}{DATASET_KEY}/receipts/{RUN}-{name}-{operation}/run.json"
    admin, client = s3_server.client(ADMIN), _client_as(s3_server, name)
    admin.put_object(Bucket=LAKE_BUCKET, Key=key, Body=b"{}")
    attempt = {
        "put": lambda: client.put_object(Bucket=LAKE_BUCKET, Key=key, Body=b'{"forged": true}'),
        "get": lambda: client.get_object(Bucket=LAKE_BUCKET, Key=key)["Body"].read(),
        "list": lambda: client.list_objects_v2(Bucket=LAKE_BUCKET, Prefix=prefix, Delimiter="/"),
        "delete": lambda: client.delete_object(Bucket=LAKE_BUCKET, Key=key),
    }[operation]
    try:
        attempt()
        observed = "allowed"
    except ClientError as error:
        observed = error.response["Error"]["Code"]
    try:
        if observed != "allowed":  # a refused write left the record as it was
            assert admin.get_object(Bucket=LAKE_BUCKET, Key=key)["Body"].read() == b"{}"
    finally:
        admin.delete_object(Bucket=LAKE_BUCKET, Key=key)
    expected = "allowed" if allowed else "denied"
    reliability_row(f"{name} {operation} lake/{prefix}", expected, observed)
    if allowed:
        assert observed == "allowed"
    else:
        assert observed in ("AccessDenied", "InvalidAccessKeyId")


def test_data_team_finds_every_consumers_subscription(s3_server: SeaweedFS) -> None:
    """The data team's identity globs every consumer's subscription of the dataset with s3fs, as the
    consumer listing does (a listing of ``_consumers/`` itself, then of each consumer's prefix)."""
    keys = [
        f"{consumer_prefix(c)}{DATASET_KEY}/subscription.json" for c in (ML_TEAM, f"{OTHER_CONSUMER}-{RUN}")
    ]
    admin = s3_server.client(ADMIN)
    for key in keys:
        admin.put_object(Bucket=LAKE_BUCKET, Key=key, Body=b"{}")
    try:
        fs = s3fs.S3FileSystem(**s3_server.storage_options_for(DATA_TEAM))
        found = fs.glob(f"{LAKE_BUCKET}/{CONSUMERS_PREFIX}*/{DATASET_KEY}/subscription.json")
        assert {f"{LAKE_BUCKET}/{key}" for key in keys} <= set(found)
    finally:
        for key in keys:
            admin.delete_object(Bucket=LAKE_BUCKET, Key=key)


def test_consumer_records_through_the_contract_api(
    team_lake_uri: str, data_team_s3: S3Identity, ml_team_s3: S3Identity
) -> None:
    """With each team's own keys: the ML team subscribes and records a receipt, the data team lists them
    with consumer_lag() and may not write a record for the ML team."""
    from housing_contracts import publish
    from housing_contracts.consumers.lag import consumer_lag
    from housing_contracts.consumers.records import Receipt, Subscription, record_receipt, subscribe
    from housing_contracts.testing import sample_frame

    published = publish(
        sample_frame(), team_lake_uri, storage_options=data_team_s3.storage_options, contract=V1
    )
    snapshot_id = published.manifest.snapshot_id
    now = datetime.now(UTC)
    subscription = Subscription(
        ML_TEAM, team_lake_uri, "http://ml.example", timedelta(hours=1), "latest", None, now, "1.1.0"
    )
    receipt = Receipt(
        ML_TEAM, team_lake_uri, snapshot_id, "housing_consumer", RUN, "success", None, now, now, {"v": 1}
    )
    subscribe(subscription, storage_options=ml_team_s3.storage_options)
    record_receipt(receipt, storage_options=ml_team_s3.storage_options)
    [row] = consumer_lag(team_lake_uri, storage_options=data_team_s3.storage_options)
    assert (row.consumer, row.consumed_snapshot_id, row.lag_snapshots, row.problems) == (
        ML_TEAM,
        snapshot_id,
        0,
        (),
    )
    with pytest.raises(PermissionError):
        record_receipt(receipt, storage_options=data_team_s3.storage_options)


def test_data_team_lists_no_consumers_before_any_subscribes(disposable_s3_server: SeaweedFS) -> None:
    """With nothing under ``_consumers/`` yet, the data team's listing is empty, not a 403 (s3fs would
    otherwise HEAD the key ``_consumers`` itself, outside the grant)."""
    from housing_contracts.consumers.lag import consumer_lag

    options = disposable_s3_server.storage_options_for(DATA_TEAM)
    assert consumer_lag(DATASET_URI, storage_options=options) == []


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


def test_readme_access_table_is_rendered_from_the_identities() -> None:
    """The README's "Who can do what" is exactly what ``access_table()`` renders from this module."""
    from housing_stack.identities import access_table
    from housing_stack.settings import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text()
    start, end = "<!-- access-table:start -->\n", "\n<!-- access-table:end -->"
    assert start in readme and end in readme, "README.md lost its access-table markers"
    assert readme.split(start, 1)[1].split(end, 1)[0] == access_table()
