"""How far behind each consumer of a dataset is: its records read back beside the committed snapshots.

Standard library, fsspec and pydantic only: the CLI and the producer's UI plugin import it.
"""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import Field
from pydantic.dataclasses import dataclass

from housing_contracts.consumers.records import (
    CONSUMER_NAME_PATTERN,
    CONSUMERS_DIR,
    RECEIPTS_DIR,
    SUBSCRIPTION_NAME,
    Receipt,
    Subscription,
    consumers_place,
    same_dataset,
)
from housing_contracts.contract.tables import format_table
from housing_contracts.lake.catalog import SkippedSnapshot, read_manifests
from housing_contracts.lake.documents import STRICT, Duration, UtcTime, adapter
from housing_contracts.lake.layout import committed_snapshot_ids, snapshot_time
from housing_contracts.lake.storage import is_local, resolve


def format_duration(duration: timedelta) -> str:
    """``26h 3m``, ``2m 3s``, ``30s``, ``0.5s``: the two largest units, for tables and alert texts."""
    total = duration.total_seconds()
    if total < 0:
        return f"-{format_duration(-duration)}"
    if total < 10 and round(total, 1) != round(total):
        return f"{total:.1f}s"  # promises of seconds (tests, tight checks) stay readable
    hours, rest = divmod(round(total), 3600)
    minutes, seconds = divmod(rest, 60)
    units = [(hours, "h"), (minutes, "m"), (seconds, "s")]
    first = next((i for i, (value, _) in enumerate(units) if value), len(units) - 1)
    return " ".join(f"{value}{unit}" for value, unit in units[first : first + 2] if value) or "0s"


