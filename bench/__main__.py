"""``python -m bench`` (``make bench``): run every benchmark, print the table, write bench/results.json.

Sections, numbered as in the README: 1 validation, 2-3 publish and read_snapshot, 4 event latency, 5 end to
end, 6 model quality, 7 history (poll, newest snapshot and consumers at a small and a large history).
``--only`` picks sections; ``--quick`` shrinks the sizes for a smoke run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from bench.results import Machine, Result, not_measured, progress, render_table, write_json
from bench.sizes import Size

RESULTS_PATH = Path(__file__).resolve().parent / "results.json"
SECTIONS = ("validation", "snapshots", "latency", "end_to_end", "model", "history")
FULL = {
    "validation_sizes": "20k,1M,10M",
    "snapshot_sizes": "1M,10M",
    "publishes": 12,
    "e2e_rows": "2M,10M",
    "history": {"sizes": (10, 10_000), "consumers": ((1, 1_000), (100, 1_000))},
}
QUICK = {
    "validation_sizes": "20k,100k",
    "snapshot_sizes": "100k",
    "publishes": 3,
    "e2e_rows": "100k",
    "history": {"sizes": (10, 200), "consumers": ((1, 20), (5, 20))},
}


def _sizes(text: str) -> list[Size]:
    return [Size.parse(part) for part in text.split(",") if part.strip()]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {SECTIONS}")
    parser.add_argument("--quick", action="store_true", help="small sizes and 3 publishes: a smoke run")
    parser.add_argument("--validation-sizes", help=f"rows to validate (default {FULL['validation_sizes']})")
    parser.add_argument("--snapshot-sizes", help=f"rows to publish, read (default {FULL['snapshot_sizes']})")
    parser.add_argument("--publishes", type=int, help=f"snapshots for latency (default {FULL['publishes']})")
    parser.add_argument(
        "--e2e-rows",
        help=f"rows of the large end-to-end snapshots, comma-separated; 0 skips (default {FULL['e2e_rows']})",
    )
    parser.add_argument(
        "--e2e-large-only",
        action="store_true",
        help="end to end: only the large flows (--e2e-rows): no real-data flow, floor or plain calls",
    )
    parser.add_argument(
        "--no-import-timing",
        action="store_true",
        help="end to end: no PYTHONPROFILEIMPORTTIME in the stack; the tasks' imports then count as work",
    )
    parser.add_argument("--output", type=Path, default=RESULTS_PATH, help="where to write the JSON")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 if a goal is missed or a figure with a goal is not measured",
    )
    return parser


def _guarded(section: str, results: list[Result], run: Callable[[], list[Result]]) -> None:
    """Run one section; an unexpected crash becomes a reported row, and the other sections still run."""
    started = time.monotonic()
    try:
        results += run()
    except Exception as error:  # reported in the table, with the traceback on stderr
        traceback.print_exc()
        results.append(not_measured(f"{section} (section failed)", "-", f"{type(error).__name__}: {error}"))
    progress(f"{section}: done in {time.monotonic() - started:.0f} s")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    defaults = QUICK if args.quick else FULL
    only = {part.strip() for part in args.only.split(",") if part.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        raise SystemExit(f"--only: unknown sections {sorted(unknown)}; expected some of {SECTIONS}")
    validation_sizes = _sizes(args.validation_sizes or defaults["validation_sizes"])
    snapshot_sizes = _sizes(args.snapshot_sizes or defaults["snapshot_sizes"])
    publishes = args.publishes or defaults["publishes"]
    e2e_rows = [size.rows for size in _sizes(args.e2e_rows or defaults["e2e_rows"]) if size.rows]

    machine = Machine.current()
    progress(f"{machine.cores} cores, {machine.memory_gb} GB, load average {machine.load_average['start']}")
    started = time.monotonic()
    results: list[Result] = []
    with ExitStack() as cleanup:
        workdir = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="housing-bench-")))
        if "validation" in only:
            from bench import validation

            _guarded("validation", results, lambda: validation.run(validation_sizes))
        if only & {"snapshots", "latency", "history"}:
            from bench import latency, snapshots
            from housing_stack.identities import generate_credentials
            from housing_stack.seaweedfs import SeaweedFS, SeaweedPorts

            progress("starting a private SeaweedFS on free loopback ports")
            s3 = cleanup.enter_context(SeaweedFS(workdir / "s3", SeaweedPorts.free(), generate_credentials()))
            if "snapshots" in only:
                _guarded("publish/read_snapshot", results, lambda: snapshots.run(s3, snapshot_sizes))
            if "latency" in only:
                _guarded("event latency", results, lambda: latency.run(s3, workdir, publishes=publishes))
            if "history" in only:
                from bench import history

                _guarded("history", results, lambda: history.run(s3, **defaults["history"]))
            s3.stop()  # frees its memory before the end-to-end stack starts
        if "end_to_end" in only:
            from bench import end_to_end

            _guarded(
                "end to end",
                results,
                lambda: end_to_end.run(
                    workdir,
                    big_rows=e2e_rows,
                    imports=not args.no_import_timing,
                    large_only=args.e2e_large_only,
                ),
            )
        if "model" in only:
            from bench import model_quality

            _guarded("model quality", results, model_quality.run)
    machine.finish()

    print(render_table(results))
    missed = [r.name for r in results if r.met is False]
    unmeasured = [r.name for r in results if r.goal is not None and r.met is None]
    print()
    met = sum(r.met is True for r in results)
    print(f"goals: {met} met, {len(missed)} missed, {len(unmeasured)} not measured")
    for name in missed:
        print(f"  MISSED: {name}")
    for name in unmeasured:
        print(f"  NOT MEASURED: {name}")
    print(
        f"machine: {machine.cores} cores, {machine.memory_gb} GB; load average (1/5/15 min) "
        f"start {machine.load_average['start']}, end {machine.load_average['end']}; "
        f"bench took {time.monotonic() - started:.0f} s"
    )
    write_json(args.output, machine, results)
    print(f"wrote {args.output}")
    return 1 if args.strict and (missed or unmeasured) else 0


if __name__ == "__main__":
    sys.exit(main())
