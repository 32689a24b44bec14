"""The deterministic train/test split: a row's side is a function of its content.

Hashing each row (salted, plus its ordinal among identical rows) instead of drawing a random
permutation means that the same row lands on the same side in every snapshot. So the champion,
trained on an earlier snapshot, has never seen the rows the new model is tested on, and scoring
both on the same test rows is a fair comparison.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from housing_contracts import COLUMNS
from include.housing_ml.settings import SEED, TEST_FRACTION

# hash_pandas_object takes a 16-character key; one derived from SEED makes the split reproducible.
_HASH_KEY = f"housing-ml-{SEED:05d}"
_BUCKETS = 10_000


def holdout_mask(frame: pd.DataFrame, test_fraction: float = TEST_FRACTION) -> np.ndarray:
    """Boolean array, True for the rows held out for testing (about ``test_fraction`` of them)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    # Column order is fixed by the contract, not by the file, so the hash ignores it.
    row_hash = pd.util.hash_pandas_object(frame.loc[:, list(COLUMNS)], index=False, hash_key=_HASH_KEY)
    row_hash = row_hash.to_numpy()
    # Identical rows get ordinals 0, 1, 2, ... so that even a frame of duplicates is split. Grouped by
    # the 64-bit row hash (one column) rather than by the 9 values (9 factorised columns, a frame's
    # worth of codes): the same groups unless two different rows share a hash.
    ordinal = pd.Series(row_hash).groupby(row_hash, sort=False).cumcount()
    keyed = pd.DataFrame({"row": row_hash, "ordinal": ordinal.to_numpy()})
    bucket = pd.util.hash_pandas_object(keyed, index=False, hash_key=_HASH_KEY).to_numpy() % _BUCKETS
    return bucket < round(test_fraction * _BUCKETS)


def train_test_frames(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) frames of a snapshot; raises if either side would be empty."""
    mask = holdout_mask(frame)
    train, test = frame.loc[~mask], frame.loc[mask]
    if train.empty or test.empty:
        raise ValueError(
            f"split of {len(frame)} rows left train={len(train)} test={len(test)} rows: "
            "expected both non-empty (the contract requires at least 1,000 rows)"
        )
    return train, test
