"""The end of ``make demo``: the dataset's consumers, read with the data team's keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from housing_contracts import V1, publish
from housing_contracts.consumers.records import Receipt, Subscription, record_receipt, subscribe
from housing_contracts.testing import sample_frame
from housing_stack.demo import consumers_section
from housing_stack.identities import ML_TEAM
from housing_testkit.identities import S3Identity


def test_demo_ends_with_each_consumers_lag(
    team_lake_uri: str, data_team_s3: S3Identity, ml_team_s3: S3Identity
) -> None:
    """A consumer that took the newest snapshot shows lag 0 and its promise; the table is what
    ``housing-contract consumers`` prints, under a heading naming the dataset."""
    published = publish(
        sample_frame(), team_lake_uri, storage_options=data_team_s3.storage_options, contract=V1
    )
    snapshot_id = published.manifest.snapshot_id
    ml = ml_team_s3.storage_options
    _consumed_by_ml_team(team_lake_uri, snapshot_id, ml)
    lines = consumers_section(team_lake_uri, data_team_s3.storage_options).splitlines()
    assert lines[1] == f"consumers of {team_lake_uri}"
    [row] = [[cell.strip() for cell in line.split("|")] for line in lines if line.startswith(ML_TEAM)]
    assert row == [ML_TEAM, "http://ml.example", snapshot_id, "success", "0", "0s", "≤ 6h", "ok"]


def test_the_flow_helpers_skip_old_junk_manifests(
    team_lake_uri: str, data_team_s3: S3Identity, ml_team_s3: S3Identity, reliability_row
) -> None:
    """On a lake holding junk manifests (not JSON, a strict-record failure) older and newer than the good
    snapshot, the flow lists only the good one (with the ML team's keys, as ``make demo`` does) and the
    demo's consumers table still renders with lag 0: no traceback."""
    import fsspec

    from housing_contracts.lake.layout import new_snapshot_id
    from housing_stack.flow import committed_snapshots

    def junk(after: str | None, body: bytes) -> str:
        snapshot_id, _ = new_snapshot_id(after=after)
        path = f"{team_lake_uri}/snapshots/{snapshot_id}/_manifest.json"
        with fsspec.open(path, "wb", **data_team_s3.storage_options) as file:
            file.write(body)
        return snapshot_id

    old = junk(None, b"{not json")
    good = publish(sample_frame(), team_lake_uri, storage_options=data_team_s3.storage_options, contract=V1)
    snapshot_id = good.manifest.snapshot_id
    newer = junk(snapshot_id, b'{"contract": {"name": "california_housing", "version": "1.1.0"}}')
    ml = ml_team_s3.storage_options
    _consumed_by_ml_team(team_lake_uri, snapshot_id, ml)
    listed = [m.snapshot_id for m in committed_snapshots(team_lake_uri, ml)]
    lines = consumers_section(team_lake_uri, data_team_s3.storage_options).splitlines()
    [row] = [[cell.strip() for cell in line.split("|")] for line in lines if line.startswith(ML_TEAM)]
    reliability_row(
        "make demo's flow helpers on a lake with junk manifests before and after the good one",
        "the good snapshot listed, the junk skipped; consumers table renders, lag 0",
        f"listed {listed} (junk {old}, {newer}); ml-team row {row[2:6]}",
    )
    assert listed == [snapshot_id]
    assert row[2:6] == [snapshot_id, "success", "0", "0s"]


def _consumed_by_ml_team(uri: str, snapshot_id: str, storage_options: dict) -> None:
    """ml-team subscribed to ``uri`` and with a success receipt for ``snapshot_id``."""
    now = datetime.now(UTC)
    subscribe(
        Subscription(ML_TEAM, uri, "http://ml.example", timedelta(hours=6), "latest", None, now, "1.1.0"),
        storage_options=storage_options,
    )
    record_receipt(
        Receipt(ML_TEAM, uri, snapshot_id, "housing_consumer", "r1", "success", None, now, now),
        storage_options=storage_options,
    )
