"""Measure validate() against pandera alone and a hand-written vectorised NumPy check of the same rules.

Run: ``.venv/bin/python contracts/scripts/measure_validation.py [ROWS ...]`` (default 20000 1000000
10000000). Prints the best of several runs per size, in milliseconds, and the ratio to NumPy.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from housing_contracts.schema import contract_schema, validate
from housing_contracts.testing import sample_frame

# The v1 rules written out by hand: the baseline the contract's validate() is compared with.
_RULES = {
    "MedInc": (0, False, 15.0001),
    "HouseAge": (1, True, 52),
    "AveRooms": (0, False, 50),
    "AveBedrms": (0, False, 15),
    "Population": (1, True, 40_000),
    "AveOccup": (0, False, 20),
    "Latitude": (32.5, True, 42.0),
    "Longitude": (-124.5, True, -114.0),
    "MedHouseVal": (0, False, 5.00001),
}


def numpy_check(df: pd.DataFrame) -> bool:
    """Hand-written vectorised check of the same rules."""
    if set(df.columns) != set(_RULES) or len(df) < 1000:
        return False
    for column, (low, inclusive, high) in _RULES.items():
        x = df[column].to_numpy()
        if x.dtype != np.float64 or not np.isfinite(x).all():
            return False
        if not (((x >= low) if inclusive else (x > low)) & (x <= high)).all():
            return False
    return bool((df["AveBedrms"].to_numpy() <= df["AveRooms"].to_numpy()).all())


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main(sizes: list[int]) -> None:
    header = ("rows", "numpy ms", "validate ms", "pandera ms", "validate/numpy", "pandera/numpy")
    print(" ".join(f"{h:>14}" for h in header))
    for rows in sizes:
        df = sample_frame(rows, seed=1)
        repeat = 3 if rows >= 5_000_000 else 7
        assert numpy_check(df)
        numpy_ms = best_ms(lambda: numpy_check(df), repeat)  # noqa: B023 - called inside the loop
        ours_ms = best_ms(lambda: validate(df), repeat)  # noqa: B023
        pandera_ms = best_ms(lambda: contract_schema().validate(df, lazy=True), min(repeat, 3))  # noqa: B023
        figures = (numpy_ms, ours_ms, pandera_ms, ours_ms / numpy_ms, pandera_ms / numpy_ms)
        print(f"{rows:>14} " + " ".join(f"{x:>14.2f}" for x in figures))


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [20_000, 1_000_000, 10_000_000])
