"""Staging: frames handed between tasks through the object store, and removed afterwards."""

from __future__ import annotations

import pandas as pd
from fsspec.core import url_to_fs

from housing_contracts.testing import sample_frame
from include.housing_data import staging
from include.housing_data.settings import staging_uri


def test_staged_frame_reads_back_unchanged(data_team_s3, team_lake_uri: str) -> None:
    """A frame staged to S3 as the data team loads back equal, dtypes included."""
    options = data_team_s3.storage_options
    frame = pd.DataFrame({"MedInc": [1.5, 2.5], "HouseAge": [10.0, 20.0]})
    uri = staging.stage(frame, staging_uri(team_lake_uri, "run"), "cleaned", storage_options=options)
    pd.testing.assert_frame_equal(staging.load(uri, storage_options=options), frame)


def test_remove_leaves_no_trace_of_the_folder(s3_server, data_team_s3, team_lake_uri: str) -> None:
    """Removing a staging folder as the data team deletes its files and the folder entry itself."""
    options = data_team_s3.storage_options
    folder = staging_uri(team_lake_uri, "remove-test")
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


def test_staging_selected_rows_in_batches_equals_the_filtered_frame(tmp_path, monkeypatch) -> None:
    """Staged with a row mask, in batches smaller than the frame, the file reads back as the filtered
    frame with a fresh index (what staging the filtered frame in one piece gives)."""
    import numpy as np

    monkeypatch.setattr(staging, "STAGE_BATCH_ROWS", 7)
    frame = sample_frame(1_000)
    keep = np.random.default_rng(0).random(len(frame)) < 0.7
    uri = staging.stage(frame, str(tmp_path / "run"), "cleaned", rows=keep)
    pd.testing.assert_frame_equal(staging.load(uri), frame.loc[keep].reset_index(drop=True))


def test_missing_values_float32_and_other_dtypes_read_back_unchanged(tmp_path) -> None:
    """Floating columns (NaN and float32 included) take the row-group path, a frame with an integer or
    text column the whole-table one: both read back equal, dtypes included."""
    import numpy as np

    floats = pd.DataFrame({"a": [1.0, np.nan, 3.0], "b": np.array([1.5, 2.5, 3.5], dtype="float32")})
    mixed = pd.DataFrame({"a": [1, 2, 3], "name": ["x", None, "z"]})
    for name, frame in (("floats", floats), ("mixed", mixed)):
        uri = staging.stage(frame, str(tmp_path / "run"), name)
        pd.testing.assert_frame_equal(staging.load(uri), frame)
    # a source file written with its (float) index: the index comes back as the index, not as a column
    indexed = floats.set_index(pd.Index([0.5, 1.5, 2.5], name="key"))
    indexed.to_parquet(tmp_path / "indexed.parquet")
    pd.testing.assert_frame_equal(staging.load(str(tmp_path / "indexed.parquet")), indexed)
