"""Costs that must not grow with history, on a real SeaweedFS: the watcher's poll, the newest snapshot, and
the consumers' lag, each at a small and a large history built by the bench, each beside its floor.

- History: one real snapshot published with ``housing_contracts.publish`` (the data team's identity), then
  ``N - 1`` older synthetic ones, hourly, written in concurrent PUTs (a one-byte part and a copy of the real
  manifest each: :func:`housing_contracts.testing.synthetic_history`), so the real one stays the newest.
- Poll: the trigger's own poll loop (``SnapshotStream.open_stream`` with an in-memory cursor store, the ML
  team's identity, the default 1 s interval, look-back and sweep), not a whole Airflow: its S3 requests per
  poll counted with botocore's ``before-send`` event (:class:`~housing_contracts.testing.S3Requests`) over
  20 polls; its event latency = manifest PUT returned → event yielded, for 20 new snapshots.
- Newest snapshot: ``latest_snapshot`` (the index ``_current.json``, a listing from it, the manifest).
- Consumers: ``C`` subscribed consumers with ``R`` receipts each (receipts, ``latest-receipts.json`` and
  subscription written as ``record_receipt`` and ``subscribe`` write them, in concurrent PUTs), read as the
  data team: ``housing-contract consumers`` (a fresh process, its wall time), the Contract page's data
  (``contract_view.versions``, ``newest_snapshots``, ``consumer_lag``) and the lag alert task's work
  (``check_consumer_lag``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.results import Goal, Result, not_measured, progress
from bench.snapshots import bench_uri
from housing_contracts import V1, publish
from housing_contracts.consumers.freshness import check_consumer_lag
from housing_contracts.consumers.lag import consumer_lag
from housing_contracts.consumers.records import (
    LATEST_RECEIPTS_NAME,
    RECEIPTS_DIR,
    SUBSCRIPTION_NAME,
    LatestReceipts,
    Receipt,
    Subscription,
    consumer_uri,
)
from housing_contracts.lake.catalog import latest_snapshot
from housing_contracts.lake.layout import committed_snapshot_ids, new_snapshot_id, snapshot_time
from housing_contracts.lake.manifest import MANIFEST_NAME
from housing_contracts.lake.storage import resolve
from housing_contracts.testing import S3Requests, sample_frame, synthetic_history
from housing_stack.identities import DATA_TEAM, ML_TEAM
from housing_stack.seaweedfs import SeaweedFS
from housing_stack.settings import REPO_ROOT

SNAPSHOTS = (10, 10_000)
CONSUMERS = ((1, 1_000), (100, 1_000))  # (consumers, receipts each)
POLLS = 20
EVENTS = 20
EVENT_GOAL = Goal("<=", 3.0)
#: Flat: the large history costs the small one's requests (ratio to it).
FLAT = Goal("<=", 1.0, of="ratio")
CONSUMERS_GOAL = Goal("<=", 3.0)
LAG_TASK_GOAL = Goal("<=", 10.0)
DATA_TEAM_DIR = REPO_ROOT / "data-team"


def run(
    s3: SeaweedFS,
    *,
    sizes: tuple[int, ...] = SNAPSHOTS,
    consumers: tuple[tuple[int, int], ...] = CONSUMERS,
    polls: int = POLLS,
    events: int = EVENTS,
) -> list[Result]:
    """Every row of the section; a size that fails becomes a not-measured row, the others still run."""
    results: list[Result] = []
    small: dict[str, float] = {"size": sizes[0], "consumers": consumers[0][0]}
    for count in sizes:
        uri = bench_uri(f"history-{count}-{os.getpid()}/california_housing/v1")
        progress(f"history: building {count:,} snapshots")
        started = time.monotonic()
        _history(s3, uri, count)
        progress(f"history: {count:,} snapshots in {time.monotonic() - started:.0f} s")
        results += _poll_rows(s3, uri, count, small, polls, events)
        results += _newest_rows(s3, uri, count, small)
    large_uri = bench_uri(f"history-{max(sizes)}-{os.getpid()}/california_housing/v1")
    for n_consumers, n_receipts in consumers:
        results += _consumer_rows(s3, large_uri, max(sizes), n_consumers, n_receipts, small)
    return results


# --- the history --------------------------------------------------------------------------------------


def _history(s3: SeaweedFS, uri: str, count: int) -> None:
    options = s3.storage_options_for(DATA_TEAM)
    newest = publish(sample_frame(1000, seed=count), uri, storage_options=options, contract=V1).manifest
    fs, root = resolve(uri, options)
    end = snapshot_time(newest.snapshot_id) - timedelta(hours=2)  # outside the newest one's look-back
    synthetic_history(fs, root, newest.to_dict(), count - 1, end=end, every=timedelta(hours=1))


# --- the watcher's poll --------------------------------------------------------------------------------


class _Store:
    """The asset state store's accessor, in memory (``aget`` / ``aset``)."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


