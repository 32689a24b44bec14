"""Who consumes the dataset and how far behind they are: subscriptions, receipts and lag.

A consumer records, in the lake, that it subscribes (:class:`Subscription`, written by its watcher) and
what each consumption did (:class:`Receipt`, one per run); :func:`consumer_lag` reads them back beside the
committed snapshots. On an object store every consumer owns one prefix, ``<bucket>/_consumers/<consumer>/``,
then the dataset's key: S3 grants only add, so records inside the producer's dataset prefix would be
writable by the producer, and one prefix per consumer is one grant for every dataset it reads. A dataset
on a disk keeps them in ``<dataset path>/_consumers/<consumer>/``.

Standard library, fsspec and pydantic only (no data stack): the Airflow triggerer and the producer's UI plugin
import it. The records are pydantic dataclasses: pydantic does their strict JSON validation.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from dataclasses import field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.dataclasses import dataclass

from housing_contracts.layout import SNAPSHOT_ID_PATTERN, committed_snapshot_ids, snapshot_time
from housing_contracts.storage import ensure_dir, is_local, resolve, write_atomic
from housing_contracts.tables import format_table

CONSUMERS_DIR = "_consumers"
SUBSCRIPTION_NAME = "subscription.json"
RECEIPTS_DIR = "receipts"
SUBSCRIPTION_FORMAT = "housing-contracts/subscription/1"
RECEIPT_FORMAT = "housing-contracts/receipt/1"
#: A consumer name is one safe path segment: no ``/``, no ``..``, no spaces or upper case.
CONSUMER_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
Outcome = Literal["success", "failed"]


def check_consumer_name(name: str) -> str:
    """``name`` if it is a safe consumer name, else ValueError naming it and the rule."""
    if not isinstance(name, str) or not CONSUMER_NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"consumer name {name!r} is not a safe path segment: expected 1-63 characters of a-z, 0-9, "
            f"'-' and '_', starting with a letter or digit ({CONSUMER_NAME_PATTERN.pattern})"
        )
    return name


def run_key(dag_id: str, run_id: str) -> str:
    """The receipt file name of one run: the same run always writes (and overwrites) the same receipt."""
    return hashlib.sha256(f"{dag_id}/{run_id}".encode()).hexdigest()[:16]


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


# --- where the records live ------------------------------------------------------------------------------


def _consumers_place(fs: Any, root: str) -> tuple[str, str]:
    """(the folder holding every consumer's records, the dataset's key below a consumer's folder)."""
    if is_local(fs):
        return f"{root}/{CONSUMERS_DIR}", ""
    bucket, _, key = root.partition("/")
    if not key:
        raise ValueError(f"dataset {root!r} has no key below its bucket: expected <bucket>/<dataset key>")
    return f"{bucket}/{CONSUMERS_DIR}", key


def _records_path(fs: Any, root: str, consumer: str) -> str:
    base, key = _consumers_place(fs, root)
    return posixpath.join(base, check_consumer_name(consumer), key).rstrip("/")


def consumer_uri(dataset_uri: str, consumer: str, *, storage_options: dict[str, Any] | None = None) -> str:
    """Where ``consumer``'s records of the dataset live: ``s3://<bucket>/_consumers/<consumer>/<key>``, or
    ``<dataset>/_consumers/<consumer>`` on a disk. ValueError for an unsafe consumer name."""
    check_consumer_name(consumer)
    fs, root = resolve(dataset_uri, storage_options)
    return fs.unstrip_protocol(_records_path(fs, root, consumer))


def _same_dataset(a: str, b: str) -> bool:
    """Whether two URIs name the same dataset (``file://`` and a plain path alike, trailing ``/`` ignored)."""

    def normal(uri: str) -> str:
        uri = uri.rstrip("/")
        return uri.removeprefix("file://") if uri.startswith("file://") else uri

    return normal(a) == normal(b)


# --- the records -----------------------------------------------------------------------------------------


def _from_seconds(value: Any) -> Any:
    """JSON carries a duration as a number of seconds (a bool is no number here)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return value
    try:
        return timedelta(seconds=value)
    except OverflowError:
        raise ValueError(f"{value} seconds is out of range") from None


ConsumerName = Annotated[str, AfterValidator(check_consumer_name)]
SnapshotId = Annotated[str, StringConstraints(pattern=SNAPSHOT_ID_PATTERN.pattern)]
#: A timezone-aware time, kept in UTC; ``datetime.isoformat()`` in JSON.
UtcTime = Annotated[
    AwareDatetime,
    AfterValidator(lambda time: time.astimezone(UTC)),
    PlainSerializer(datetime.isoformat, when_used="json"),
]
#: A duration; a number of seconds in JSON.
Duration = Annotated[timedelta, PlainSerializer(timedelta.total_seconds, when_used="json")]
Promise = Annotated[Duration, BeforeValidator(_from_seconds), Field(gt=timedelta(0))]

# Strict: a JSON string is no number, nor a number a time; unknown fields are refused. Durations travel
# under their JSON name (max_lag_seconds) but keep their Python name in the constructor.
_STRICT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, validate_by_name=True)


class _Record:
    """``to_dict()`` / ``from_dict()`` of a record dataclass: its JSON document, tagged ``format``."""

    FORMAT: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document: ``format`` first, durations in seconds, times in ISO 8601."""
        return {"format": self.FORMAT} | _adapter(type(self)).dump_python(self, mode="json", by_alias=True)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Parse :meth:`to_dict`'s document; ValueError names the missing, unknown or bad field."""
        kind = cls.__name__.lower()
        if not isinstance(data, dict):
            raise ValueError(f"{kind} must be a JSON object, got {type(data).__name__}")
        if data.get("format") != cls.FORMAT:
            raise ValueError(f"{kind}: field 'format': expected {cls.FORMAT!r}, got {data.get('format')!r}")
        try:
            # validated as JSON: times are ISO 8601 strings there, durations numbers of seconds
            document = json.dumps(
                {name: value for name, value in data.items() if name != "format"}, allow_nan=False
            )
            return _adapter(cls).validate_json(document, by_alias=True, by_name=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(_message(kind, exc)) from None


@cache
def _adapter(kind: type) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


def _message(kind: str, exc: Exception) -> str:
    """One line naming each bad field (pydantic's own text spans lines and links to its docs)."""
    if not isinstance(exc, ValidationError):
        return f"{kind} is not a JSON document: {exc}"
    problems = []
    for error in exc.errors(include_url=False):
        where = f"field {error['loc'][0]!r}: " if error["loc"] else ""
        if error["type"] == "value_error":  # raised by a check here: its message names the value
            problems.append(f"{where}{error['ctx']['error']}")
        elif error["type"] == "unexpected_keyword_argument":
            problems.append(f"{where}unknown field")
        elif error["type"] == "missing":
            problems.append(f"{where}missing")
        else:
            problems.append(f"{where}{error['msg']}, got {error['input']!r}")
    return f"{kind}: {'; '.join(problems)}"


@dataclass(frozen=True, config=_STRICT)
class Subscription(_Record):
    """A consumer's standing subscription to a dataset, written by its watcher each time it starts."""

    FORMAT: ClassVar[str] = SUBSCRIPTION_FORMAT

    consumer: Annotated[ConsumerName, Field(description="safe name of the consuming team, e.g. ml-team")]
    dataset_uri: Annotated[str, Field(description="the dataset subscribed to")]
    deployment: Annotated[str, Field(description="who subscribes, e.g. the consumer Airflow's URL")]
    max_lag: Annotated[
        Promise, Field(alias="max_lag_seconds", description="the lag behind the newest snapshot it accepts")
    ]
    start_at: Annotated[
        Literal["latest", "earliest", "new"], Field(description="first subscription: latest, earliest or new")
    ]
    start_after: Annotated[
        SnapshotId | None,
        Field(description="snapshots up to this id counted as seen at the first subscription"),
    ]
    subscribed_at: Annotated[UtcTime, Field(description="when the watcher last started (UTC)")]
    contract_version: Annotated[str, Field(description="the consumer's housing_contracts version")]
    renewed_at: Annotated[
        UtcTime | None, Field(description="when the watcher last renewed it (UTC); None: at subscribed_at")
    ] = None
    lease: Annotated[
        Promise | None,
        Field(
            alias="lease_seconds",
            description="the watcher renews it within this time while it runs; None: it never lapses",
        ),
    ] = None

    def live(self, now: datetime) -> bool:
        """Whether the watcher still renews it: renewed within its lease (always, without a lease)."""
        if self.lease is None:
            return True
        return (self.renewed_at or self.subscribed_at) + self.lease >= now


@dataclass(frozen=True, config=_STRICT)
class Receipt(_Record):
    """What one consuming run did with one snapshot: its outcome, times and what it produced."""

    FORMAT: ClassVar[str] = RECEIPT_FORMAT

    consumer: Annotated[ConsumerName, Field(description="safe name of the consuming team")]
    dataset_uri: Annotated[str, Field(description="the dataset the snapshot belongs to")]
    snapshot_id: Annotated[SnapshotId, Field(description="the snapshot consumed")]
    dag_id: Annotated[str, Field(description="the consuming DAG")]
    run_id: Annotated[str, Field(description="its run: one receipt per (dag_id, run_id)")]
    outcome: Annotated[Outcome, Field(description="success or failed")]
    reason: Annotated[str | None, Field(description="why it failed (required when failed)")]
    started_at: Annotated[UtcTime, Field(description="when the run started (UTC)")]
    finished_at: Annotated[UtcTime, Field(description="when the run finished (UTC)")]
    produced: Annotated[
        dict[str, JsonValue], Field(description="what the run produced, e.g. model version")
    ] = field(default_factory=dict)

    @model_validator(mode="after")
    def _failure_has_a_reason(self) -> Self:
        if self.outcome == "failed" and not self.reason:
            raise ValueError("field 'reason': required when the outcome is 'failed'")
        return self

    @property
    def run_key(self) -> str:
        """The file name (without ``.json``) this receipt is stored under."""
        return run_key(self.dag_id, self.run_id)


def _to_json(record: _Record) -> bytes:
    return (json.dumps(record.to_dict(), indent=2, allow_nan=False) + "\n").encode()


def subscribe(subscription: Subscription, *, storage_options: dict[str, Any] | None = None) -> str:
    """Write (or refresh) ``subscription.json`` in the consumer's prefix; returns its URI."""
    fs, root = resolve(subscription.dataset_uri, storage_options)
    folder = _records_path(fs, root, subscription.consumer)
    ensure_dir(fs, folder)
    path = f"{folder}/{SUBSCRIPTION_NAME}"
    write_atomic(fs, path, _to_json(subscription))
    return fs.unstrip_protocol(path)


def record_receipt(receipt: Receipt, *, storage_options: dict[str, Any] | None = None) -> str:
    """Write ``receipt`` under ``receipts/<snapshot_id>/<run key>.json``; returns its URI. The same run
    writes the same file again, so a repeated receipt replaces itself."""
    fs, root = resolve(receipt.dataset_uri, storage_options)
    folder = f"{_records_path(fs, root, receipt.consumer)}/{RECEIPTS_DIR}/{receipt.snapshot_id}"
    ensure_dir(fs, folder)
    path = f"{folder}/{receipt.run_key}.json"
    write_atomic(fs, path, _to_json(receipt))
    return fs.unstrip_protocol(path)


# --- lag -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, config=_STRICT)
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
        return _adapter(ConsumerLag).dump_python(self, mode="json", by_alias=True)

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
    named in the row's ``problems`` and skipped.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    fs, root = resolve(dataset_uri, storage_options)
    base, key = _consumers_place(fs, root)
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
    return [
        _consumer_row(consumer, found, contents, dataset_uri, committed, now)
        for consumer, found in sorted(files.items())
    ]


def _read(kind: type[Subscription] | type[Receipt], content: Any) -> Any:
    """Parse a record file's bytes; ValueError (with the reason) for anything unreadable."""
    if isinstance(content, BaseException):
        raise ValueError(f"unreadable: {content}")
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    return kind.from_dict(data)


def _consumer_row(
    consumer: str,
    found: dict[str, str],
    contents: dict[str, Any],
    dataset_uri: str,
    committed: list[str],
    now: datetime,
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
            if record.consumer != consumer or not _same_dataset(record.dataset_uri, dataset_uri):
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
    pending = [snapshot_id for snapshot_id in committed if seen is None or snapshot_id > seen]
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
        newest_snapshot_id=committed[-1] if committed else None,
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
