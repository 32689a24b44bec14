"""The light catalog: listing and resolving snapshots without the data stack."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest

from housing_contracts import V1, SnapshotNotFoundError, latest_snapshot, publish, read_snapshot
from housing_contracts.lake.catalog import newest_snapshot_id, newest_snapshot_ids, snapshot_manifest
from housing_contracts.lake.confirmation import Confirmation, confirm_current, current_path
from housing_contracts.lake.layout import MANIFEST_NAME, snapshot_time
from housing_contracts.lake.storage import resolve
from housing_contracts.testing import S3Requests, sample_frame, synthetic_history

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


# --- the newest snapshot: the index, and its fallbacks ----------------------------------------------------


@pytest.fixture
def s3_lake(s3_server: Any, lake_uri: str) -> tuple[Any, str, dict[str, Any]]:
    """(the shared s3fs instance of the dataset, its root, its storage options)."""
    fs, root = resolve(lake_uri, s3_server.storage_options)
    return fs, root, s3_server.storage_options


def _publish(uri: str, options: dict[str, Any], seed: int) -> str:
    return publish(
        sample_frame(1000, seed=seed), uri, storage_options=options, contract=V1
    ).manifest.snapshot_id


def test_newest_snapshot_costs_the_same_whatever_the_history(s3_lake, lake_uri: str) -> None:
    """The index (_current.json) and a listing from the snapshot it names: 550 older snapshots (1,100 keys,
    two LIST pages for a whole listing) add no request."""
    fs, root, options = s3_lake
    newest = _publish(lake_uri, options, 1)
    with S3Requests(fs) as before:
        assert newest_snapshot_id(fs, root) == newest
    end = snapshot_time(newest) - timedelta(hours=1)
    synthetic_history(
        fs,
        root,
        json.loads(fs.cat_file(f"{root}/snapshots/{newest}/{MANIFEST_NAME}")),
        550,
        end=end,
        every=timedelta(minutes=1),
    )
    with S3Requests(fs) as after:
        assert newest_snapshot_id(fs, root) == newest
    assert latest_snapshot(lake_uri, storage_options=options).snapshot_id == newest
    # s3fs reads a document with a HEAD (its size) and a GET; the listing is one page either way
    assert after.by_operation == before.by_operation
    assert before.by_operation["ListObjectsV2"] == 1


def test_a_stale_index_finds_the_newer_snapshot(s3_lake, lake_uri: str) -> None:
    """An index naming an older snapshot (its confirmation failed, a concurrent commit) still answers the
    newest: the listing from it sees the newer one."""
    fs, root, options = s3_lake
    older, newer = _publish(lake_uri, options, 1), _publish(lake_uri, options, 2)
    confirm_current(fs, root, Confirmation(older, snapshot_time(older)))
    assert newest_snapshot_id(fs, root) == newer
    assert read_snapshot(lake_uri, storage_options=options).manifest.snapshot_id == newer


@pytest.mark.parametrize("index", ["missing", "not json", "names a folder without manifest"])
def test_without_a_usable_index_the_whole_history_is_listed(
    s3_lake, lake_uri: str, index: str, caplog
) -> None:
    """A lake from before the index, a bad index, or one naming a snapshot that has no manifest (never an
    uncommitted snapshot: the manifest is the commit) falls back to the whole listing: the right answer."""
    fs, root, options = s3_lake
    older, newer = _publish(lake_uri, options, 1), _publish(lake_uri, options, 2)
    if index == "missing":
        fs.rm_file(current_path(root))
    elif index == "not json":
        fs.pipe_file(current_path(root), b"{not json")
    else:
        fs.rm_file(f"{root}/snapshots/{newer}/{MANIFEST_NAME}")  # as if the index named one being written
    expected = older if index == "names a folder without manifest" else newer
    assert newest_snapshot_id(fs, root) == expected
    if index != "missing":
        assert "listing every snapshot" in caplog.text


def test_publish_compares_with_the_newest_found_through_the_index(s3_lake, lake_uri: str) -> None:
    """Republishing the newest content with a stale index is still unchanged (no new snapshot)."""
    fs, root, options = s3_lake
    older, newer = _publish(lake_uri, options, 1), _publish(lake_uri, options, 2)
    confirm_current(fs, root, Confirmation(older, snapshot_time(older)))
    again = publish(sample_frame(1000, seed=2), lake_uri, storage_options=options, contract=V1)
    assert (again.created, again.manifest.snapshot_id) == (False, newer)


def test_the_newest_snapshots_are_listed_from_a_window(s3_lake, lake_uri: str) -> None:
    """The page's newest snapshots: the window before the newest one, widened until it holds them; 550
    older hourly snapshots outside it add no request."""
    fs, root, options = s3_lake
    newest = _publish(lake_uri, options, 1)
    template = json.loads(fs.cat_file(f"{root}/snapshots/{newest}/{MANIFEST_NAME}"))
    end = snapshot_time(newest) - timedelta(hours=1)
    older = synthetic_history(fs, root, template, 600, end=end, every=timedelta(hours=1))
    with S3Requests(fs) as counted:
        assert newest_snapshot_ids(fs, root, 10) == [newest, *older[::-1][:9]]
    assert counted.by_operation["ListObjectsV2"] == 2  # the index's listing, then one day's window
    assert newest_snapshot_ids(fs, root, 100) == [newest, *older[::-1][:99]]  # windows of 2, 4, 8 days
    assert newest_snapshot_ids(fs, root, 1000) == [newest, *older[::-1]]  # the whole history