async def _poll_figures(s3: SeaweedFS, uri: str, polls: int, events: int) -> tuple[float, list[float], float]:
    """(requests per poll, event latencies in s, requests of the whole listing): the stream runs as the
    standalone trigger does, acknowledging each event once taken."""
    from airflow.triggers.shared_stream import AdvanceItem, AdvanceOutcome

    from housing_contracts.airflow.trigger import SnapshotCommittedTrigger, SnapshotStream

    options = s3.storage_options_for(ML_TEAM)
    trigger = SnapshotCommittedTrigger(
        uri=uri, asset_name=V1.asset_name, storage_options=options, start_at="new"
    )
    stream = SnapshotStream(trigger, _Store())
    fired: dict[str, float] = {}

    async def drive() -> None:
        async for _, snapshot_id in stream.open_stream():
            fired[snapshot_id] = time.perf_counter()
            await stream.advance([AdvanceItem(snapshot_id, AdvanceOutcome(acked=1, failed=0))])

    task = asyncio.create_task(drive())
    try:
        while stream.polls < 2:  # the first poll subscribes (a whole listing, once)
            await asyncio.sleep(0.05)
        assert stream.fs is not None
        with S3Requests(stream.fs) as counted:
            start = stream.polls
            while stream.polls < start + polls:
                await asyncio.sleep(0.05)
            per_poll = counted.total / (stream.polls - start)
        producer, root = resolve(uri, s3.storage_options_for(DATA_TEAM))
        template = json.loads(
            producer.cat_file(f"{root}/snapshots/{max(stream.cursor.acked)}/{MANIFEST_NAME}")
        )
        latencies, after = [], max(stream.cursor.acked)
        for _ in range(events):
            snapshot_id, _ = new_snapshot_id(after=after)
            document = json.dumps(template | {"snapshot_id": snapshot_id}).encode()
            await asyncio.to_thread(
                producer.pipe_file, f"{root}/snapshots/{snapshot_id}/{MANIFEST_NAME}", document
            )
            committed = time.perf_counter()
            while snapshot_id not in fired:
                await asyncio.sleep(0.01)
            latencies.append(fired[snapshot_id] - committed)
            after = snapshot_id
        with S3Requests(stream.fs) as whole:
            await asyncio.to_thread(committed_snapshot_ids, stream.fs, f"{root}")
        return per_poll, latencies, float(whole.total)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await stream.aclose()


