"""What a dataset holds, without the data stack: which committed snapshots are readable (and why not the
others), the newest readable one, one named snapshot.

A committed snapshot (a folder with ``_manifest.json``) is *readable* when its manifest parses as a
:class:`~housing_contracts.lake.manifest.Manifest`, names its own folder, and was written under a released
contract of the dataset's major. Any other manifest (not JSON, a strict-record failure, another document,
another contract or major) is *skipped*: every reader here names it with its reason (a WARNING in the log
and :attr:`SnapshotListing.skipped`) and goes on with the rest. This module is the one place that decides
it; the CLI, the lag, the freshness check, the producer's idempotency and the Contract page use it.

Standard library and fsspec only (no pandas, pyarrow, pandera or numpy), so a consumer's light "which
snapshot?" task and the Airflow trigger resolve snapshots without paying for the libraries that read them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from housing_contracts.contract.errors import SnapshotIntegrityError, SnapshotNotFoundError
from housing_contracts.contract.versions import DATASET_URI, Contract, contract_for, contract_of
from housing_contracts.lake.confirmation import current_path, read_confirmation
from housing_contracts.lake.layout import (
    MANIFEST_NAME,
    SNAPSHOT_ID_PATTERN,
    SNAPSHOTS_DIR,
    committed_snapshot_ids,
    id_floor,
    snapshot_time,
)
from housing_contracts.lake.manifest import Manifest, read_manifest
from housing_contracts.lake.quarantine import quarantine_note
from housing_contracts.lake.storage import resolve

log = logging.getLogger(__name__)

#: Most manifests read in one batch when looking back for the newest readable one (the first batch is the
#: newest alone: junk is rare, so that is usually the only read).
_NEWEST_BATCH = 16


@dataclass(frozen=True)
class SkippedSnapshot:
    """A committed snapshot no reader uses: its manifest is corrupt or foreign. ``reason`` says which."""

    snapshot_id: str
    path: str  #: its manifest
    reason: str

    def text(self) -> str:
        """``<snapshot id>: <reason>``: one line for logs, tables and alerts."""
        return f"{self.snapshot_id}: {self.reason}"


@dataclass(frozen=True)
class SnapshotListing:
    """The readable snapshots of a dataset (manifests, oldest first) and the skipped ones, with why."""

    manifests: tuple[Manifest, ...]
    skipped: tuple[SkippedSnapshot, ...]


def split_snapshot_uri(uri: str) -> tuple[str, str] | None:
    """``(<dataset uri>, <snapshot id>)`` if ``uri`` names one snapshot (``…/snapshots/<id>``), else None."""
    head, sep, tail = str(uri).rstrip("/").rpartition(f"/{SNAPSHOTS_DIR}/")
    if sep and SNAPSHOT_ID_PATTERN.match(tail):
        return head, tail
    return None


def manifest_path(root: str, snapshot_id: str) -> str:
    return f"{root}/{SNAPSHOTS_DIR}/{snapshot_id}/{MANIFEST_NAME}"


def read_manifests(
    fs: Any, root: str, snapshot_ids: Sequence[str], *, contract: Contract | None = None
) -> SnapshotListing:
    """The manifests of ``snapshot_ids`` under ``root`` (one batched, concurrent read), sorted into readable
    and skipped (each skip logged with its reason). ``contract``: the major expected (default the dataset's,
    from ``root``; none known: any released contract). A storage error other than a missing file raises:
    an unreachable store is not an empty dataset."""
    expected = contract or contract_for(root)
    paths = {snapshot_id: manifest_path(root, snapshot_id) for snapshot_id in snapshot_ids}
    contents = fs.cat(list(paths.values()), on_error="return") if paths else {}
    manifests, skipped = [], []
    for snapshot_id, path in paths.items():
        content = contents.get(path, FileNotFoundError(path))
        if isinstance(content, FileNotFoundError):
            # listed, then gone: quarantined or deleted since the listing
            outcome: Manifest | SkippedSnapshot = SkippedSnapshot(
                snapshot_id, path, "its manifest is gone (quarantined or deleted since it was listed)"
            )
        elif isinstance(content, BaseException):
            raise content
        else:
            outcome = judge_manifest(snapshot_id, path, content, expected)
        if isinstance(outcome, SkippedSnapshot):
            log.warning("skipping snapshot %s (%s): %s", snapshot_id, path, outcome.reason)
            skipped.append(outcome)
        else:
            manifests.append(outcome)
    return SnapshotListing(tuple(manifests), tuple(skipped))


def judge_manifest(
    snapshot_id: str, path: str, content: bytes, expected: Contract | None
) -> Manifest | SkippedSnapshot:
    """The manifest in ``content`` if a reader may use it, else why not (``corrupt: …`` or ``foreign: …``)."""
    try:
        manifest = Manifest.from_json(content)
    except SnapshotIntegrityError as exc:
        try:
            tag = json.loads(content).get("format")
        except (ValueError, AttributeError):
            tag = None
        if isinstance(tag, str):
            return SkippedSnapshot(snapshot_id, path, f"foreign: a {tag!r} document, not a manifest")
        return SkippedSnapshot(snapshot_id, path, f"corrupt manifest: {exc}")
    ref = manifest.contract
    if manifest.snapshot_id != snapshot_id:
        reason = f"foreign: the manifest names snapshot {manifest.snapshot_id!r}, not its folder"
    elif contract_of(ref.name, ref.version) is None:
        reason = f"foreign: written under contract {ref.name} {ref.version}, which this package does not know"
    else:
        mismatch = other_major(manifest, expected) if expected is not None else None
        if mismatch is None:
            return manifest
        reason = f"foreign: {mismatch}"
    return SkippedSnapshot(snapshot_id, path, reason)


def other_major(manifest: Manifest, expected: Contract) -> str | None:
    """Why ``manifest`` does not belong in a dataset of ``expected`` (another contract or major), or None."""
    ref = manifest.contract
    if (ref.name, ref.major) == (expected.name, expected.major):
        return None
    return f"written under {ref.name} {ref.version}, in a dataset of {expected.label}"


def newest_readable(
    fs: Any, root: str, snapshot_ids: Sequence[str], *, contract: Contract | None = None
) -> tuple[Manifest | None, tuple[SkippedSnapshot, ...]]:
    """The newest readable manifest among ``snapshot_ids`` (oldest first), and the newer ones skipped on the
    way. Reads from the newest backwards in growing batches (1, 2, 4, … concurrent reads): usually one
    read."""
    skipped: list[SkippedSnapshot] = []
    stop, size = len(snapshot_ids), 1
    while stop > 0:
        start = max(stop - size, 0)
        batch = read_manifests(fs, root, snapshot_ids[start:stop], contract=contract)
        skipped[:0] = batch.skipped
        if batch.manifests:
            newest = batch.manifests[-1]
            return newest, tuple(s for s in skipped if s.snapshot_id > newest.snapshot_id)
        stop, size = start, min(size * 2, _NEWEST_BATCH)
    return None, tuple(skipped)


def readable_snapshots(
    uri: str = DATASET_URI, *, storage_options: dict[str, Any] | None = None
) -> SnapshotListing:
    """Every committed snapshot under ``uri``: the readable manifests (oldest first) and the skipped ones."""
    fs, root = resolve(uri, storage_options)
    return read_manifests(fs, root, committed_snapshot_ids(fs, root))


def list_snapshots(
    uri: str = DATASET_URI, *, storage_options: dict[str, Any] | None = None
) -> list[Manifest]:
    """Manifests of every readable committed snapshot under ``uri``, oldest first (the skipped ones are
    logged with their reason; :func:`readable_snapshots` returns them)."""
    return list(readable_snapshots(uri, storage_options=storage_options).manifests)


def latest_snapshot(
    uri: str = DATASET_URI, *, storage_options: dict[str, Any] | None = None
) -> Manifest | None:
    """The newest readable committed snapshot's manifest, or None if there is none."""
    fs, root = resolve(uri, storage_options)
    return newest_readable_snapshot(fs, root)[0]


