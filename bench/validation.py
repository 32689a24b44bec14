"""``housing_contracts.validate`` beside the hand-written NumPy floor (:mod:`bench.floor`)."""

from __future__ import annotations

from bench import worker
from bench.results import Goal, Result, not_measured, progress
from bench.sizes import Size, fits_in_memory

#: The contract's validation may cost at most 3× the floor from 1M rows on.
GOAL = Goal("<=", 3.0, of="ratio")
GOAL_FROM_ROWS = 1_000_000
REPEATS = 3


def run(sizes: list[Size], *, repeats: int = REPEATS, seed: int = 1) -> list[Result]:
    """Best-of-``repeats`` seconds at each size, both checks on the same frame in the same process."""
    results = []
    for size in sizes:
        name = f"validate {size.label} rows"
        goal = GOAL if size.rows >= GOAL_FROM_ROWS else None
        # the frame plus the generator's two column temporaries
        reason = fits_in_memory(size, copies=1.3)
        if reason:
            results.append(not_measured(name, "s", reason, goal))
            continue
        progress(f"validation: {size.label} rows, best of {repeats}")
        try:
            answer = worker.run(
                {"op": "validate", "n_rows": size.rows, "seed": seed, "repeats": repeats},
                timeout=300 + size.rows / 20_000,
            )
        except worker.WorkerError as error:
            results.append(not_measured(name, "s", str(error), goal))
            continue
        results.append(
            Result(
                name=name,
                value=answer["validate_s"],
                unit="s",
                baseline_name="NumPy floor",
                baseline_value=answer["floor_s"],
                goal=goal,
                note=f"best of {repeats}; same frame, same process",
            )
        )
    return results
