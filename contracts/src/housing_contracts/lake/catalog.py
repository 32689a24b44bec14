"""What a dataset holds, without the data stack: list the committed snapshots, find the newest, name one.

Standard library and fsspec only (no pandas, pyarrow, pandera or numpy), so a consumer's light "which
snapshot?" task and the Airflow trigger resolve snapshots without paying for the libraries that read them.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from housing_contracts.contract.errors import SnapshotNotFoundError
from housing_contracts.contract.versions import DATASET_URI
from housing_contracts.lake.confirmation import current_path, read_confirmation
from housing_contracts.lake.layout import (
    SNAPSHOT_ID_PATTERN,
    SNAPSHOTS_DIR,
    committed_snapshot_ids,
    id_floor,
    snapshot_time,
)
from housing_contracts.lake.manifest import Manifest, read_manifest
from housing_contracts.lake.storage import resolve

log = logging.getLogger(__name__)


def split_snapshot_uri(uri: str) -> tuple[str, str] | None:
    """``(<dataset uri>, <snapshot id>)`` if ``uri`` names one snapshot (``…/snapshots/<id>``), else None."""
    head, sep, tail = str(uri).rstrip("/").rpartition(f"/{SNAPSHOTS_DIR}/")
    if sep and SNAPSHOT_ID_PATTERN.match(tail):
        return head, tail
    return None


def list_snapshots(
    uri: str = DATASET_URI, *, storage_options: dict[str, Any] | None = None
) -> list[Manifest]:
    """Manifests of every committed snapshot under ``uri``, oldest first."""
    fs, root = resolve(uri, storage_options)
    return [read_manifest(fs, root, snapshot_id) for snapshot_id in committed_snapshot_ids(fs, root)]


def latest_snapshot(
    uri: str = DATASET_URI, *, storage_options: dict[str, Any] | None = None
) -> Manifest | None:
    """The newest committed snapshot's manifest, or None if nothing was published yet."""
    fs, root = resolve(uri, storage_options)
    newest = newest_snapshot_id(fs, root)
    return read_manifest(fs, root, newest) if newest else None


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
    """The newest committed snapshot's id (None: nothing committed), in a number of requests that does not
    grow with the history.

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
            return newer[-1]
        log.warning(
            "%s names snapshot %s, which has no manifest; listing every snapshot",
            current_path(root),
            confirmation.snapshot_id,
        )
    ids = committed_snapshot_ids(fs, root)
    return ids[-1] if ids else None


def snapshot_manifest(
    uri: str, snapshot_id: str, *, storage_options: dict[str, Any] | None = None
) -> Manifest:
    """The manifest of committed snapshot ``snapshot_id`` under ``uri`` (SnapshotNotFoundError if none)."""
    if not SNAPSHOT_ID_PATTERN.match(snapshot_id):
        raise SnapshotNotFoundError(f"{snapshot_id!r} is not a snapshot id (YYYYMMDDTHHMMSS.ffffffZ-<8 hex>)")
    fs, root = resolve(uri, storage_options)
    return read_manifest(fs, root, snapshot_id)
