"""Injected faults against a real SeaweedFS: concurrent publishes and an object store that goes away.

- Two producers publishing at once (different content, and the same content) must leave only complete,
  self-consistent snapshots: each committed snapshot reads back verified (sizes, sha256, row count,
  content fingerprint, contract) and holds exactly one producer's frame, never a mix. The same content
  published twice at once commits once (the commit claim), and both producers get that snapshot.
- With the object store killed, ``read_snapshot`` must raise a storage error (``OSError`` or botocore's
  ``EndpointConnectionError``, a ``BotoCoreError``: what a retry policy must retry), never return a
  frame; once the store is back, the same call returns the snapshot. This uses a dedicated SeaweedFS, so
  killing it cannot disturb the session's shared server. (The contract package offers no retrying
  reader, so retrying is the caller's job; these tests pin the error it must retry on.)

Each test prints one row (case, expected, observed) of the reliability summary.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pandas as pd
import pytest
from botocore.exceptions import BotoCoreError

from housing_contracts import V1, PublishResult, list_snapshots, publish, read_snapshot
from housing_contracts.testing import sample_frame
from housing_testkit import SeaweedFS

#: Rounds of simultaneous publishes per test: each round is a fresh chance for the writes to interleave.
ROUNDS = 3


def _publish_together(frames: list[pd.DataFrame], uri: str, options: dict) -> list[PublishResult]:
    """Publish each frame from its own thread, all released at the same instant."""
    barrier = threading.Barrier(len(frames))
    results: list[PublishResult | BaseException | None] = [None] * len(frames)

    def producer(slot: int) -> None:
        barrier.wait()
        try:
            results[slot] = publish(
                frames[slot], uri, producer={"slot": slot}, storage_options=options, contract=V1
            )
        except BaseException as err:  # re-raised below, in the test's thread
            results[slot] = err

    threads = [threading.Thread(target=producer, args=(slot,)) for slot in range(len(frames))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results  # type: ignore[return-value]


def _matching_input(frame: pd.DataFrame, inputs: list[pd.DataFrame]) -> int | None:
    """Index of the input ``frame`` equals (columns in contract order, values exact), else None."""
    for slot, candidate in enumerate(inputs):
        if frame.shape == candidate.shape and frame.equals(candidate[frame.columns].reset_index(drop=True)):
            return slot
    return None


def test_concurrent_publishes_of_different_content_commit_whole_snapshots(
    lake_uri: str, s3_server, reliability_row
) -> None:
    """Simultaneous publishes of different frames each commit one verified snapshot holding that frame."""
    options = s3_server.storage_options
    inputs = [sample_frame(1_000, seed=seed) for seed in range(2 * ROUNDS)]
    for round_ in range(ROUNDS):
        results = _publish_together(inputs[2 * round_ : 2 * round_ + 2], lake_uri, options)
        assert all(result.created for result in results)
    manifests = list_snapshots(lake_uri, storage_options=options)
    matched = []
    for manifest in manifests:
        snapshot = read_snapshot(lake_uri, manifest.snapshot_id, storage_options=options)
        matched.append(_matching_input(snapshot.frame, inputs))
        assert matched[-1] is not None, f"snapshot {manifest.snapshot_id} holds no producer's frame"
        assert snapshot.manifest.producer["slot"] == matched[-1] % 2
    reliability_row(
        f"2 producers at once, different content, x{ROUNDS}",
        f"{2 * ROUNDS} whole snapshots",
        f"{len(manifests)} snapshots, {sum(m is not None for m in matched)} verified and unmixed",
    )
    assert len(manifests) == 2 * ROUNDS
    assert sorted(matched) == list(range(2 * ROUNDS))


def test_concurrent_publishes_of_the_same_content_commit_one_snapshot(
    lake_uri: str, s3_server, reliability_row
) -> None:
    """Simultaneous publishes of one frame commit one verified snapshot; the other returns it."""
    options = s3_server.storage_options
    frame = sample_frame(1_000, seed=99)
    created, shared, snapshots = 0, 0, []
    for round_ in range(ROUNDS):
        uri = f"{lake_uri}/round-{round_}"  # a fresh dataset each round, so every round is a race
        results = _publish_together([frame, frame], uri, options)
        created += sum(result.created for result in results)
        shared += len({result.manifest.snapshot_id for result in results}) == 1
        for manifest in list_snapshots(uri, storage_options=options):
            snapshot = read_snapshot(uri, manifest.snapshot_id, storage_options=options)
            snapshots.append(_matching_input(snapshot.frame, [frame]))
    reliability_row(
        f"2 producers at once, same content, x{ROUNDS}",
        f"{ROUNDS} snapshots (1 per race), both producers get it",
        f"{len(snapshots)} snapshots, {created} created, {shared} races returned one snapshot to both",
    )
    assert snapshots == [0] * ROUNDS
    assert created == shared == ROUNDS


# --- the object store goes away while a consumer reads -------------------------------------------------


def test_read_while_the_store_is_down_raises_a_storage_error_then_succeeds(
    disposable_s3_server: SeaweedFS, tmp_path: Path, reliability_row
) -> None:
    """With S3 killed read_snapshot raises a storage error naming the endpoint; after a restart it reads."""
    uri = "s3://lake/faults/california_housing/v1"
    # A fresh filesystem per call: s3fs caches instances and listings, and a cached listing must not
    # stand in for the store.
    options = {**disposable_s3_server.storage_options, "skip_instance_cache": True}
    frame = sample_frame(1_000, seed=5)
    published = publish(frame, uri, storage_options=options, contract=V1)
    disposable_s3_server.kill()
    try:
        with pytest.raises(
            (OSError, BotoCoreError), match=re.escape(disposable_s3_server.endpoint_url)
        ) as down:
            read_snapshot(uri, storage_options=options)
    finally:
        disposable_s3_server.start()
    snapshot = read_snapshot(uri, storage_options=options)
    reliability_row(
        "object store down while reading",
        "storage error while down, the snapshot after restart",
        f"{type(down.value).__name__} while down; {snapshot.manifest.row_count} verified rows after",
    )
    assert snapshot.manifest.snapshot_id == published.manifest.snapshot_id
    assert _matching_input(snapshot.frame, [frame]) == 0
