"""Staging: how the producer's tasks hand frames to each other within one run.

A frame of tens of thousands of rows does not belong in XCom (it lives in the metadata database), so
each task writes its output as Parquet under the run's staging folder (``settings.staging_uri``) and
passes only the file's URI and a few counts. The teardown task deletes the folder when the run ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def stage(
    frame: pd.DataFrame, folder: str, name: str, *, storage_options: dict[str, Any] | None = None
) -> str:
    """Write ``frame`` to ``<folder>/<name>.parquet`` and return that URI."""
    uri = f"{folder.rstrip('/')}/{name}.parquet"
    ensure_local_folder(folder)
    frame.to_parquet(uri, index=False, compression="zstd", storage_options=_options(uri, storage_options))
    return uri


def load(uri: str, *, storage_options: dict[str, Any] | None = None) -> pd.DataFrame:
    """The frame staged at ``uri``."""
    import pandas as pd

    return pd.read_parquet(uri, storage_options=_options(uri, storage_options))


def remove(folder: str, *, storage_options: dict[str, Any] | None = None) -> int:
    """Delete everything under ``folder``; return how many files went (0 if it did not exist)."""
    from fsspec.core import url_to_fs

    # A private instance: fsspec shares instances process-wide, and a stale cached listing would hide files.
    fs, path = url_to_fs(folder, skip_instance_cache=True, **(_options(folder, storage_options) or {}))
    files = fs.find(path)
    if files:
        fs.rm(files)
    # Object stores with real directories (SeaweedFS) keep the emptied folder; it lists as an entry.
    fs.invalidate_cache(path)
    if fs.exists(path):
        fs.rm(path, recursive=True)
    return len(files)


def ensure_local_folder(folder: str) -> None:
    """Create ``folder`` if it is local; object stores need no folders (and s3fs would try CreateBucket)."""
    from fsspec.core import url_to_fs
    from fsspec.implementations.local import LocalFileSystem

    if folder.startswith("s3://"):
        return
    fs, path = url_to_fs(folder)
    if isinstance(fs, LocalFileSystem):
        fs.makedirs(path, exist_ok=True)


def _options(uri: str, storage_options: dict[str, Any] | None) -> dict[str, Any] | None:
    # Local paths take no fsspec options; passing S3 credentials to them is an error in pandas.
    return storage_options if uri.startswith("s3://") else None
