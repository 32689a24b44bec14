"""Where a dataset's snapshots and documents live, and which snapshots are committed.

No pandas or pyarrow, so the Airflow trigger lists snapshots without importing the data stack.
"""

from __future__ import annotations

import posixpath
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from housing_contracts.contract.versions import SNAPSHOTS_DIR

#: A snapshot's commit marker, written last: ``<root>/snapshots/<snapshot id>/_manifest.json``.
MANIFEST_NAME = "_manifest.json"
#: Commit claims, beside (not in) the snapshots folder: ``<root>/_claims/<parent>-<content hash>.json``.
CLAIMS_DIR = "_claims"
#: The producer's latest confirmation that the data is current (see ``confirmation.py``), beside (not in)
#: the snapshots folder, so readers and the snapshot watcher never see it: ``<root>/_current.json``.
CURRENT_NAME = "_current.json"
_ID_TIME_FORMAT = "%Y%m%dT%H%M%S.%fZ"
SNAPSHOT_ID_PATTERN = re.compile(r"^\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}$")


def new_snapshot_id(now: datetime | None = None, *, after: str | None = None) -> tuple[str, datetime]:
    """A fresh snapshot id and its creation time; later than ``after`` even if the clock is not."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    if after is not None:
        previous = snapshot_time(after)
        if now <= previous:
            now = previous + timedelta(microseconds=1)
    return f"{now.strftime(_ID_TIME_FORMAT)}-{secrets.token_hex(4)}", now


def claim_path(root: str, parent: str | None, content_fingerprint: str) -> str:
    """Where publishers claim the one commit of this content after snapshot ``parent`` (None: the first)."""
    digest = content_fingerprint.split(":", 1)[-1]
    return f"{root}/{CLAIMS_DIR}/{parent or 'first'}-{digest}.json"


def snapshot_time(snapshot_id: str) -> datetime:
    """The UTC creation time encoded in a snapshot id."""
    if not SNAPSHOT_ID_PATTERN.match(snapshot_id):
        raise ValueError(f"not a snapshot id: {snapshot_id!r} (expected YYYYMMDDTHHMMSS.ffffffZ-<8 hex>)")
    return datetime.strptime(snapshot_id.split("-")[0], _ID_TIME_FORMAT).replace(tzinfo=UTC)


def committed_snapshot_ids(fs: Any, root: str) -> list[str]:
    """Ids of the snapshot folders under ``root`` that hold a manifest, oldest first (one listing)."""
    prefix = f"{root}/{SNAPSHOTS_DIR}"
    # s3fs caches listings, sub-folders included, and answers info() from them: a poller must see
    # manifests written since its last look.
    fs.invalidate_cache()
    committed = set()
    for path in fs.find(prefix):
        folder, name = posixpath.split(path.rstrip("/"))
        snapshot_id = posixpath.basename(folder)
        if (
            name == MANIFEST_NAME
            and posixpath.dirname(folder) == prefix
            and SNAPSHOT_ID_PATTERN.match(snapshot_id)
        ):
            committed.add(snapshot_id)
    return sorted(committed)
