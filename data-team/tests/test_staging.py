"""Staging: frames handed between tasks through the object store, and removed afterwards."""

from __future__ import annotations

import pandas as pd
from fsspec.core import url_to_fs

from housing_stack.identities import DATA_TEAM
from housing_stack.settings import LAKE_BUCKET
from include.housing_data import staging


def test_staged_frame_reads_back_unchanged(s3_server, lake_uri: str) -> None:
    """A frame staged to S3 loads back equal, dtypes included."""
    frame = pd.DataFrame({"MedInc": [1.5, 2.5], "HouseAge": [10.0, 20.0]})
    uri = staging.stage(
        frame, f"{lake_uri}/_staging/run", "cleaned", storage_options=s3_server.storage_options
    )
    pd.testing.assert_frame_equal(staging.load(uri, storage_options=s3_server.storage_options), frame)


def test_remove_leaves_no_trace_of_the_folder(s3_server) -> None:
    """Removing a staging folder as the data team deletes its files and the folder entry itself."""
    options = s3_server.storage_options_for(DATA_TEAM)
    folder = f"s3://{LAKE_BUCKET}/california_housing/_staging/remove-test"
    staging.stage(pd.DataFrame({"a": [1.0]}), folder, "extracted", storage_options=options)
    staging.stage(pd.DataFrame({"a": [2.0]}), folder, "cleaned", storage_options=options)
    assert staging.remove(folder, storage_options=options) == 2
    fs, path = url_to_fs(folder, skip_instance_cache=True, **s3_server.storage_options)
    assert not fs.exists(path)


def test_remove_of_a_missing_folder_removes_nothing(tmp_path) -> None:
    """Removing a folder that was never staged is a no-op that reports 0 files."""
    assert staging.remove(str(tmp_path / "never-staged")) == 0


def test_local_staging_creates_its_folder(tmp_path) -> None:
    """Staging to a local folder that does not exist yet creates it."""
    uri = staging.stage(pd.DataFrame({"a": [1.0]}), str(tmp_path / "runs" / "r1"), "extracted")
    assert staging.load(uri)["a"].tolist() == [1.0]