def newest_readable_snapshot(
    fs: Any, root: str, recent: Sequence[str] | None = None, *, contract: Contract | None = None
) -> tuple[Manifest | None, tuple[SkippedSnapshot, ...]]:
    """The newest readable snapshot under ``root`` and the newer ones skipped, in requests that do not grow
    with the history: the candidates are ``recent`` (default :func:`recent_snapshot_ids`). Only when none
    of them is readable (everything since the index is junk or was quarantined) is the rest read back."""
    ids = list(recent_snapshot_ids(fs, root) if recent is None else recent)
    manifest, skipped = newest_readable(fs, root, ids, contract=contract)
    if manifest is None and ids:
        older = [snapshot_id for snapshot_id in committed_snapshot_ids(fs, root) if snapshot_id < ids[0]]
        manifest, before = newest_readable(fs, root, older, contract=contract)
        skipped = before + skipped
    return manifest, skipped


def newest_snapshot_ids(fs: Any, root: str, limit: int) -> list[str]:
    """The ``limit`` newest committed snapshot ids, newest first: listed from the newest one's creation time
    minus a day, then a window twice as long until it holds ``limit`` ids (the whole history after ~50
    years of windows), so a page of the newest costs what sorts in the window, not the history."""
    newest = newest_snapshot_id(fs, root)
    if newest is None or limit <= 0:
        return []
    window = timedelta(days=1)
    while window < timedelta(days=365 * 50):
        ids = committed_snapshot_ids(fs, root, since=id_floor(snapshot_time(newest) - window))
        if len(ids) >= limit:
            return ids[::-1][:limit]
        window *= 2
    return committed_snapshot_ids(fs, root)[::-1][:limit]