def _poll_rows(
    s3: SeaweedFS, uri: str, count: int, small: dict[str, float], polls: int, events: int
) -> list[Result]:
    label = f"{count:,} snapshots"
    try:
        per_poll, latencies, whole = asyncio.run(_poll_figures(s3, uri, polls, events))
    except Exception as error:  # reported, never dropped
        reason = f"{type(error).__name__}: {error}"
        return [
            not_measured(f"watcher poll, S3 requests per poll, {label}", "requests", reason, FLAT),
            not_measured(f"watcher event latency p95, {label}", "s", reason, EVENT_GOAL),
        ]
    p95 = statistics.quantiles(latencies, n=20, method="inclusive")[-1]
    small.setdefault("poll", per_poll)
    small.setdefault("event", p95)
    note = f"{polls} idle polls, 1 s interval, 1 h look-back; the whole listing: {whole:g} requests"
    return [
        Result(
            f"watcher poll, S3 requests per poll, {label}",
            per_poll,
            "requests",
            f"the same at {small['size']:,.0f} snapshots",
            small["poll"],
            FLAT,
            note,
        ),
        Result(
            f"watcher event latency p95, {label}",
            p95,
            "s",
            f"p95 at {small['size']:,.0f} snapshots",
            small["event"],
            EVENT_GOAL,
            f"{events} manifests PUT one at a time → event yielded by the trigger's poll loop (no Airflow); "
            f"max {max(latencies):.2f} s",
        ),
    ]


# --- the newest snapshot ------------------------------------------------------------------------------


def _newest_rows(s3: SeaweedFS, uri: str, count: int, small: dict[str, float]) -> list[Result]:
    options = s3.storage_options_for(ML_TEAM)
    fs, root = resolve(uri, options)
    seconds, requests = [], 0
    for _ in range(5):
        with S3Requests(fs) as counted:
            started = time.perf_counter()
            latest_snapshot(uri, storage_options=options)
            seconds.append(time.perf_counter() - started)
        requests = counted.total
    with S3Requests(fs) as whole:
        started = time.perf_counter()
        committed_snapshot_ids(fs, root)
        whole_seconds = time.perf_counter() - started
    small.setdefault("newest", requests)
    label = f"{count:,} snapshots"
    return [
        Result(
            f"newest snapshot (latest_snapshot), S3 requests, {label}",
            float(requests),
            "requests",
            f"the same at {small['size']:,.0f} snapshots",
            small["newest"],
            FLAT,
            f"the whole listing it replaced: {whole.total} requests, {whole_seconds:.2f} s",
        ),
        Result(
            f"newest snapshot (latest_snapshot), {label}",
            statistics.median(seconds),
            "s",
            "the whole listing (what it cost before)",
            whole_seconds,
            None,
            "median of 5; index + listing from it + the manifest",
        ),
    ]


# --- consumers ----------------------------------------------------------------------------------------


def _consumers(s3: SeaweedFS, uri: str, n_consumers: int, n_receipts: int) -> None:
    """Subscriptions, receipts of the newest ``n_receipts`` snapshots and each index, in concurrent PUTs."""
    fs, root = resolve(uri, s3.storage_options)
    ids = committed_snapshot_ids(fs, root)[-n_receipts:]
    now = datetime.now(UTC)
    documents: dict[str, bytes] = {}
    for number in range(n_consumers):
        name = f"bench-consumer-{number:03d}"
        _, folder = resolve(consumer_uri(uri, name), s3.storage_options)
        subscription = Subscription(
            name,
            uri,
            "http://bench.invalid",
            timedelta(hours=6),
            "earliest",
            None,
            now,
            "bench",
            renewed_at=now,
            lease=timedelta(minutes=15),
        )
        documents[f"{folder}/{SUBSCRIPTION_NAME}"] = subscription.to_json()
        latest: LatestReceipts | None = None
        for i, snapshot_id in enumerate(ids):
            finished = now - timedelta(hours=len(ids) - i)
            receipt = Receipt(
                name, uri, snapshot_id, "bench_consumer", f"run-{i}", "success", None, finished, finished
            )
            documents[f"{folder}/{RECEIPTS_DIR}/{snapshot_id}/{receipt.run_key}.json"] = receipt.to_json()
            latest = LatestReceipts(name, uri, receipt, receipt)
        assert latest is not None
        documents[f"{folder}/{LATEST_RECEIPTS_NAME}"] = latest.to_json()
    fs.pipe(documents, batch_size=256)


