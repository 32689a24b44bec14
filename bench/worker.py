"""One measurement in a fresh process: ``python -m bench.worker`` reads a JSON request on stdin and
writes a JSON answer on stdout.

A fresh process per measurement makes peak memory attributable: the data is generated first, then the
kernel's peak-RSS counter (``VmHWM``) is reset through ``/proc/self/clear_refs`` so that the peak read
afterwards belongs to the measured operation alone; ``peak_delta`` is that peak minus the RSS just before.
"""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from housing_contracts import V1

_STATUS = Path("/proc/self/status")
#: The directory holding the ``bench`` package (the repository root), the worker's working directory.
PACKAGE_PARENT = Path(__file__).resolve().parents[1]


class WorkerError(RuntimeError):
    """A measurement process failed, was killed (e.g. out of memory) or timed out."""


def run(request: dict[str, Any], timeout: float, *, pythonpath: list[Path] = ()) -> dict[str, Any]:
    """Run one measurement (``request["op"]``) in a fresh interpreter and return its answer.

    ``pythonpath`` puts project roots on ``sys.path`` (the teams' ``include`` packages), as Astro does.
    """
    op = request.get("op")
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join([*map(str, pythonpath), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    try:
        # the request travels on stdin: it may hold S3 keys, which must not show in `ps`
        completed = subprocess.run(
            [sys.executable, "-m", "bench.worker"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            cwd=PACKAGE_PARENT,
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise WorkerError(f"bench.worker {op}: no answer within {timeout:.0f} s") from None
    if completed.returncode != 0:
        how = f"killed by signal {-completed.returncode}" if completed.returncode < 0 else "failed"
        tail = "\n".join(completed.stderr.strip().splitlines()[-8:])
        raise WorkerError(f"bench.worker {op} {how} (exit {completed.returncode}): {tail}")
    return json.loads(completed.stdout)


def _status_bytes(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB$", _STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{_STATUS} has no {field} line; peak RSS needs Linux procfs")
    return int(match.group(1)) * 1024


def measure_peak(operation: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run ``operation``; return its result and seconds, RSS before and peak RSS above it, in bytes."""
    gc.collect()
    before = _status_bytes("VmRSS")
    # "5" resets VmHWM to the current RSS (Linux >= 4.0), so the peak excludes data generation.
    Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    result = operation()
    seconds = time.perf_counter() - started
    peak = _status_bytes("VmHWM")
    return result, {"seconds": seconds, "rss_before": before, "peak_delta": max(peak - before, 0)}


def validate_op(request: dict[str, Any]) -> dict[str, Any]:
    """Best-of-``repeats`` seconds of the NumPy floor and of ``housing_contracts.validate``, alternating."""
    from bench import floor
    from bench.data import bootstrap, frame_bytes
    from housing_contracts import validate

    frame = bootstrap(request["n_rows"], request["seed"])
    floor_s, validate_s = [], []
    for _ in range(request["repeats"]):
        started = time.perf_counter()
        if not floor.passes(frame):
            raise RuntimeError("the NumPy floor rejected a bootstrapped frame; expected a valid one")
        floor_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        validate(frame, contract=V1)
        validate_s.append(time.perf_counter() - started)
    return {"floor_s": min(floor_s), "validate_s": min(validate_s), "frame_bytes": frame_bytes(frame)}


def publish_op(request: dict[str, Any]) -> dict[str, Any]:
    """Time and peak memory of ``housing_contracts.publish`` of a bootstrapped frame."""
    import s3fs  # noqa: F401  (imported before measuring: module loading is not publishing)

    from bench.data import bootstrap, frame_bytes
    from housing_contracts import publish

    frame = bootstrap(request["n_rows"], request["seed"])
    result, figures = measure_peak(
        lambda: publish(
            frame,
            request["uri"],
            producer={"dag_id": "bench", "run_id": request.get("run_id", "bench")},
            storage_options=request["storage_options"],
            contract=V1,
        )
    )
    if not result.created:
        raise RuntimeError(f"publish to {request['uri']} wrote nothing; expected a fresh prefix")
    return {
        **figures,
        "frame_bytes": frame_bytes(frame),
        "snapshot_id": result.manifest.snapshot_id,
        "parquet_bytes": sum(f.size for f in result.manifest.files),
        "files": len(result.manifest.files),
    }


def consume_op(request: dict[str, Any]) -> dict[str, Any]:
    """Time and peak memory of ``housing_contracts.read_snapshot`` (download, verify, validate, load)."""
    import s3fs  # noqa: F401

    from bench.data import frame_bytes
    from housing_contracts import read_snapshot

    snapshot, figures = measure_peak(
        lambda: read_snapshot(
            request["uri"], request["snapshot_id"], storage_options=request["storage_options"]
        )
    )
    return {**figures, "frame_bytes": frame_bytes(snapshot.frame), "rows": len(snapshot.frame)}


def publish_floor_op(request: dict[str, Any]) -> dict[str, Any]:
    """The publish floor (:func:`bench.floor.publish_floor`) of the same frame, same client and identity."""
    import s3fs  # noqa: F401

    from bench import floor
    from bench.data import bootstrap
    from housing_contracts.lake.storage import resolve

    frame = bootstrap(request["n_rows"], request["seed"])
    fs, folder = resolve(request["uri"], request["storage_options"])
    answer, figures = measure_peak(lambda: floor.publish_floor(frame, fs, folder))
    return {**figures, **answer}


def read_floor_op(request: dict[str, Any]) -> dict[str, Any]:
    """The read floor (:func:`bench.floor.read_floor`) of a published snapshot's own files."""
    import s3fs  # noqa: F401

    from bench import floor
    from housing_contracts.lake.catalog import snapshot_manifest
    from housing_contracts.lake.layout import SNAPSHOTS_DIR
    from housing_contracts.lake.storage import resolve

    uri, snapshot_id = request["uri"], request["snapshot_id"]
    manifest = snapshot_manifest(uri, snapshot_id, storage_options=request["storage_options"])
    fs, root = resolve(uri, request["storage_options"])
    paths = [f"{root}/{SNAPSHOTS_DIR}/{snapshot_id}/{entry.path}" for entry in manifest.files]
    (frame, answer), figures = measure_peak(lambda: floor.read_floor(fs, paths))
    if len(frame) != manifest.row_count:
        raise RuntimeError(f"read floor: {len(frame)} rows, the manifest says {manifest.row_count}")
    return {**figures, **answer, "rows": len(frame)}


def model_op(request: dict[str, Any]) -> dict[str, Any]:
    """The teams' own code on the real data: the producer's extract and clean, then the ML team's split,
    both pipelines fitted separately (timed) and scored on the held-out rows."""
    from housing_contracts import validate
    from include.housing_data.clean import clean
    from include.housing_data.extract import extract
    from include.housing_ml.evaluation import score
    from include.housing_ml.split import train_test_frames
    from include.housing_ml.training import baseline_pipeline, features_of, main_pipeline, target_of

    frame, cleaning = clean(extract(request["source"]))
    train, test = train_test_frames(validate(frame, contract=V1))
    answer: dict[str, Any] = {
        "train_rows": len(train),
        "test_rows": len(test),
        "removed": cleaning.rows_removed,
    }
    for name, pipeline in (("main", main_pipeline()), ("baseline", baseline_pipeline())):
        started = time.perf_counter()
        pipeline.fit(features_of(train), target_of(train))
        fit_s = time.perf_counter() - started
        scores = score(pipeline, test)
        answer[name] = {"fit_s": fit_s, "r2": scores.r2, "rmse": scores.rmse, "mae": scores.mae}
    return answer


OPERATIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "validate": validate_op,
    "publish": publish_op,
    "consume": consume_op,
    "publish_floor": publish_floor_op,
    "read_floor": read_floor_op,
    "model": model_op,
}


def main() -> int:
    request = json.load(sys.stdin)
    operation = OPERATIONS.get(request.get("op"))
    if operation is None:
        raise SystemExit(
            f"bench.worker: unknown op {request.get('op')!r}; expected one of {sorted(OPERATIONS)}"
        )
    json.dump(operation(request), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
