"""The floors: what validating, publishing and reading the data costs with nothing of the contract around it.

Validation: a hand-written, vectorised NumPy check of the v1 contract's rules. The rules' values come from
the contract's model (each column's interval, the minimum row count, the pair of columns of
``bedrooms_within_rooms``); the checking is written out by hand, with none of the contract's generic
machinery, so it shows how fast checking these rules can be.

Publish: pyarrow writes the frame into the same files and row groups with the same codec
(``housing_contracts.lake.snapshots``' own constants), then s3fs PUTs those bytes, one file after the other.
Read: s3fs GETs the same files, then pyarrow reads them into one pandas frame (what ``read_snapshot``
returns). No validation, no hashing, no manifest, no claim.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from housing_contracts import V1
from housing_contracts.contract.model import MIN_ROW_COUNT, column_bounds, contract_schema
from housing_contracts.lake.snapshots import FILE_ROWS, PARQUET_OPTIONS, ROW_GROUP_ROWS

#: Each column's allowed interval, as the model declares it.
RULES = column_bounds(contract=V1)
MIN_ROWS = MIN_ROW_COUNT
#: ``BEDROOMS <= ROOMS`` in every row.
BEDROOMS, ROOMS = next(
    (c.statistics["column"], c.statistics["other"])
    for c in contract_schema(contract=V1).checks
    if c.name == "bedrooms_within_rooms"
)


def passes(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` satisfies every rule (the success path the benchmark times)."""
    if len(frame) < MIN_ROWS or sorted(frame.columns) != sorted(RULES):
        return False
    for column, rule in RULES.items():
        values = frame[column].to_numpy()
        if values.dtype != np.float64:
            return False
        # NaN propagates into min and max and fails both comparisons; ±inf fails a finite bound.
        if not (rule.contains(values.min()) and rule.contains(values.max())):
            return False
    return bool(np.all(frame[BEDROOMS].to_numpy() <= frame[ROOMS].to_numpy()))


def valid_rows(frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows that satisfy every per-row rule."""
    ok = np.ones(len(frame), dtype=bool)
    for column, rule in RULES.items():
        values = frame[column].to_numpy(dtype=np.float64)
        ok &= (values >= rule.low) if rule.low_inclusive else (values > rule.low)
        ok &= (values <= rule.high) if rule.high_inclusive else (values < rule.high)
    return ok & (frame[BEDROOMS].to_numpy() <= frame[ROOMS].to_numpy())


def write_parquet(frame: pd.DataFrame) -> list[bytes]:
    """The frame as Parquet files of ``FILE_ROWS`` rows, row groups of ``ROW_GROUP_ROWS``, in memory."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    parts = []
    for start in range(0, max(len(frame), 1), FILE_ROWS):
        sink = pa.BufferOutputStream()
        pq.write_table(table.slice(start, FILE_ROWS), sink, row_group_size=ROW_GROUP_ROWS, **PARQUET_OPTIONS)
        parts.append(sink.getvalue().to_pybytes())
    return parts


def publish_floor(frame: pd.DataFrame, fs: Any, folder: str) -> dict[str, Any]:
    """Seconds to write ``frame`` as Parquet (``write_s``) and to PUT the files under ``folder``
    (``put_s``), one after the other."""
    started = time.perf_counter()
    parts = write_parquet(frame)
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    for number, data in enumerate(parts):
        fs.pipe_file(f"{folder}/part-{number:05d}.parquet", data)
    put_s = time.perf_counter() - started
    return {"write_s": write_s, "put_s": put_s, "bytes": sum(map(len, parts)), "files": len(parts)}


def read_floor(fs: Any, paths: list[str]) -> tuple[pd.DataFrame, dict[str, float]]:
    """GET ``paths`` (``get_s``), then read them with pyarrow into one pandas frame (``read_s``)."""
    started = time.perf_counter()
    blobs = [fs.cat_file(path) for path in paths]
    get_s = time.perf_counter() - started
    started = time.perf_counter()
    table = pa.concat_tables([pq.read_table(pa.BufferReader(blob)) for blob in blobs])
    del blobs
    frame = table.to_pandas()
    read_s = time.perf_counter() - started
    return frame, {"get_s": get_s, "read_s": read_s}
