"""Benchmark data: rows bootstrapped from the real California housing dataset, contract-valid.

Each generated row is a random real row (drawn with replacement) times a small random factor per value,
rounded to the precision the census recorded for that column and clipped into the contract's bounds.
Columns are filled one at a time in place, so generating ``n`` rows needs the frame plus two column-sized
temporaries (10M rows: 720 MB + 160 MB), never several copies of the frame.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from bench.floor import RULES
from housing_contracts import COLUMNS

SCIKIT_LEARN_DATA_ENV = "SCIKIT_LEARN_DATA"
#: Relative half-width of the uniform multiplicative jitter; coordinates get less (0.1 % ≈ 0.04°).
JITTER = 0.02
COORDINATE_JITTER = 0.001
#: Decimals the census recorded; the averages (ratios) keep full precision, as in the real data.
DECIMALS: dict[str, int] = {
    "MedInc": 4,
    "HouseAge": 0,
    "Population": 0,
    "Latitude": 2,
    "Longitude": 2,
    "MedHouseVal": 5,
}


@cache
def real_frame() -> pd.DataFrame:
    """The real dataset (``$SCIKIT_LEARN_DATA``, never downloaded) without the rows the contract rejects."""
    from sklearn.datasets import fetch_california_housing

    from bench.floor import valid_rows

    data_home = os.environ.get(SCIKIT_LEARN_DATA_ENV)
    if not data_home or not Path(data_home).is_dir():
        raise RuntimeError(
            f"{SCIKIT_LEARN_DATA_ENV}={data_home!r}: expected a directory holding cal_housing_py3.pkz "
            "(e.g. /work/shared/data/scikit_learn_data); the benchmark never downloads"
        )
    frame = fetch_california_housing(data_home=data_home, as_frame=True, download_if_missing=False).frame
    frame = frame.loc[:, list(COLUMNS)].astype("float64")
    return frame.loc[valid_rows(frame)].reset_index(drop=True)


def _clip_bounds(column: str) -> tuple[float, float]:
    rule = RULES[column]
    low = rule.low if rule.low_inclusive else float(np.nextafter(rule.low, np.inf))
    return low, rule.high


def bootstrap(n_rows: int, seed: int = 0) -> pd.DataFrame:
    """``n_rows`` contract-valid rows resampled from :func:`real_frame` with jitter (deterministic)."""
    source = real_frame()
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(source), size=n_rows, dtype=np.int64)
    columns: dict[str, np.ndarray] = {}
    for column in COLUMNS:
        values = np.take(source[column].to_numpy(), picks)
        spread = COORDINATE_JITTER if column in ("Latitude", "Longitude") else JITTER
        values *= rng.uniform(1.0 - spread, 1.0 + spread, size=n_rows)
        if column in DECIMALS:
            np.round(values, DECIMALS[column], out=values)
        np.clip(values, *_clip_bounds(column), out=values)
        columns[column] = values
    del picks
    # a bedroom is a room: jitter must not push AveBedrms above AveRooms
    np.minimum(columns["AveBedrms"], columns["AveRooms"], out=columns["AveBedrms"])
    return pd.DataFrame(columns, columns=list(COLUMNS), copy=False)


def frame_bytes(frame: pd.DataFrame) -> int:
    """Bytes the frame's values and index occupy in memory."""
    return int(frame.memory_usage(index=True, deep=True).sum())
