"""The floor: a hand-written, vectorised NumPy check of the v1 contract's rules.

The rules' values come from the contract's model (each column's interval, the minimum row count, the
pair of columns of ``bedrooms_within_rooms``); the checking is written out by hand, with none of the
contract's generic machinery, so it shows how fast checking these rules can be.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from housing_contracts.model import MIN_ROW_COUNT, column_bounds, contract_schema

#: Each column's allowed interval, as the model declares it.
RULES = column_bounds()
MIN_ROWS = MIN_ROW_COUNT
#: ``BEDROOMS <= ROOMS`` in every row.
BEDROOMS, ROOMS = next(
    (c.statistics["column"], c.statistics["other"])
    for c in contract_schema().checks
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
