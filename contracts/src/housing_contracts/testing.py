"""Contract test kit: :func:`assert_conforms` for producers; :func:`sample_frame` and the hypothesis
strategy :func:`frames` for consumers, so consumer code meets any data the contract allows (edges included);
:class:`S3Requests` counts what a reader costs on an object store.
"""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import pandas as pd

from housing_contracts.contract.errors import ContractViolation
from housing_contracts.contract.model import MIN_ROW_COUNT, Bounds, column_bounds, contract_schema
from housing_contracts.contract.validation import validate
from housing_contracts.contract.versions import COLUMNS, SNAPSHOTS_DIR, V1
from housing_contracts.lake.layout import MANIFEST_NAME, id_floor

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

#: Stand-in for an unbounded side when drawing values (the v1 contract bounds every column).
_UNBOUNDED = 1e9


def assert_conforms(df: pd.DataFrame) -> None:
    """Assert that ``df`` conforms to the contract; the ``AssertionError`` message is the full report."""
    try:
        validate(df, contract=V1)
    except ContractViolation as violation:
        raise AssertionError(violation.report.to_text()) from None


def allowed_interval(bounds: Bounds) -> tuple[float, float]:
    """The smallest and largest float the bounds allow (open ends moved one float inwards)."""
    low = max(bounds.low, -_UNBOUNDED)
    high = min(bounds.high, _UNBOUNDED)
    if not bounds.low_inclusive:
        low = float(np.nextafter(low, np.inf))
    if not bounds.high_inclusive:
        high = float(np.nextafter(high, -np.inf))
    return low, high


def sample_frame(n_rows: int = 1000, seed: int = 0) -> pd.DataFrame:
    """A contract-valid frame of uniformly drawn values; rows 0 and 1 hold every column's extreme values."""
    rng = np.random.default_rng(seed)
    intervals = {column: allowed_interval(b) for column, b in column_bounds(contract=V1).items()}
    return generate_frame(rng, n_rows, intervals, edge_fraction=0.0)


def generate_frame(
    rng: np.random.Generator,
    n_rows: int,
    ranges: Mapping[str, tuple[float, float]],
    *,
    edge_fraction: float = 0.0,
    columns: tuple[str, ...] = COLUMNS,
) -> pd.DataFrame:
    """A contract-valid frame: column values uniform in ``ranges`` (each inside the contract's interval),
    a share ``edge_fraction`` of values replaced by the contract's extremes, rows 0/1 all minima/maxima."""
    if n_rows < MIN_ROW_COUNT:
        raise ValueError(f"n_rows={n_rows}: the contract requires at least {MIN_ROW_COUNT} rows")
    data = {}
    for column, bounds in column_bounds(contract=V1).items():
        low, high = allowed_interval(bounds)
        sub_low, sub_high = ranges[column]
        if not low <= sub_low <= sub_high <= high:
            raise ValueError(f"range {ranges[column]} for {column} is outside the contract's [{low}, {high}]")
        values = rng.uniform(sub_low, sub_high, n_rows)
        # uniform() may round up to the open end; keep inside the drawn range
        np.clip(values, sub_low, sub_high, out=values)
        if edge_fraction:
            edges = rng.random(n_rows) < edge_fraction
            values[edges] = np.where(rng.random(int(edges.sum())) < 0.5, low, high)
        values[0], values[1] = low, high
        data[column] = values
    _satisfy_frame_checks(data)
    frame = pd.DataFrame({column: data[column] for column in columns})
    assert_conforms(frame)  # the kit's promise: what it generates, the contract accepts
    return frame


def _satisfy_frame_checks(data: dict[str, np.ndarray]) -> None:
    """Make row-wise frame checks hold: ``column <= other`` checks lower ``column`` where needed."""
    for check in contract_schema(contract=V1).checks:
        stats = check.statistics
        if "column" in stats and "other" in stats:
            np.minimum(data[stats["column"]], data[stats["other"]], out=data[stats["column"]])


def frames(min_rows: int = MIN_ROW_COUNT, max_rows: int = 2 * MIN_ROW_COUNT) -> SearchStrategy[pd.DataFrame]:
    """Hypothesis strategy of contract-valid frames: hypothesis draws the shape (rows, each column's
    sub-range, share of edge values, column order), NumPy the values, so 1,000-row examples stay fast."""
    from hypothesis import strategies as st  # the test extra; not needed to use the contract

    if min_rows < MIN_ROW_COUNT or max_rows < min_rows:
        raise ValueError(f"need {MIN_ROW_COUNT} <= min_rows <= max_rows, got {min_rows}, {max_rows}")
    intervals = {column: allowed_interval(b) for column, b in column_bounds(contract=V1).items()}

    @st.composite
    def _frames(draw: Any) -> pd.DataFrame:
        n_rows = draw(st.integers(min_rows, max_rows))
        ranges = {}
        for column, (low, high) in intervals.items():
            ends = sorted(draw(st.floats(low, high, allow_nan=False)) for _ in range(2))
            ranges[column] = (ends[0], ends[1])
        edge_fraction = draw(st.sampled_from([0.0, 0.01, 0.5]))
        order = tuple(draw(st.permutations(COLUMNS)))
        seed = draw(st.integers(0, 2**32 - 1))
        rng = np.random.default_rng(seed)
        return generate_frame(rng, n_rows, ranges, edge_fraction=edge_fraction, columns=order)

    return _frames()


class S3Requests:
    """Counts the requests an s3fs filesystem sends, by S3 operation, while the context is open.

    botocore's ``before-send`` event fires once per HTTP request the client sends (a retry is another
    request), so this counts what S3 bills, for anything using this filesystem instance: fsspec shares one
    instance per set of options, so the functions that resolve a URI with the same options use it too.
    """

    def __init__(self, fs: Any) -> None:
        self.fs = fs
        self.by_operation: Counter[str] = Counter()

    def _count(self, event_name: str, **_: Any) -> None:
        self.by_operation[event_name.rsplit(".", 1)[-1]] += 1  # before-send.s3.<Operation>; None: send it

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())

    def __enter__(self) -> Self:
        self.fs.s3.meta.events.register("before-send.s3", self._count)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.fs.s3.meta.events.unregister("before-send.s3", self._count)


def synthetic_history(
    fs: Any, root: str, template: Mapping[str, Any], count: int, *, end: datetime, every: timedelta
) -> list[str]:
    """Write ``count`` committed snapshots under ``root`` in concurrent PUTs, the newest created at ``end``
    and each ``every`` before the next: a history for listing costs, not data. Each is a one-byte part and
    a copy of manifest ``template`` (a dict) naming its own id; the parts do not verify. Returns their
    ids, oldest first."""
    ids = [f"{id_floor(end - every * i)}-{secrets.token_hex(4)}" for i in range(count)][::-1]
    documents = {}
    for snapshot_id in ids:
        folder = f"{root}/{SNAPSHOTS_DIR}/{snapshot_id}"
        documents[f"{folder}/part-00000.parquet"] = b"x"
        manifest = dict(template) | {"snapshot_id": snapshot_id}
        documents[f"{folder}/{MANIFEST_NAME}"] = json.dumps(manifest, indent=2).encode()
    fs.pipe(documents)
    return ids
