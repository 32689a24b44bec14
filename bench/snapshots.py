"""Publish and read_snapshot at scale on a real SeaweedFS, beside their floors measured in the same run.

Every measurement runs in a fresh process (:mod:`bench.worker`): the contract package's own ``publish`` /
``read_snapshot`` with the teams' least-privilege S3 identities, exactly as the DAG tasks call them, and
the floors of :mod:`bench.floor` (pyarrow + one PUT / GET per file with the same s3fs client and identity,
the same files, row groups and codec): what moving these bytes costs with no contract around it.
"""

from __future__ import annotations

from typing import Any

from bench import worker
from bench.results import Goal, Result, not_measured, progress
from bench.sizes import Size, fits_in_memory
from housing_stack.identities import DATA_TEAM, DATASET_PREFIX, ML_TEAM
from housing_stack.seaweedfs import SeaweedFS
from housing_stack.settings import LAKE_BUCKET

#: From 10M rows on: publish and read_snapshot within 1.3× their floors, publish's peak within 1.5× the frame.
GOALS_FROM_ROWS = 10_000_000
TIME_GOAL = Goal("<=", 1.3, of="ratio")
MEMORY_GOAL = Goal("<=", 1.5, of="ratio")
MB = 1e6
PUBLISH_FLOOR = "pyarrow write + s3fs PUT"
READ_FLOOR = "s3fs GET + pyarrow read"


def bench_uri(name: str) -> str:
    """A private dataset location inside the data team's grant (``s3://lake/california_housing/...``)."""
    return f"s3://{LAKE_BUCKET}/{DATASET_PREFIX}bench/{name}"


def _timeout(size: Size) -> float:
    return 120 + size.rows / 20_000  # 10M rows: ~10 min, far beyond the goal's seconds


def run(s3: SeaweedFS, sizes: list[Size], *, seed: int = 2) -> list[Result]:
    """Publish and read back at each size, each beside its floor."""
    results: list[Result] = []
    for size in sizes:
        results += _one_size(s3, size, seed)
    return results


def _measure(request: dict[str, Any], size: Size) -> dict[str, Any] | str:
    """The worker's answer, or why there is none."""
    try:
        return worker.run(request, timeout=_timeout(size))
    except worker.WorkerError as error:
        return str(error)


def _one_size(s3: SeaweedFS, size: Size, seed: int) -> list[Result]:
    label = size.label
    goals = size.rows >= GOALS_FROM_ROWS
    time_goal = TIME_GOAL if goals else None
    memory_goal = MEMORY_GOAL if goals else None
    names = {
        "publish": (f"publish {label}: seconds", "s", time_goal),
        "publish_rss": (f"publish {label}: peak memory, frame included", "MB", memory_goal),
        "bytes": (f"publish {label}: bytes stored", "MB", None),
        "read": (f"read_snapshot {label}: seconds", "s", time_goal),
        "read_rss": (f"read_snapshot {label}: peak memory, result frame included", "MB", None),
    }

    def missing(keys: list[str], reason: str) -> list[Result]:
        return [not_measured(names[k][0], names[k][1], reason, names[k][2]) for k in keys]

    # the frame, the encoded files and the floor's in-memory copies
    reason = fits_in_memory(size, copies=3.0)
    if reason:
        return missing(list(names), reason)

    uri = bench_uri(f"scale-{label}")
    publishing = {"n_rows": size.rows, "seed": seed, "storage_options": s3.storage_options_for(DATA_TEAM)}
    progress(f"publish: {label} rows to {uri} (fresh process)")
    published = _measure({"op": "publish", "uri": uri, **publishing}, size)
    progress(f"publish floor: {label} rows, {PUBLISH_FLOOR} (fresh process)")
    floor = _measure({"op": "publish_floor", "uri": f"{uri}-floor/files", **publishing}, size)

    results: list[Result] = []
    if isinstance(published, str):
        results += missing(["publish", "publish_rss", "bytes"], published)
    else:
        floor_s = None if isinstance(floor, str) else floor["write_s"] + floor["put_s"]
        floor_note = (
            f"floor not measured: {floor}"
            if isinstance(floor, str)
            else f"floor: write {floor['write_s']:.2f} s + PUT {floor['put_s']:.2f} s of {floor['files']} "
            f"file(s), peak delta {floor['peak_delta'] / MB:.0f} MB"
        )
        results += [
            Result(
                names["publish"][0],
                published["seconds"],
                "s",
                PUBLISH_FLOOR,
                floor_s,
                time_goal,
                note="validate + fingerprint + Parquet + upload + manifest: "
                f"{size.rows / published['seconds']:,.0f} rows/s; {floor_note}",
            ),
            Result(
                names["publish_rss"][0],
                (published["frame_bytes"] + published["peak_delta"]) / MB,
                "MB",
                "frame in memory",
                published["frame_bytes"] / MB,
                names["publish_rss"][2],
                note=f"input frame + peak delta {published['peak_delta'] / MB:.0f} MB (VmHWM - VmRSS just "
                f"before publish; RSS before {published['rss_before'] / MB:.0f} MB)",
            ),
            Result(
                names["bytes"][0],
                published["parquet_bytes"] / MB,
                "MB",
                "floor's Parquet" if not isinstance(floor, str) else None,
                None if isinstance(floor, str) else floor["bytes"] / MB,
                note=f"{published['files']} Parquet file(s), zstd",
            ),
        ]

    if isinstance(published, str):
        return results + missing(["read", "read_rss"], "nothing was published")
    reading = {
        "uri": uri,
        "snapshot_id": published["snapshot_id"],
        "storage_options": s3.storage_options_for(ML_TEAM),
    }
    progress(f"read_snapshot: {label} rows (fresh process)")
    read = _measure({"op": "consume", **reading}, size)
    progress(f"read floor: {label} rows, {READ_FLOOR} (fresh process)")
    read_floor = _measure({"op": "read_floor", **reading}, size)
    if isinstance(read, str):
        return results + missing(["read", "read_rss"], read)
    floor_note = (
        f"floor not measured: {read_floor}"
        if isinstance(read_floor, str)
        else f"floor: GET {read_floor['get_s']:.2f} s + pyarrow read to pandas {read_floor['read_s']:.2f} s, "
        f"peak delta {read_floor['peak_delta'] / MB:.0f} MB"
    )
    results += [
        Result(
            names["read"][0],
            read["seconds"],
            "s",
            READ_FLOOR,
            None if isinstance(read_floor, str) else read_floor["get_s"] + read_floor["read_s"],
            time_goal,
            note="download + sha256 + load + content fingerprint + validate: "
            f"{size.rows / read['seconds']:,.0f} rows/s; {floor_note}",
        ),
        Result(
            names["read_rss"][0],
            read["peak_delta"] / MB,
            "MB",
            "frame in memory",
            read["frame_bytes"] / MB,
            note=f"peak delta (VmHWM - VmRSS just before read_snapshot; the result frame is allocated "
            f"inside it); RSS before {read['rss_before'] / MB:.0f} MB",
        ),
    ]
    return results