def newest_snapshot_id(fs: Any, root: str) -> str | None:
    """The newest committed snapshot's id, readable or not (None: nothing committed), in a number of
    requests that does not grow with the history (see :func:`recent_snapshot_ids`)."""
    ids = recent_snapshot_ids(fs, root)
    return ids[-1] if ids else None


def recent_snapshot_ids(fs: Any, root: str) -> list[str]:
    """The committed snapshot ids from the index's snapshot on, oldest first, in a number of requests that
    does not grow with the history.

    The index is the producer's confirmation (``_current.json``): written after each commit's manifest, it
    names a committed snapshot, never one being written. The listing from that id on finds it and any newer
    commit (one whose confirmation failed, a concurrent publisher's), so a stale index costs the keys of the
    newer snapshots, never a wrong answer. Without a readable confirmation (a lake from before it, a bad
    file), or when the snapshot it names no longer has a manifest, the whole history is listed.
    """
    try:
        confirmation = read_confirmation(fs, root)
    except (ValueError, OSError) as exc:
        log.warning(
            "%s unusable as the newest-snapshot index (%s); listing every snapshot", current_path(root), exc
        )
        confirmation = None
    if confirmation is not None:
        newer = committed_snapshot_ids(fs, root, since=confirmation.snapshot_id)
        if newer:
            return newer
        log.warning(
            "%s names snapshot %s, which has no manifest; listing every snapshot",
            current_path(root),
            confirmation.snapshot_id,
        )
    return committed_snapshot_ids(fs, root)


def snapshot_manifest(
    uri: str, snapshot_id: str, *, storage_options: dict[str, Any] | None = None
) -> Manifest:
    """The manifest of committed snapshot ``snapshot_id`` under ``uri``: :class:`SnapshotNotFoundError` if
    none (saying so if it was quarantined), :class:`SnapshotIntegrityError` naming the file if it is bad."""
    if not SNAPSHOT_ID_PATTERN.match(snapshot_id):
        raise SnapshotNotFoundError(f"{snapshot_id!r} is not a snapshot id (YYYYMMDDTHHMMSS.ffffffZ-<8 hex>)")
    fs, root = resolve(uri, storage_options)
    return read_named_manifest(fs, root, snapshot_id)


def read_named_manifest(fs: Any, root: str, snapshot_id: str) -> Manifest:
    """:func:`~housing_contracts.lake.manifest.read_manifest`, whose not-found error says when the snapshot
    was quarantined, by whom and why."""
    try:
        return read_manifest(fs, root, snapshot_id)
    except SnapshotNotFoundError as exc:
        note = quarantine_note(fs, root, snapshot_id)
        if note is None:
            raise
        raise SnapshotNotFoundError(f"{exc}: {note}") from None
