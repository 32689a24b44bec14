"""Publish and read_snapshot at scale on a real SeaweedFS, beside a plain CSV on local disk.

Every measurement runs in a fresh process (:mod:`bench.worker`) through the contract package's own
``publish`` / ``read_snapshot``, with the teams' least-privilege S3 identities, exactly as the DAG tasks
call them. The CSV baseline writes and reads the same rows on local disk with pandas, the simplest
handoff there is; leaving out the upload favours the baseline.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench import worker
from bench.results import Goal, Result, not_measured, progress
from bench.sizes import Size, fits_in_memory
from housing_stack.identities import DATA_TEAM, DATASET_PREFIX, ML_TEAM
from housing_stack.seaweedfs import SeaweedFS
from housing_stack.settings import LAKE_BUCKET

#: publish must sustain 1M rows/s at 10M rows, and peak at most twice the frame's own memory.
THROUGHPUT_GOAL = Goal(">=", 1_000_000)
THROUGHPUT_GOAL_FROM_ROWS = 10_000_000
MEMORY_GOAL = Goal("<=", 2.0, of="ratio")
MB = 1e6


def bench_uri(name: str) -> str:
    """A private dataset location inside the data team's grant (``s3://lake/california_housing/...``)."""
    return f"s3://{LAKE_BUCKET}/{DATASET_PREFIX}bench/{name}"


def _timeout(size: Size) -> float:
    return 120 + size.rows / 20_000  # 10M rows: ~10 min, far beyond the goal's 10 s


def run(s3: SeaweedFS, sizes: list[Size], *, seed: int = 2) -> list[Result]:
    """Publish, read back and write/read as CSV at each size."""
    results: list[Result] = []
    for size in sizes:
        results += _one_size(s3, size, seed)
    return results


def _one_size(s3: SeaweedFS, size: Size, seed: int) -> list[Result]:
    label = size.label
    names = {
        "publish": f"publish {label}: throughput",
        "publish_rss": f"publish {label}: peak memory, frame included",
        "bytes": f"publish {label}: bytes stored",
        "read": f"read_snapshot {label}: throughput",
        "read_rss": f"read_snapshot {label}: peak memory, frame included",
    }
    throughput_goal = THROUGHPUT_GOAL if size.rows >= THROUGHPUT_GOAL_FROM_ROWS else None
    reason = fits_in_memory(size, copies=3.0)
    if reason:
        return [
            not_measured(names["publish"], "rows/s", reason, throughput_goal),
            not_measured(names["publish_rss"], "MB", reason, MEMORY_GOAL),
            not_measured(names["bytes"], "MB", reason),
            not_measured(names["read"], "rows/s", reason),
            not_measured(names["read_rss"], "MB", reason),
        ]

    uri = bench_uri(f"scale-{label}")
    progress(f"publish: {label} rows to {uri} (fresh process)")
    try:
        published = worker.run(
            {
                "op": "publish",
                "n_rows": size.rows,
                "seed": seed,
                "uri": uri,
                "storage_options": s3.storage_options_for(DATA_TEAM),
            },
            timeout=_timeout(size),
        )
    except worker.WorkerError as error:
        published = None
        failure = str(error)

    progress(f"CSV baseline: {label} rows, to_csv then read_csv on local disk")
    with tempfile.TemporaryDirectory(prefix="bench-csv-") as scratch:
        try:
            csv = worker.run(
                {"op": "csv", "n_rows": size.rows, "seed": seed, "path": str(Path(scratch) / "frame.csv")},
                timeout=_timeout(size) * 4,
            )
        except worker.WorkerError as error:
            csv, csv_failure = None, str(error)

    results: list[Result] = []
    csv_name = "pandas to_csv (local disk)"
    if published is None:
        results += [
            not_measured(names["publish"], "rows/s", failure, throughput_goal),
            not_measured(names["publish_rss"], "MB", failure, MEMORY_GOAL),
            not_measured(names["bytes"], "MB", failure),
        ]
    else:
        results += [
            Result(
                names["publish"],
                size.rows / published["seconds"],
                "rows/s",
                csv_name if csv else None,
                size.rows / csv["write_s"] if csv else None,
                throughput_goal,
                note=f"validate + Parquet + upload + manifest in {published['seconds']:.2f} s"
                + ("" if csv else f"; CSV baseline not measured: {csv_failure}"),
            ),
            Result(
                names["publish_rss"],
                (published["frame_bytes"] + published["peak_delta"]) / MB,
                "MB",
                "frame in memory",
                published["frame_bytes"] / MB,
                MEMORY_GOAL,
                note=f"input frame + peak delta {published['peak_delta'] / MB:.0f} MB (VmHWM - VmRSS just "
                f"before publish; RSS before {published['rss_before'] / MB:.0f} MB)",
            ),
            Result(
                names["bytes"],
                published["parquet_bytes"] / MB,
                "MB",
                "CSV" if csv else None,
                csv["csv_bytes"] / MB if csv else None,
                note=f"{published['files']} Parquet file(s), zstd",
            ),
        ]

    if published is None:
        results += [
            not_measured(names["read"], "rows/s", "nothing was published"),
            not_measured(names["read_rss"], "MB", "nothing was published"),
        ]
        return results
    progress(f"read_snapshot: {label} rows (fresh process)")
    try:
        read = worker.run(
            {
                "op": "consume",
                "uri": uri,
                "snapshot_id": published["snapshot_id"],
                "storage_options": s3.storage_options_for(ML_TEAM),
            },
            timeout=_timeout(size),
        )
    except worker.WorkerError as error:
        return [
            *results,
            not_measured(names["read"], "rows/s", str(error)),
            not_measured(names["read_rss"], "MB", str(error)),
        ]
    results += [
        Result(
            names["read"],
            size.rows / read["seconds"],
            "rows/s",
            "pandas read_csv (local disk)" if csv else None,
            size.rows / csv["read_s"] if csv else None,
            note=f"download + sha256 + fingerprint + validate + load in {read['seconds']:.2f} s",
        ),
        Result(
            names["read_rss"],
            read["peak_delta"] / MB,
            "MB",
            "frame in memory",
            read["frame_bytes"] / MB,
            note=f"peak delta (VmHWM - VmRSS just before read_snapshot; the result frame is allocated "
            f"inside it); RSS before {read['rss_before'] / MB:.0f} MB",
        ),
    ]
    return results
