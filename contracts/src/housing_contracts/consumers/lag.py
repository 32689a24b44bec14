"""How far behind each consumer of a dataset is: its records read back beside the committed snapshots.

Standard library, fsspec and pydantic only: the CLI and the producer's UI plugin import it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass as plain_dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import Field
from pydantic.dataclasses import dataclass

from housing_contracts.consumers.records import (
    CONSUMER_NAME_PATTERN,
    LATEST_RECEIPTS_NAME,
    RECEIPTS_DIR,
    SUBSCRIPTION_NAME,
    LatestReceipts,
    Receipt,
    Subscription,
    consumers_place,
    same_dataset,
)
from housing_contracts.contract.tables import format_table
from housing_contracts.contract.versions import SNAPSHOTS_DIR
from housing_contracts.lake.catalog import SkippedSnapshot, read_manifests
from housing_contracts.lake.documents import STRICT, Duration, UtcTime, adapter
from housing_contracts.lake.layout import (
    MANIFEST_NAME,
    committed_snapshot_ids,
    is_s3,
    list_after,
    list_folders,
    snapshot_time,
)
from housing_contracts.lake.storage import resolve


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

    Requests do not grow with the history: one delimited listing of the consumers' folder; each consumer's
    subscription and :class:`~housing_contracts.consumers.records.LatestReceipts` in one batched read; its
    receipts listed from the snapshot of its last success on (all of them only without that index), and
    those the index does not hold read in a second batched read; the snapshots listed from the oldest
    snapshot any consumer has seen on.
    A corrupt or foreign record, or a receipt for a snapshot that is not committed, never raises: it is
    named in the row's ``problems`` and skipped. A committed snapshot with a corrupt or foreign manifest
    counts in no lag (no consumer can read it); the catalog logs it with its reason.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    fs, root = resolve(dataset_uri, storage_options)
    base, key = consumers_place(fs, root)

    def folder(consumer: str) -> str:
        return posixpath.join(base, consumer, key).rstrip("/")

    consumers = list_folders(fs, base)
    heads = [f"{folder(c)}/{name}" for c in consumers for name in (SUBSCRIPTION_NAME, LATEST_RECEIPTS_NAME)]
    contents = _read_all(fs, heads)
    files: dict[str, dict[str, str]] = {}  # consumer -> {path below its dataset folder: full path}
    starts: dict[str, str | None] = {}  # consumer -> the receipts folder its listing starts at
    indexed: dict[str, set[str]] = {}  # consumer -> its index's receipts, as paths below its folder
    for consumer in consumers:
        found = files.setdefault(consumer, {})
        for name in (SUBSCRIPTION_NAME, LATEST_RECEIPTS_NAME):
            path = f"{folder(consumer)}/{name}"
            if not isinstance(contents.get(path, FileNotFoundError()), FileNotFoundError):
                found[name] = path
        index = _trusted_index(consumer, contents.get(found.get(LATEST_RECEIPTS_NAME, "")), dataset_uri)
        starts[consumer] = index.last_success.snapshot_id if index and index.last_success else None
        # the index's receipts are copies of their files, written after them: not read again
        indexed[consumer] = {
            f"{RECEIPTS_DIR}/{r.snapshot_id}/{r.run_key}.json"
            for r in ((index.last, index.last_success) if index else ())
            if r is not None
        }
    with ThreadPoolExecutor(max_workers=8) as pool:
        listings = pool.map(
            lambda c: (
                list_after(fs, f"{folder(c)}/{RECEIPTS_DIR}", starts[c])
                if CONSUMER_NAME_PATTERN.fullmatch(c)
                else []
            ),
            consumers,
        )
        for consumer, paths in zip(consumers, listings, strict=True):
            for path in paths:
                if ".json.tmp-" not in posixpath.basename(path):  # write_atomic's file on a disk: in progress
                    files[consumer][path[len(folder(consumer)) + 1 :]] = path
    files = {consumer: found for consumer, found in files.items() if found}  # another dataset's consumer
    receipts = sorted(
        path
        for consumer, found in files.items()
        for below, path in found.items()
        if below.startswith(f"{RECEIPTS_DIR}/") and below not in indexed.get(consumer, ())
    )
    if receipts:
        contents.update(_read_all(fs, receipts))
    rows = {
        consumer: _records(consumer, found, contents, dataset_uri, indexed.get(consumer, set()))
        for consumer, found in files.items()
    }
    seen = [record.seen for record in rows.values()]
    since = None if not seen or None in seen else min(filter(None, seen))
    committed = committed_snapshot_ids(fs, root, since=since)
    if since is not None and not committed:
        committed = committed_snapshot_ids(fs, root)  # the snapshot seen is gone: count from the start
    checked: dict[str, bool] = {}

    def is_committed(snapshot_id: str) -> bool:
        if since is None or snapshot_id >= since:
            return snapshot_id in known
        if snapshot_id not in checked:  # older than every listing start: one look at its manifest
            checked[snapshot_id] = fs.exists(f"{root}/{SNAPSHOTS_DIR}/{snapshot_id}/{MANIFEST_NAME}")
        return checked[snapshot_id]

    known = set(committed)
    readable = _Readable(fs, root)
    return [
        _consumer_row(rows[consumer], committed, is_committed, now, readable) for consumer in sorted(rows)
    ]


def _read_all(fs: Any, paths: list[str]) -> dict[str, Any]:
    """Each file's bytes, or the exception reading it raised, in one batched, concurrent read. On S3 one
    GET each: s3fs would first HEAD every file for its size to split large ones (records are small)."""
    if not paths:
        return {}
    if is_s3(fs):
        return fs.cat(paths, on_error="return", max_concurrency=1)
    return fs.cat(paths, on_error="return")


def _trusted_index(consumer: str, content: Any, dataset_uri: str) -> LatestReceipts | None:
    """A consumer's :class:`LatestReceipts` if it reads and names this consumer and dataset, else None
    (its receipts are then all listed and read; the row names the problem)."""
    if content is None or isinstance(content, BaseException):
        return None
    try:
        latest = LatestReceipts.from_json(content)
    except ValueError:
        return None
    receipts = [latest, *(r for r in (latest.last, latest.last_success) if r is not None)]
    if any(r.consumer != consumer or not same_dataset(r.dataset_uri, dataset_uri) for r in receipts):
        return None
    return latest


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


@plain_dataclass(frozen=True)
class _Records:
    """One consumer's records as read: its subscription, receipts, and what was wrong with the rest."""

    consumer: str
    subscription: Subscription | None
    receipts: list[Receipt]
    problems: list[str]

    @property
    def seen(self) -> str | None:
        """The newest snapshot it consumed or counted as seen; None: nothing yet."""
        consumed = max((r.snapshot_id for r in self.receipts if r.outcome == "success"), default=None)
        start_after = self.subscription.start_after if self.subscription else None
        return max(filter(None, (consumed, start_after)), default=None)