# --- lag -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, config=STRICT)
class ConsumerLag:
    """One consumer of a dataset: what it consumed last, how far behind the newest snapshot it is, and
    whether that breaks the lag its subscription promises. A row of ``housing-contract consumers``."""

    consumer: str
    deployment: Annotated[str | None, Field(description="from the subscription")]
    max_lag: Annotated[
        Duration | None,
        Field(
            serialization_alias="max_lag_seconds", description="the promised lag; None without subscription"
        ),
    ]
    subscribed_at: UtcTime | None
    subscription_live: Annotated[
        bool | None, Field(description="its watcher still renews the subscription; None without one")
    ]
    last_snapshot_id: Annotated[str | None, Field(description="of the newest receipt by finished_at")]
    last_outcome: str | None
    last_reason: str | None
    last_finished_at: UtcTime | None
    consumed_snapshot_id: Annotated[str | None, Field(description="newest snapshot with a success")]
    newest_snapshot_id: Annotated[str | None, Field(description="newest committed snapshot")]
    lag_snapshots: Annotated[int, Field(description="committed snapshots not consumed yet")]
    lag: Annotated[
        Duration,
        Field(
            serialization_alias="lag_seconds", description="since the oldest of those was created (0 if none)"
        ),
    ]
    breaks_promise: Annotated[bool, Field(description="lag > max_lag while the subscription is live")]
    problems: Annotated[tuple[str, ...], Field(description="records reported and skipped")]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: durations in seconds (``max_lag_seconds``, ``lag_seconds``), times in ISO 8601."""
        return adapter(ConsumerLag).dump_python(self, mode="json", by_alias=True)

    @property
    def status(self) -> str:
        """``ok``, ``BROKEN`` and/or ``problems: …`` (the table's last column)."""
        parts = ["BROKEN"] if self.breaks_promise else []
        if self.subscription_live is False:
            parts.append("lapsed: its watcher no longer renews the subscription")
        if self.problems:
            parts.append(f"problems: {'; '.join(self.problems)}")
        return "; ".join(parts) or "ok"


def consumer_lag(
    dataset_uri: str, *, now: datetime | None = None, storage_options: dict[str, Any] | None = None
) -> list[ConsumerLag]:
    """One :class:`ConsumerLag` per consumer with records of ``dataset_uri``, sorted by consumer.

    One listing of the snapshots and one of the consumers' folder, then the records in one batched read.
    A corrupt or foreign record, or a receipt for a snapshot that is not committed, never raises: it is
    named in the row's ``problems`` and skipped. A committed snapshot with a corrupt or foreign manifest
    counts in no lag (no consumer can read it); the catalog logs it with its reason.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    fs, root = resolve(dataset_uri, storage_options)
    base, key = consumers_place(fs, root)
    committed = committed_snapshot_ids(fs, root)  # also empties the listing cache, so the find is fresh
    files: dict[str, dict[str, str]] = {}  # consumer -> {path below its dataset folder: full path}
    # on a store, list from the bucket: find() of a prefix holding no object falls back to a HEAD of the
    # prefix itself, which an identity granted only `_consumers/*` (the data team) may not make: 403
    listing = fs.find(base) if is_local(fs) else fs.find(base.partition("/")[0], prefix=f"{CONSUMERS_DIR}/")
    for path in listing:
        if ".json.tmp-" in posixpath.basename(path):
            continue  # write_atomic's temporary file on a disk: a write in progress
        consumer, _, below = path[len(base) + 1 :].partition("/")
        if key:
            if not below.startswith(f"{key}/"):
                continue  # another dataset's records
            below = below[len(key) + 1 :]
        files.setdefault(consumer, {})[below] = path
    paths = sorted(path for found in files.values() for path in found.values())
    contents = fs.cat(paths, on_error="return") if paths else {}  # one batched, concurrent read
    readable = _Readable(fs, root)
    return [
        _consumer_row(consumer, found, contents, dataset_uri, committed, now, readable)
        for consumer, found in sorted(files.items())
    ]


class _Readable:
    """Which committed snapshots a consumer can read (catalog.py decides); manifests read only for the
    snapshots a lag counts, each once per call of :func:`consumer_lag`."""

    def __init__(self, fs: Any, root: str) -> None:
        self.fs, self.root = fs, root
        self.skipped: dict[str, SkippedSnapshot | None] = {}

    def only(self, snapshot_ids: list[str]) -> list[str]:
        """``snapshot_ids`` without the corrupt or foreign ones (logged by the catalog)."""
        unknown = [snapshot_id for snapshot_id in snapshot_ids if snapshot_id not in self.skipped]
        if unknown:
            listing = read_manifests(self.fs, self.root, unknown)
            self.skipped.update(dict.fromkeys(unknown))
            self.skipped.update({skip.snapshot_id: skip for skip in listing.skipped})
        return [snapshot_id for snapshot_id in snapshot_ids if self.skipped[snapshot_id] is None]

    def newest(self, snapshot_ids: list[str]) -> str | None:
        """The newest readable of ``snapshot_ids`` (oldest first): usually one read, or none."""
        for snapshot_id in reversed(snapshot_ids):
            if self.only([snapshot_id]):
                return snapshot_id
        return None


def _read(kind: type[Subscription | Receipt], content: Any) -> Any:
    """Parse a record file's bytes; ValueError (with the reason) for anything unreadable."""
    if isinstance(content, BaseException):
        raise ValueError(f"unreadable: {content}")
    return kind.from_json(content)  # the row's problem names the file


def _consumer_row(
    consumer: str,
    found: dict[str, str],
    contents: dict[str, Any],
    dataset_uri: str,
    committed: list[str],
    now: datetime,
    readable: _Readable,
) -> ConsumerLag:
    problems: list[str] = []
    subscription: Subscription | None = None
    receipts: list[Receipt] = []
    if not CONSUMER_NAME_PATTERN.fullmatch(consumer):
        problems.append(f"{consumer!r} is not a valid consumer name; its records are skipped")
        found = {}
    known = set(committed)
    for below, path in sorted(found.items()):
        parts = below.split("/")
        try:
            if below == SUBSCRIPTION_NAME:
                subscription = _read(Subscription, contents.get(path))
                record: Subscription | Receipt = subscription
            elif len(parts) == 3 and parts[0] == RECEIPTS_DIR and parts[2].endswith(".json"):
                record = _read(Receipt, contents.get(path))
                if record.snapshot_id != parts[1] or record.run_key != parts[2].removesuffix(".json"):
                    raise ValueError(
                        f"foreign: holds snapshot {record.snapshot_id} run {record.dag_id}/{record.run_id}, "
                        "not the one its path names"
                    )
            else:
                problems.append(f"{below}: unexpected file")
                continue
            if record.consumer != consumer or not same_dataset(record.dataset_uri, dataset_uri):
                raise ValueError(f"foreign: written for consumer {record.consumer} of {record.dataset_uri}")
            if isinstance(record, Receipt):
                if record.snapshot_id not in known:
                    raise ValueError(f"unknown snapshot {record.snapshot_id} (not committed)")
                receipts.append(record)
        except ValueError as exc:
            if below == SUBSCRIPTION_NAME:
                subscription = None
            problems.append(f"{below}: {exc}")
    if SUBSCRIPTION_NAME not in found:
        problems.insert(0, "no subscription")

    last = max(receipts, key=lambda r: (r.finished_at, r.snapshot_id), default=None)
    consumed = max((r.snapshot_id for r in receipts if r.outcome == "success"), default=None)
    seen = max(filter(None, (consumed, subscription.start_after if subscription else None)), default=None)
    # a corrupt or foreign snapshot is no lag: no consumer can read it
    pending = readable.only([snapshot_id for snapshot_id in committed if seen is None or snapshot_id > seen])
    newest = pending[-1] if pending else readable.newest(committed)
    lag = max(now - snapshot_time(pending[0]), timedelta(0)) if pending else timedelta(0)
    max_lag = subscription.max_lag if subscription else None
    return ConsumerLag(
        consumer=consumer,
        deployment=subscription.deployment if subscription else None,
        max_lag=max_lag,
        subscribed_at=subscription.subscribed_at if subscription else None,
        subscription_live=subscription.live(now) if subscription else None,
        last_snapshot_id=last.snapshot_id if last else None,
        last_outcome=last.outcome if last else None,
        last_reason=last.reason if last else None,
        last_finished_at=last.finished_at if last else None,
        consumed_snapshot_id=consumed,
        newest_snapshot_id=newest,
        lag_snapshots=len(pending),
        lag=lag,
        # a lapsed subscription promises nothing: its consumer stopped renewing it (moved on, or is down)
        breaks_promise=subscription is not None and subscription.live(now) and lag > subscription.max_lag,
        problems=tuple(problems),
    )


def format_consumers(rows: list[ConsumerLag]) -> str:
    """The consumers as a text table (``housing-contract consumers``; ``make demo`` prints it too)."""

    def outcome(row: ConsumerLag) -> str:
        if row.last_outcome is None:
            return "never consumed"
        reason = row.last_reason or ""
        reason = reason if len(reason) <= 60 else f"{reason[:59]}…"
        return f"{row.last_outcome}: {reason}" if reason else row.last_outcome

    table = [
        (
            row.consumer,
            row.deployment or "-",
            row.last_snapshot_id or "-",
            outcome(row),
            row.lag_snapshots,
            format_duration(row.lag),
            f"≤ {format_duration(row.max_lag)}" if row.max_lag is not None else "-",
            row.status,
        )
        for row in rows
    ]
    headers = ("consumer", "deployment", "last snapshot", "outcome", "lag", "lag (time)", "promise", "status")
    return format_table(headers, table)