def _cli_seconds(s3: SeaweedFS, uri: str) -> float:
    env = {**os.environ, **s3.env_for(DATA_TEAM)}
    cli = [str(Path(sys.executable).parent / "housing-contract"), "consumers", uri]
    started = time.perf_counter()
    subprocess.run(cli, env=env, check=True, capture_output=True, text=True, timeout=120)
    return time.perf_counter() - started


_PAGE = """
import json, sys, time
from housing_contracts.consumers.lag import consumer_lag
from include.housing_data import contract_view
uri, options = sys.argv[1], json.loads(sys.argv[2])
started = time.perf_counter()
contract_view.versions(storage_options=options)
contract_view.newest_snapshots(uri, storage_options=options)
rows = consumer_lag(uri, storage_options=options)
print(json.dumps({"seconds": time.perf_counter() - started, "rows": len(rows)}))
"""


def _page_seconds(s3: SeaweedFS, uri: str) -> float:
    options = json.dumps(s3.storage_options_for(DATA_TEAM))
    out = subprocess.run(
        [sys.executable, "-c", _PAGE, uri, options],
        cwd=DATA_TEAM_DIR,
        env={**os.environ, "PYTHONPATH": str(DATA_TEAM_DIR)},
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return float(json.loads(out.splitlines()[-1])["seconds"])


def _consumer_rows(
    s3: SeaweedFS, uri: str, count: int, n_consumers: int, n_receipts: int, small: dict[str, float]
) -> list[Result]:
    label = f"{n_consumers} x {n_receipts:,} receipts, {count:,} snapshots"
    try:
        progress(f"history: writing {n_consumers} consumers x {n_receipts:,} receipts")
        started = time.monotonic()
        _consumers(s3, uri, n_consumers, n_receipts)
        progress(f"history: consumers written in {time.monotonic() - started:.0f} s")
        options = s3.storage_options_for(DATA_TEAM)
        fs, _ = resolve(uri, options)
        with S3Requests(fs) as counted:
            started = time.perf_counter()
            rows = consumer_lag(uri, storage_options=options)
            lag_seconds = time.perf_counter() - started
        assert len(rows) >= n_consumers and not any(row.problems for row in rows), rows[:1]
        with S3Requests(fs) as alert:
            started = time.perf_counter()
            check_consumer_lag(uri, storage_options=options)
            alert_seconds = time.perf_counter() - started
        cli, page = _cli_seconds(s3, uri), _page_seconds(s3, uri)
    except Exception as error:  # reported, never dropped
        reason = f"{type(error).__name__}: {error}"
        return [not_measured(f"housing-contract consumers, {label}", "s", reason, CONSUMERS_GOAL)]
    small.setdefault("lag_requests", counted.total)
    requests = ", ".join(f"{op} {n}" for op, n in sorted(counted.by_operation.items()))
    return [
        Result(
            f"housing-contract consumers, {label}",
            cli,
            "s",
            "consumer_lag in process (the CLI's work without start-up)",
            lag_seconds,
            CONSUMERS_GOAL,
            "a fresh process, wall time, data team's keys",
        ),
        Result(
            f"Contract page data, {label}",
            page,
            "s",
            "consumer_lag in process",
            lag_seconds,
            CONSUMERS_GOAL,
            "versions + newest snapshots + consumer_lag, in a fresh process, imports excluded",
        ),
        Result(
            f"lag alert task's work (check_consumer_lag), {label}",
            alert_seconds,
            "s",
            "consumer_lag in process",
            lag_seconds,
            LAG_TASK_GOAL,
            f"{alert.total} S3 requests",
        ),
        Result(
            f"consumer_lag S3 requests, {label}",
            float(counted.total),
            "requests",
            f"the same with {small['consumers']:.0f} consumer(s)",
            small["lag_requests"],
            None,
            f"{requests}; grows with consumers, not with receipts or snapshots",
        ),
    ]
