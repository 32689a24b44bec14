"""The light catalog: listing and resolving snapshots without the data stack."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from housing_contracts import V1, SnapshotNotFoundError, publish
from housing_contracts.lake.catalog import snapshot_manifest

DATA_STACK = ("pandas", "pandera", "numpy", "pyarrow")


def test_listing_and_resolving_import_no_data_stack(local_uri: str, frame: pd.DataFrame) -> None:
    """list_snapshots, latest_snapshot and snapshot_manifest (a consumer's "which snapshot?" step) run
    without importing pandas, pandera, numpy or pyarrow."""
    published = publish(frame, local_uri, contract=V1).manifest
    code = (
        "import sys, json\n"
        "from housing_contracts import latest_snapshot, list_snapshots\n"
        "from housing_contracts.lake.catalog import snapshot_manifest\n"
        f"uri = {local_uri!r}\n"
        "latest = latest_snapshot(uri)\n"
        "ids = [m.snapshot_id for m in list_snapshots(uri)]\n"
        "one = snapshot_manifest(uri, latest.snapshot_id)\n"
        f"heavy = sorted(m for m in sys.modules if m.split('.')[0] in {DATA_STACK!r})\n"
        "print(json.dumps({'latest': latest.snapshot_id, 'ids': ids, 'rows': one.row_count, 'heavy': heavy}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == {
        "latest": published.snapshot_id,
        "ids": [published.snapshot_id],
        "rows": published.row_count,
        "heavy": [],
    }


def test_snapshot_manifest_refuses_what_is_not_a_snapshot_id(local_uri: str) -> None:
    """A malformed id is not found, named in the error, before any storage is touched."""
    with pytest.raises(SnapshotNotFoundError, match=r"'\.\./x' is not a snapshot id"):
        snapshot_manifest(local_uri, "../x")
