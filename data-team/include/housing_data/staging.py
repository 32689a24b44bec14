"""Staging: how the producer's tasks hand frames to each other within one run.

A frame of tens of thousands of rows does not belong in XCom (it lives in the metadata database), so
each task writes its output as Parquet under the run's staging folder (``settings.staging_uri``) and
passes only the file's URI and a few counts. The teardown task deletes the folder when the run ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


#: Rows written at once when staging: the Arrow copy of a frame exists for one batch at a time.
STAGE_BATCH_ROWS = 500_000


def stage(
    frame: pd.DataFrame,
    folder: str,
    name: str,
    *,
    rows: np.ndarray | None = None,
    storage_options: dict[str, Any] | None = None,
) -> str:
    """Write ``frame`` (only its ``rows``, a boolean array, if given) to ``<folder>/<name>.parquet``
    and return that URI. Written ``STAGE_BATCH_ROWS`` rows at a time, so neither the selected rows nor
    their Arrow table exist whole beside the frame; the file reads back as one frame with a fresh index.
    A failure may leave a partial file: the task fails, and its retry writes the file again."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from fsspec.core import url_to_fs

    uri = f"{folder.rstrip('/')}/{name}.parquet"
    ensure_local_folder(folder)
    fs, path = url_to_fs(uri, **(_options(uri, storage_options) or {}))
    schema = pa.Schema.from_pandas(frame.iloc[:0], preserve_index=False)
    with fs.open(path, "wb") as out, pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for start in range(0, len(frame), STAGE_BATCH_ROWS):
            batch = frame.iloc[start : start + STAGE_BATCH_ROWS]
            if rows is not None:
                batch = batch.loc[rows[start : start + STAGE_BATCH_ROWS]]
            writer.write_table(pa.Table.from_pandas(batch, schema=schema, preserve_index=False))
    return uri


def load(uri: str, *, storage_options: dict[str, Any] | None = None) -> pd.DataFrame:
    """The frame in the Parquet file at ``uri`` (a staged frame, or a source file): a fresh index unless
    the file stored one.

    When every column is floating point (what ``clean`` stages), each column chunk of each row group is
    decoded on its own straight into columns allocated once, so reading needs the frame plus one column
    chunk: a whole Arrow table, or even a whole row group, would stay resident in Arrow's pool beside the
    frame. Other files (a source's integer columns) are read whole, Arrow's buffers released column by
    column as pandas takes them over.
    """
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(uri, **(_options(uri, storage_options) or {}))
    # no read-ahead cache: on S3 each of Arrow's reads is one ranged GET, and no 50 MB block sits beside
    # the frame
    with fs.open(path, "rb", cache_type="none") as source:
        parquet = pq.ParquetFile(source)
        fields = list(parquet.schema_arrow)
        # an index pandas stored as a column is restored by the whole-table read, not taken for data
        stored_index = (parquet.schema_arrow.pandas_metadata or {}).get("index_columns", [])
        if (
            fields
            and not any(isinstance(c, str) for c in stored_index)
            and all(pa.types.is_floating(field.type) for field in fields)
        ):
            rows = parquet.metadata.num_rows
            arrays = {field.name: np.empty(rows, dtype=field.type.to_pandas_dtype()) for field in fields}
            offset = 0
            for group in range(parquet.num_row_groups):
                stop = offset + parquet.metadata.row_group(group).num_rows
                for name, values in arrays.items():
                    values[offset:stop] = parquet.read_row_group(group, columns=[name]).column(0).to_numpy()
                offset = stop
            frame = pd.DataFrame(arrays, columns=list(arrays), copy=False)
        else:
            table = parquet.read()
            frame = table.to_pandas(split_blocks=True, self_destruct=True)
            del table
    pa.default_memory_pool().release_unused()  # Arrow's pool would keep what it read into
    return frame


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
