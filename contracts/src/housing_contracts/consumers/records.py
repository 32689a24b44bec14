"""A consumer's records in the lake: that it subscribes (:class:`Subscription`, written by its watcher) and
what each consumption did (:class:`Receipt`, one per run); :mod:`housing_contracts.consumers.lag` reads
them back. On an object store every consumer owns one prefix, ``<bucket>/_consumers/<consumer>/``, then the
dataset's key: S3 grants only add, so records inside the producer's dataset prefix would be writable by the
producer, and one prefix per consumer is one grant for every dataset it reads. A dataset on a disk keeps
them in ``<dataset path>/_consumers/<consumer>/``.

Standard library, fsspec and pydantic only (no data stack): the Airflow triggerer and the producer's UI
plugin import it.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from dataclasses import field
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import AfterValidator, Field, JsonValue, model_validator
from pydantic.dataclasses import dataclass

from housing_contracts.lake.documents import (
    STRICT,
    Promise,
    Record,
    SnapshotId,
    UtcTime,
    read_document,
    write_document,
)
from housing_contracts.lake.storage import ensure_dir, is_local, resolve

CONSUMERS_DIR = "_consumers"
SUBSCRIPTION_NAME = "subscription.json"
RECEIPTS_DIR = "receipts"
#: The consumer's newest receipts, rewritten with each receipt: where a lag reader starts listing receipts.
LATEST_RECEIPTS_NAME = "latest-receipts.json"
LATEST_RECEIPTS_FORMAT = "housing-contracts/latest-receipts/1"
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


# --- where the records live ------------------------------------------------------------------------------


def consumers_place(fs: Any, root: str) -> tuple[str, str]:
    """(the folder holding every consumer's records, the dataset's key below a consumer's folder)."""
    if is_local(fs):
        return f"{root}/{CONSUMERS_DIR}", ""
    bucket, _, key = root.partition("/")
    if not key:
        raise ValueError(f"dataset {root!r} has no key below its bucket: expected <bucket>/<dataset key>")
    return f"{bucket}/{CONSUMERS_DIR}", key


def _records_path(fs: Any, root: str, consumer: str) -> str:
    base, key = consumers_place(fs, root)
    return posixpath.join(base, check_consumer_name(consumer), key).rstrip("/")


def consumer_uri(dataset_uri: str, consumer: str, *, storage_options: dict[str, Any] | None = None) -> str:
    """Where ``consumer``'s records of the dataset live: ``s3://<bucket>/_consumers/<consumer>/<key>``, or
    ``<dataset>/_consumers/<consumer>`` on a disk. ValueError for an unsafe consumer name."""
    check_consumer_name(consumer)
    fs, root = resolve(dataset_uri, storage_options)
    return fs.unstrip_protocol(_records_path(fs, root, consumer))


def same_dataset(a: str, b: str) -> bool:
    """Whether two URIs name the same dataset (``file://`` and a plain path alike, trailing ``/`` ignored)."""

    def normal(uri: str) -> str:
        uri = uri.rstrip("/")
        return uri.removeprefix("file://") if uri.startswith("file://") else uri

    return normal(a) == normal(b)


ConsumerName = Annotated[str, AfterValidator(check_consumer_name)]


# --- the records -----------------------------------------------------------------------------------------


@dataclass(frozen=True, config=STRICT)
class Subscription(Record):
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


@dataclass(frozen=True, config=STRICT)
class Receipt(Record):
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


@dataclass(frozen=True, config=STRICT)
class LatestReceipts(Record):
    """A consumer's newest receipts of a dataset, rewritten by :func:`record_receipt` after each receipt.

    An index, not the record: the receipts stay the truth. A lag reader lists the receipts from
    ``last_success``'s snapshot on (and reads those the index does not hold: its two receipts are copies
    of their files, written after them), so a lost update (two runs writing at once) or a
    missing index (receipts written before it existed) costs listing, never a wrong lag.
    """

    FORMAT: ClassVar[str] = LATEST_RECEIPTS_FORMAT

    consumer: Annotated[ConsumerName, Field(description="safe name of the consuming team")]
    dataset_uri: Annotated[str, Field(description="the dataset the receipts are about")]
    last: Annotated[Receipt, Field(description="the newest receipt by finished_at (then snapshot id)")]
    last_success: Annotated[
        Receipt | None, Field(description="the success receipt of the newest snapshot; None: no success yet")
    ]


def _newest(*receipts: Receipt | None) -> Receipt | None:
    return max(filter(None, receipts), key=lambda r: (r.finished_at, r.snapshot_id), default=None)


def updated_latest(latest: LatestReceipts | None, receipt: Receipt) -> LatestReceipts:
    """``latest`` after ``receipt`` was written (a run writing its receipt again replaces its old one)."""

    def other(previous: Receipt | None) -> Receipt | None:
        same_run = previous is not None and (previous.snapshot_id, previous.run_key) == (
            receipt.snapshot_id,
            receipt.run_key,
        )
        return None if same_run else previous

    last = _newest(other(latest.last) if latest else None, receipt)
    successes = [other(latest.last_success) if latest else None]
    successes.append(receipt if receipt.outcome == "success" else None)
    last_success = max(filter(None, successes), key=lambda r: (r.snapshot_id, r.finished_at), default=None)
    assert last is not None
    return LatestReceipts(receipt.consumer, receipt.dataset_uri, last, last_success)


def subscribe(subscription: Subscription, *, storage_options: dict[str, Any] | None = None) -> str:
    """Write (or refresh) ``subscription.json`` in the consumer's prefix; returns its URI."""
    fs, root = resolve(subscription.dataset_uri, storage_options)
    folder = _records_path(fs, root, subscription.consumer)
    ensure_dir(fs, folder)
    path = f"{folder}/{SUBSCRIPTION_NAME}"
    write_document(fs, path, subscription)
    return fs.unstrip_protocol(path)


def read_subscription(
    dataset_uri: str, consumer: str, *, storage_options: dict[str, Any] | None = None
) -> Subscription | None:
    """``consumer``'s subscription to the dataset at ``dataset_uri``, or None before its watcher first
    wrote one. A malformed one raises ValueError naming the file."""
    fs, root = resolve(dataset_uri, storage_options)
    return read_document(fs, f"{_records_path(fs, root, consumer)}/{SUBSCRIPTION_NAME}", Subscription)


def record_receipt(receipt: Receipt, *, storage_options: dict[str, Any] | None = None) -> str:
    """Write ``receipt`` under ``receipts/<snapshot_id>/<run key>.json``, then the consumer's
    :class:`LatestReceipts` (``latest-receipts.json``); returns the receipt's URI. The same run writes the
    same file again, so a repeated receipt replaces itself."""
    fs, root = resolve(receipt.dataset_uri, storage_options)
    records = _records_path(fs, root, receipt.consumer)
    folder = f"{records}/{RECEIPTS_DIR}/{receipt.snapshot_id}"
    ensure_dir(fs, folder)
    path = f"{folder}/{receipt.run_key}.json"
    write_document(fs, path, receipt)
    latest_path = f"{records}/{LATEST_RECEIPTS_NAME}"
    try:
        latest = read_document(fs, latest_path, LatestReceipts)
    except ValueError:
        latest = None  # unreadable: rewritten from this receipt; readers list from the start meanwhile
    write_document(fs, latest_path, updated_latest(latest, receipt))
    return fs.unstrip_protocol(path)