def _records(
    consumer: str, found: dict[str, str], contents: dict[str, Any], dataset_uri: str, indexed_paths: set[str]
) -> _Records:
    problems: list[str] = []
    subscription: Subscription | None = None
    receipts: dict[tuple[str, str], Receipt] = {}
    indexed: list[Receipt] = []
    if not CONSUMER_NAME_PATTERN.fullmatch(consumer):
        problems.append(f"{consumer!r} is not a valid consumer name; its records are skipped")
        found = {}
    for below, path in sorted(found.items()):
        if below in indexed_paths:
            continue  # not read: the index's copy is added below
        parts = below.split("/")
        try:
            if below == SUBSCRIPTION_NAME:
                subscription = _read(Subscription, contents.get(path))
                record: Subscription | Receipt | LatestReceipts = subscription
            elif below == LATEST_RECEIPTS_NAME:
                record = _read(LatestReceipts, contents.get(path))
                indexed = [r for r in (record.last, record.last_success) if r is not None]
                for receipt in indexed:
                    if receipt.consumer != consumer or not same_dataset(receipt.dataset_uri, dataset_uri):
                        raise ValueError(
                            f"foreign: names consumer {receipt.consumer} of {receipt.dataset_uri}"
                        )
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
                receipts[(record.snapshot_id, record.run_key)] = record
        except ValueError as exc:
            if below == SUBSCRIPTION_NAME:
                subscription = None
            if below == LATEST_RECEIPTS_NAME:
                indexed = []
            problems.append(f"{below}: {exc}")
    for receipt in indexed:  # the index's receipts: copies of their files (not read), or files gone
        receipts.setdefault((receipt.snapshot_id, receipt.run_key), receipt)
    if SUBSCRIPTION_NAME not in found:
        problems.insert(0, "no subscription")
    return _Records(consumer, subscription, list(receipts.values()), problems)


def _consumer_row(
    records: _Records,
    committed: list[str],
    is_committed: Callable[[str], bool],
    now: datetime,
    readable: _Readable,
) -> ConsumerLag:
    problems = list(records.problems)
    receipts = []
    for receipt in records.receipts:
        if is_committed(receipt.snapshot_id):
            receipts.append(receipt)
        else:
            below = f"{RECEIPTS_DIR}/{receipt.snapshot_id}/{receipt.run_key}.json"
            problems.append(f"{below}: unknown snapshot {receipt.snapshot_id} (not committed)")
    subscription = records.subscription
    last = max(receipts, key=lambda r: (r.finished_at, r.snapshot_id), default=None)
    consumed = max((r.snapshot_id for r in receipts if r.outcome == "success"), default=None)
    seen = max(filter(None, (consumed, subscription.start_after if subscription else None)), default=None)
    # a corrupt or foreign snapshot is no lag: no consumer can read it
    pending = readable.only([snapshot_id for snapshot_id in committed if seen is None or snapshot_id > seen])
    newest = pending[-1] if pending else readable.newest(committed)
    lag = max(now - snapshot_time(pending[0]), timedelta(0)) if pending else timedelta(0)
    max_lag = subscription.max_lag if subscription else None
    return ConsumerLag(
        consumer=records.consumer,
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
