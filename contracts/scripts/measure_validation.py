"""Measure validate() (the fast path compiled from the model) against pandera's validation alone.

Run: ``.venv/bin/python contracts/scripts/measure_validation.py [ROWS ...]`` (default 20000 1000000
10000000). Prints the best of several runs per size, in milliseconds, and the ratio. The comparison with
a hand-written NumPy check of the same rules is the benchmark's (``python -m bench --only validation``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from housing_contracts import V1
from housing_contracts.contract.model import contract_schema
from housing_contracts.contract.validation import validate
from housing_contracts.testing import sample_frame


def best_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main(sizes: list[int]) -> None:
    header = ("rows", "validate ms", "pandera ms", "pandera/validate")
    print(" ".join(f"{h:>16}" for h in header))
    for rows in sizes:
        df = sample_frame(rows, seed=1)
        repeat = 3 if rows >= 5_000_000 else 7
        ours_ms = best_ms(lambda: validate(df, contract=V1), repeat)  # noqa: B023 - called inside the loop
        pandera_ms = best_ms(lambda: contract_schema(contract=V1).validate(df, lazy=True), min(repeat, 3))  # noqa: B023
        print(f"{rows:>16} {ours_ms:>16.2f} {pandera_ms:>16.2f} {pandera_ms / ours_ms:>16.1f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [20_000, 1_000_000, 10_000_000])
