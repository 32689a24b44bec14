"""The floor: a hand-written, vectorised NumPy check of the v1 contract's rules.

Written from the contract table in infra/DESIGN.md, deliberately without importing the contract's schema,
so that it is an independent reference for how fast checking these rules can be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Rule:
    """``low < x`` (or ``low <= x`` when ``low_inclusive``) and ``x <= high``."""

    low: float
    low_inclusive: bool
    high: float


#: DESIGN.md, "The contract (v1.0.0)".
RULES: dict[str, Rule] = {
    "MedInc": Rule(0.0, False, 15.0001),
    "HouseAge": Rule(1.0, True, 52.0),
    "AveRooms": Rule(0.0, False, 50.0),
    "AveBedrms": Rule(0.0, False, 15.0),
    "Population": Rule(1.0, True, 40_000.0),
    "AveOccup": Rule(0.0, False, 20.0),
    "Latitude": Rule(32.5, True, 42.0),
    "Longitude": Rule(-124.5, True, -114.0),
    "MedHouseVal": Rule(0.0, False, 5.00001),
}
MIN_ROWS = 1_000


def passes(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` satisfies every rule (the success path the benchmark times)."""
    if len(frame) < MIN_ROWS or sorted(frame.columns) != sorted(RULES):
        return False
    for column, rule in RULES.items():
        values = frame[column].to_numpy()
        if values.dtype != np.float64:
            return False
        # NaN propagates into min and max and fails both comparisons; ±inf fails a finite bound.
        low, high = values.min(), values.max()
        above = low >= rule.low if rule.low_inclusive else low > rule.low
        if not (above and high <= rule.high):
            return False
    return bool(np.all(frame["AveBedrms"].to_numpy() <= frame["AveRooms"].to_numpy()))


def valid_rows(frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of the rows that satisfy every per-row rule."""
    ok = np.ones(len(frame), dtype=bool)
    for column, rule in RULES.items():
        values = frame[column].to_numpy(dtype=np.float64)
        ok &= (values >= rule.low) if rule.low_inclusive else (values > rule.low)
        ok &= values <= rule.high
    return ok & (frame["AveBedrms"].to_numpy() <= frame["AveRooms"].to_numpy())
