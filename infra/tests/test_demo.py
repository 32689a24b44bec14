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
    now = datetime.now(UTC)
    ml = ml_team_s3.storage_options
    subscribe(
        Subscription(
            ML_TEAM, team_lake_uri, "http://ml.example", timedelta(hours=6), "latest", None, now, "1.1.0"
        ),
        storage_options=ml,
    )
    record_receipt(
        Receipt(ML_TEAM, team_lake_uri, snapshot_id, "housing_consumer", "r1", "success", None, now, now),
        storage_options=ml,
    )
    lines = consumers_section(team_lake_uri, data_team_s3.storage_options).splitlines()
    assert lines[1] == f"consumers of {team_lake_uri}"
    [row] = [[cell.strip() for cell in line.split("|")] for line in lines if line.startswith(ML_TEAM)]
    assert row == [ML_TEAM, "http://ml.example", snapshot_id, "success", "0", "0s", "≤ 6h", "ok"]
