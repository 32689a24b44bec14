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


def id_floor(time: datetime) -> str:
    """The id prefix of ``time``: every snapshot created at or after ``time`` has an id sorting at or after
    it (ids start with their creation time, so they sort by time)."""
    return time.astimezone(UTC).strftime(_ID_TIME_FORMAT)


def committed_snapshot_ids(fs: Any, root: str, *, since: str | None = None) -> list[str]:
    """Ids of the snapshot folders under ``root`` that hold a manifest, oldest first.

    ``since``: only ids sorting at or after it (a snapshot id, or :func:`id_floor` of a time). On S3 that is
    one ListObjectsV2 from ``StartAfter=<snapshots>/<since>`` (a request per 1,000 keys listed), so its cost
    depends on what sorts after ``since``, not on the history before it. None lists the whole history.
    """
    prefix = f"{root}/{SNAPSHOTS_DIR}"
    committed = set()
    for path in list_after(fs, prefix, since):
        folder, name = posixpath.split(path.rstrip("/"))
        snapshot_id = posixpath.basename(folder)
        if (
            name == MANIFEST_NAME
            and posixpath.dirname(folder) == prefix
            and SNAPSHOT_ID_PATTERN.match(snapshot_id)
            and (since is None or snapshot_id >= since)
        ):
            committed.add(snapshot_id)
    return sorted(committed)


def is_s3(fs: Any) -> bool:
    """Whether ``fs`` is s3fs (listings cost requests, and take a start key)."""
    protocol = fs.protocol if isinstance(fs.protocol, tuple | list) else (fs.protocol,)
    return "s3" in protocol and hasattr(fs, "call_s3")


def list_after(fs: Any, prefix: str, since: str | None = None) -> list[str]:
    """Every file under ``prefix`` whose path below it sorts at or after ``since`` (None: every file).

    On S3, ListObjectsV2 from ``StartAfter=<prefix>/<since>``: one request per 1,000 keys listed, none for
    the keys before ``since``. ``S3FileSystem.call_s3`` runs that documented call with the filesystem's
    credentials and retries (s3fs's own ``find`` and ``ls`` take no start key). Elsewhere a ``find``.
    """
    if not is_s3(fs):
        # s3fs-like caches would answer from an old listing: a poller must see files written since
        fs.invalidate_cache()
        paths = fs.find(prefix)
    else:
        paths = _list_s3(fs, prefix, since)
    return [path for path in paths if since is None or path[len(prefix) + 1 :] >= since]


def _list_s3(fs: Any, prefix: str, since: str | None) -> list[str]:
    bucket, _, key = prefix.partition("/")
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": f"{key}/"}
    if since:
        # One character short of ``since``: SeaweedFS skips the whole folder named exactly like StartAfter
        # (AWS lists its keys, which extend the name); the few keys between are dropped by the caller.
        request["StartAfter"] = f"{key}/{since[:-1]}"
    paths = []
    while True:
        page = fs.call_s3("list_objects_v2", **request)
        paths.extend(f"{bucket}/{entry['Key']}" for entry in page.get("Contents", []))
        if not page.get("IsTruncated"):
            return paths
        request["ContinuationToken"] = page["NextContinuationToken"]


def list_folders(fs: Any, prefix: str) -> list[str]:
    """The names of the folders directly under ``prefix``, sorted; on S3 one request per 1,000 folders
    (a delimited listing, which never lists what is inside them)."""
    if not is_s3(fs):
        fs.invalidate_cache()
        if not fs.exists(prefix):
            return []
        return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(prefix, detail=False) if fs.isdir(p))
    bucket, _, key = prefix.partition("/")
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": f"{key}/", "Delimiter": "/"}
    names = []
    while True:
        page = fs.call_s3("list_objects_v2", **request)
        names.extend(entry["Prefix"][len(key) + 1 :].rstrip("/") for entry in page.get("CommonPrefixes", []))
        if not page.get("IsTruncated"):
            return sorted(names)
        request["ContinuationToken"] = page["NextContinuationToken"]
