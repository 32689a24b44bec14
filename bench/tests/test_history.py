"""Smoke test of the history section (``bench/history.py``) at tiny sizes, on a real SeaweedFS."""

from __future__ import annotations

from typing import Any

from bench import history

pytest_plugins = ["housing_testkit.plugin"]


def test_history_rows_are_measured_at_tiny_sizes(s3_server: Any) -> None:
    """Every row of the section is measured (none 'not measured'), and the poll and the newest-snapshot
    requests are flat from 3 to 40 snapshots."""
    rows = history.run(s3_server, sizes=(3, 40), consumers=((1, 3), (2, 3)), polls=3, events=3)
    by_name = {row.name: row for row in rows}
    assert all(row.value is not None for row in rows), [row.note for row in rows if row.value is None]
    assert len(rows) == 2 * 4 + 2 * 4
    assert by_name["watcher poll, S3 requests per poll, 40 snapshots"].met is True
    assert by_name["newest snapshot (latest_snapshot), S3 requests, 40 snapshots"].met is True
    assert by_name["consumer_lag S3 requests, 2 x 3 receipts, 40 snapshots"].value > 0
