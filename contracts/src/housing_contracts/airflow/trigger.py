"""The trigger that subscribes to the dataset: one event per committed snapshot; with a consumer, the
watcher also writes and renews the consumer's subscription in the lake.

The trigger runs in the triggerer's ack mode:
a snapshot joins the cursor in the asset state store only after its event was persisted, so a crash
re-delivers and never loses (the failure table is in the README).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from airflow.triggers.shared_stream import AdvanceItem, AdvanceOutcome, SharedStreamProducer

from housing_contracts.airflow.connections import astorage_options_from_connection
from housing_contracts.consumers.records import Subscription, check_consumer_name, subscribe
from housing_contracts.contract.versions import LATEST, contract_by_asset, contract_for
from housing_contracts.lake.catalog import other_major
from housing_contracts.lake.layout import (
    SNAPSHOT_ID_PATTERN,
    committed_snapshot_ids,
    id_floor,
    snapshot_time,
)
from housing_contracts.lake.manifest import read_manifest

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

log = logging.getLogger(__name__)

#: Seconds between two listings of the snapshot folder: one LIST a second keeps the event latency near 2 s.
DEFAULT_POLL_INTERVAL = 1.0
#: How far before the newest snapshot it has seen each poll lists again. A snapshot's id is its creation
#: time, taken when its publish starts, and the manifest lands when the publish ends: a poll lists the keys
#: sorting after (newest seen - look-back), so a publish shorter than the look-back is seen by the next poll.
#: An hour is well above the longest publish measured (10M rows: minutes), and with hourly snapshots a poll
#: lists one or two snapshot folders: one LIST request, whatever the history.
DEFAULT_LOOKBACK_SECONDS = 3600.0
#: Seconds between two sweeps: a listing from the cursor's watermark (the last :data:`CURSOR_HORIZON`, not
#: the whole history) that finds a snapshot whose publish took longer than the look-back; the first poll of
#: every watcher start is one, so nothing committed while it was down is missed.
DEFAULT_SWEEP_SECONDS = 600.0
#: Seconds between two renewals of a consumer's subscription while its watcher runs.
DEFAULT_RENEW_SECONDS = 300.0
#: A subscription not renewed for this many renewal intervals has lapsed: its watcher stopped.
LEASE_RENEWALS = 3


#: Acknowledged snapshots created this long before the newest acknowledged one collapse into a watermark,
#: which keeps the cursor small; a publish would have to take longer than this to be missed.
CURSOR_HORIZON = timedelta(days=7)

StartAt = Literal["latest", "earliest", "new"]
START_AT_CHOICES: tuple[StartAt, ...] = ("latest", "earliest", "new")


#: Version 2 adds ``start_after``; version 1 cursors are still read (and rewritten as version 2).
CURSOR_VERSION = 2


@dataclass
class _Cursor:
    """The snapshot ids acknowledged so far; snapshots created before ``watermark`` count as acknowledged.

    ``start_after``: the newest snapshot counted as seen on the first subscription (None: none was), which
    every subscription the watcher writes repeats.
    """

    acked: set[str] = field(default_factory=set)
    watermark: datetime | None = None
    start_after: str | None = None

    def __contains__(self, snapshot_id: str) -> bool:
        return snapshot_id in self.acked or (
            self.watermark is not None and snapshot_time(snapshot_id) < self.watermark
        )

    def add(self, snapshot_ids: Iterable[str]) -> None:
        """Acknowledge ``snapshot_ids``; fold the ones beyond :data:`CURSOR_HORIZON` into the watermark."""
        self.acked.update(snapshot_ids)
        if not self.acked:
            return
        floor = max(map(snapshot_time, self.acked)) - CURSOR_HORIZON
        self.watermark = floor if self.watermark is None else max(self.watermark, floor)
        self.acked = {
            snapshot_id for snapshot_id in self.acked if snapshot_time(snapshot_id) >= self.watermark
        }

    def to_json(self) -> dict[str, Any]:
        watermark = self.watermark.isoformat() if self.watermark is not None else None
        return {
            "version": CURSOR_VERSION,
            "watermark": watermark,
            "acked": sorted(self.acked),
            "start_after": self.start_after,
        }

    @classmethod
    def from_json(cls, value: Any, *, key: str) -> _Cursor:
        """Read a version 2 or version 1 cursor; a version 1 cursor predates subscriptions, so everything
        it acknowledged counts as seen before the first one (``start_after`` = its newest snapshot)."""
        try:
            if value["version"] not in (1, CURSOR_VERSION):
                raise ValueError(f"unknown version {value['version']!r}")
            watermark = datetime.fromisoformat(value["watermark"]) if value["watermark"] else None
            acked = {str(snapshot_id) for snapshot_id in value["acked"]}
            start_after = (
                value["start_after"] if value["version"] == CURSOR_VERSION else max(acked, default=None)
            )
            if start_after is not None and not SNAPSHOT_ID_PATTERN.fullmatch(start_after):
                raise ValueError(f"start_after {start_after!r} is not a snapshot id")
            return cls(acked=acked, watermark=watermark, start_after=start_after)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"asset state store key {key!r} holds {value!r} ({exc}); expected a snapshot cursor "
                f'{{"version": {CURSOR_VERSION}, "watermark": ISO time or null, "acked": [snapshot_id, ...], '
                '"start_after": snapshot_id or null} (delete the key to subscribe afresh)'
            ) from None


def cursor_key(uri: str) -> str:
    """The asset state store key of the cursor of ``uri``; deleting it means a first subscription again."""
    return f"snapshot_cursor:{uri.rstrip('/')}"


class SnapshotStream(SharedStreamProducer):
    """The broker side of :class:`SnapshotCommittedTrigger`: yields ``(manifest, snapshot_id)`` for every
    committed snapshot neither in the cursor nor in flight; ``advance`` acknowledges the persisted ones."""

    def __init__(self, trigger: SnapshotCommittedTrigger, state_store: Any) -> None:
        self.trigger = trigger
        #: Anything with ``aget(key, default)`` / ``aset(key, value)``: the asset state store accessor.
        self.state_store = state_store
        # an Asset of its own (a bench's, a test's) names no contract: its URI does, else the newest major
        by_uri = contract_for(trigger.uri) if trigger.uri else None
        #: The major this watcher's asset names, if it names one: a manifest of another is not fired.
        self.expected = contract_by_asset(trigger.asset_name) or by_uri
        self.contract = self.expected or LATEST
        self.uri = trigger.uri or self.contract.dataset_uri()
        self.cursor_key = cursor_key(self.uri)
        self.cursor: _Cursor | None = None
        self.in_flight: set[str] = set()
        self._unreadable: set[str] = set()
        #: Snapshots whose manifest belongs to another contract or major: skipped without reading again.
        self._foreign: set[str] = set()
        self._listing_failed = False
        #: Whether this watcher start still has to write the consumer's subscription.
        self._subscription_due = trigger.consumer is not None
        self._subscription_failed = False
        #: When the subscription was last written (monotonic seconds), for its renewals.
        self._subscribed_at: float | None = None
        #: When the last sweep listed from the watermark (monotonic seconds); None: none yet on this start.
        self._swept_at: float | None = None
        #: Polls made and the filesystem they list (set when the stream opens): for counting requests.
        self.polls = 0
        self.fs: AbstractFileSystem | None = None

    async def _load_cursor(self, committed: set[str]) -> _Cursor:
        stored = await self.state_store.aget(self.cursor_key, default=None)
        if stored is not None:
            cursor = _Cursor.from_json(stored, key=self.cursor_key)
            if stored.get("version") != CURSOR_VERSION:
                # Fix start_after now, so every later start repeats the same one.
                await self.state_store.aset(self.cursor_key, cursor.to_json())
            return cursor
        # First subscription: decide what counts as already seen, and write it down before firing so a
        # restart decides the same.
        start_at = self.trigger.start_at
        if start_at == "earliest":
            seen = set()
        elif start_at == "latest":
            seen = committed - set(sorted(committed)[-1:])
        else:
            seen = committed
        cursor = _Cursor(start_after=max(seen, default=None))
        cursor.add(seen)
        await self.state_store.aset(self.cursor_key, cursor.to_json())
        log.info(
            "Subscribed to %s from %s: %d existing snapshot(s) count as seen", self.uri, start_at, len(seen)
        )
        return cursor

    def _window_start(self) -> str | None:
        """The id prefix a windowed poll lists from: the look-back before the newest snapshot seen (acked,
        in flight or counted as seen at subscription); None when nothing is seen yet (all is listed)."""
        cursor = self.cursor
        if cursor is None:
            return None
        seen = cursor.acked | self.in_flight | ({cursor.start_after} if cursor.start_after else set())
        if not seen:
            return self._sweep_start()
        lookback = timedelta(seconds=self.trigger.lookback_seconds)
        return id_floor(snapshot_time(max(seen)) - lookback)

    def _sweep_start(self) -> str | None:
        """Where a sweep lists from: the watermark (older snapshots count as acknowledged anyway)."""
        cursor = self.cursor
        return id_floor(cursor.watermark) if cursor is not None and cursor.watermark is not None else None

    async def _poll(self, fs: AbstractFileSystem, root: str) -> tuple[set[str], str | None] | None:
        """(committed snapshot ids listed by this poll, the window start if this poll was a sweep)."""
        sweep = (
            self.cursor is None
            or self._swept_at is None
            or time.monotonic() - self._swept_at >= self.trigger.sweep_seconds
        )
        since = self._sweep_start() if sweep else self._window_start()
        window = self._window_start() if sweep else None
        self.polls += 1
        try:
            committed = set(await asyncio.to_thread(committed_snapshot_ids, fs, root, since=since))
        except Exception:
            # A transient outage of the object store must not kill the subscription; log once per outage.
            if not self._listing_failed:
                log.exception(
                    "Listing snapshots under %s failed; retrying every %ss",
                    self.uri,
                    self.trigger.poll_interval,
                )
            self._listing_failed = True
            return None
        if self._listing_failed:
            log.info("Listing snapshots under %s works again", self.uri)
        self._listing_failed = False
        if sweep:
            self._swept_at = time.monotonic()
        return committed, window

    async def _subscribe(self, options: dict[str, Any], started_at: datetime) -> None:
        """Write the consumer's subscription; a failure is logged once and retried on the next poll."""
        trigger, cursor = self.trigger, self.cursor
        assert cursor is not None and trigger.consumer is not None and trigger.max_lag_seconds is not None
        try:
            subscription = Subscription(
                consumer=trigger.consumer,
                dataset_uri=self.uri,
                deployment=_deployment(),
                max_lag=timedelta(seconds=trigger.max_lag_seconds),
                start_at=trigger.start_at,
                start_after=cursor.start_after,
                subscribed_at=started_at,
                contract_version=self.contract.version,
                renewed_at=datetime.now(UTC),
                lease=timedelta(seconds=trigger.renew_seconds * LEASE_RENEWALS),
            )
            written = await asyncio.to_thread(subscribe, subscription, storage_options=options)
        except Exception:
            # The subscription is bookkeeping for the producer: never let it stop the events.
            if not self._subscription_failed:
                log.exception(
                    "Writing the subscription of %s to %s failed; retrying every %ss",
                    trigger.consumer,
                    self.uri,
                    trigger.poll_interval,
                )
            self._subscription_failed = True
            return
        first = self._subscribed_at is None
        self._subscription_due = False
        self._subscription_failed = False
        self._subscribed_at = time.monotonic()
        if first:
            log.info("Subscription of %s written: %s", trigger.consumer, written)

    async def open_stream(self) -> AsyncIterator[tuple[dict[str, Any], str]]:
        from housing_contracts.lake.storage import resolve

        # The connection is resolved here, in the triggerer at run time: never at DAG parse time.
        conn_id = self.trigger.conn_id
        options = await astorage_options_from_connection(conn_id) if conn_id else {}
        # A private instance: fsspec otherwise shares instances, and their cached listings, process-wide.
        options |= {**(self.trigger.storage_options or {}), "skip_instance_cache": True}
        fs, root = await asyncio.to_thread(resolve, self.uri, options)
        self.fs = fs
        started_at = datetime.now(UTC)
        while True:
            polled = await self._poll(fs, root)
            if polled is not None:
                committed, window = polled
                if self.cursor is None:
                    self.cursor = await self._load_cursor(committed)
                renewal_due = (
                    self._subscribed_at is not None
                    and time.monotonic() - self._subscribed_at >= self.trigger.renew_seconds
                )
                if self._subscription_due or renewal_due:
                    await self._subscribe(options, started_at)
                for snapshot_id in sorted(committed):
                    if (
                        snapshot_id in self.cursor
                        or snapshot_id in self.in_flight
                        or snapshot_id in self._foreign
                    ):
                        continue
                    if window is not None and snapshot_id < window and snapshot_id not in self._unreadable:
                        log.warning(
                            "Snapshot %s was committed outside the look-back window (it lists from %s, "
                            "%ss before the newest snapshot seen): found by the sweep of every %ss, firing "
                            "it now. A publish this slow is seen late; raise lookback_seconds above it",
                            snapshot_id,
                            window,
                            self.trigger.lookback_seconds,
                            self.trigger.sweep_seconds,
                        )
                    try:
                        manifest = await asyncio.to_thread(read_manifest, fs, root, snapshot_id)
                    except Exception as exc:
                        if snapshot_id not in self._unreadable:
                            log.warning(
                                "Skipping snapshot %s until its manifest is readable: %s", snapshot_id, exc
                            )
                        self._unreadable.add(snapshot_id)
                        continue
                    mismatch = other_major(manifest, self.expected) if self.expected is not None else None
                    if mismatch is not None:
                        log.warning(
                            "Skipping snapshot %s of %s: its manifest was %s", snapshot_id, self.uri, mismatch
                        )
                        self._foreign.add(snapshot_id)
                        continue
                    self.in_flight.add(snapshot_id)
                    yield manifest.to_dict(), snapshot_id
            await asyncio.sleep(self.trigger.poll_interval)

    async def advance(self, batch: Sequence[AdvanceItem]) -> None:
        acked = []
        for item in batch:
            self.in_flight.discard(item.broker_payload)
            if item.outcome.is_clean:
                acked.append(item.broker_payload)
            else:
                # Not persisted (or nobody subscribed): leave it out of the cursor, the next poll re-delivers.
                log.warning(
                    "Snapshot %s was not persisted (%s); re-delivering", item.broker_payload, item.outcome
                )
        if acked and self.cursor is not None:
            self.cursor.add(acked)
            await self.state_store.aset(self.cursor_key, self.cursor.to_json())


class SnapshotCommittedTrigger(BaseEventTrigger):
    """Fires one event per newly committed snapshot of the dataset, with the manifest as payload.

    :param uri: the dataset location to poll; None = ``Contract.dataset_uri()`` of the contract whose Asset
        is ``asset_name``, in the triggerer (its sibling under ``$HOUSING_DATASET_URI``, or its URI).
    :param asset_name: the watched Asset, whose state store keeps the cursor (default: the newest live
        major's).
    :param conn_id: an Airflow ``aws`` connection with the S3 keys and endpoint, looked up in the triggerer.
    :param storage_options: fsspec options, applied over the connection's.
    :param poll_interval: seconds between two listings.
    :param start_at: on the first subscription (no cursor yet): ``"latest"`` fires the newest existing
        snapshot, ``"earliest"`` every existing one, ``"new"`` none; later ones always fire.
    :param consumer: the consumer's safe name; with it, each start of the watcher writes its
        :class:`~housing_contracts.consumers.records.Subscription` with the same storage options.
    :param max_lag_seconds: the lag the consumer commits to (required with ``consumer``).
    :param renew_seconds: how often the running watcher renews the subscription; it lapses after
        ``LEASE_RENEWALS`` intervals without renewal.
    :param lookback_seconds: each poll lists the snapshots created at most this long before the newest
        one seen (:data:`DEFAULT_LOOKBACK_SECONDS`); a publish taking longer is found by the next sweep.
    :param sweep_seconds: how often a poll lists from the cursor's watermark instead
        (:data:`DEFAULT_SWEEP_SECONDS`); the first poll of each start always does.
    """

    def __init__(
        self,
        *,
        uri: str | None = None,
        asset_name: str = LATEST.asset_name,
        conn_id: str | None = None,
        storage_options: dict[str, Any] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        start_at: StartAt = "latest",
        consumer: str | None = None,
        max_lag_seconds: float | None = None,
        renew_seconds: float = DEFAULT_RENEW_SECONDS,
        lookback_seconds: float = DEFAULT_LOOKBACK_SECONDS,
        sweep_seconds: float = DEFAULT_SWEEP_SECONDS,
    ) -> None:
        super().__init__()
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        if not renew_seconds > 0:
            raise ValueError(f"renew_every must be a positive duration, got {renew_seconds!r} seconds")
        for name, value in (("lookback_seconds", lookback_seconds), ("sweep_seconds", sweep_seconds)):
            if isinstance(value, bool) or not (isinstance(value, int | float) and value >= 0):
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
        if start_at not in START_AT_CHOICES:
            raise ValueError(f"start_at must be one of {START_AT_CHOICES}, got {start_at!r}")
        if (consumer is None) != (max_lag_seconds is None):
            raise ValueError(
                "consumer and max_lag go together: a subscription states the lag its consumer accepts, "
                f"got consumer={consumer!r}, max_lag_seconds={max_lag_seconds!r}"
            )
        if consumer is not None:
            check_consumer_name(consumer)
            if isinstance(max_lag_seconds, bool) or not (
                isinstance(max_lag_seconds, int | float) and max_lag_seconds > 0
            ):
                raise ValueError(f"max_lag must be a positive duration, got {max_lag_seconds!r} seconds")
        self.uri = uri
        self.asset_name = asset_name
        self.conn_id = conn_id
        self.storage_options = storage_options
        self.poll_interval = float(poll_interval)
        self.start_at = start_at
        self.consumer = consumer
        self.max_lag_seconds = float(max_lag_seconds) if max_lag_seconds is not None else None
        self.renew_seconds = float(renew_seconds)
        self.lookback_seconds = float(lookback_seconds)
        self.sweep_seconds = float(sweep_seconds)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        classpath = f"{type(self).__module__}.{type(self).__qualname__}"
        kwargs = (
            "uri",
            "asset_name",
            "conn_id",
            "storage_options",
            "poll_interval",
            "start_at",
            "consumer",
            "max_lag_seconds",
            "renew_seconds",
            "lookback_seconds",
            "sweep_seconds",
        )
        return classpath, {name: getattr(self, name) for name in kwargs}

    def shared_stream_key(self) -> Hashable:
        # Every kwarg shapes the stream, and the triggerer builds the stream from one subscriber's kwargs:
        # only identical triggers may share it.
        classpath, kwargs = self.serialize()
        return (classpath, json.dumps(kwargs, sort_keys=True))

    @classmethod
    def create_shared_stream_producer(cls, kwargs: dict[str, Any]) -> SnapshotStream:
        # Ack mode: the triggerer calls SnapshotStream.advance only once the events are persisted.
        from airflow.sdk.execution_time.context import AssetStateStoreAccessor

        trigger = cls(**kwargs)
        # The same accessor the triggerer injects as ``asset_state_store`` for a watcher of this asset.
        return SnapshotStream(trigger, AssetStateStoreAccessor(name=trigger.asset_name))

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        # Yield before pulling the next raw event: that binds the event to its snapshot's ack.
        async for manifest in shared_stream:
            yield TriggerEvent(manifest)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Fallback when the triggerer does not run shared streams: at-most-once across crashes."""
        stream = type(self).create_shared_stream_producer(self.serialize()[1])
        if self.asset_state_store is not None:
            stream.state_store = self.asset_state_store
        try:
            async for manifest, snapshot_id in stream.open_stream():
                yield TriggerEvent(manifest)
                await stream.advance([AdvanceItem(snapshot_id, AdvanceOutcome(acked=1, failed=0))])
        finally:
            await stream.aclose()


def _deployment() -> str:
    """Who subscribes: this Airflow's ``[api] base_url``, else the host name."""
    try:
        from airflow.configuration import conf

        base_url = conf.get("api", "base_url", fallback=None)
    except Exception:  # a triggerer without airflow-core configuration: the host still names it
        base_url = None
    return base_url or socket.gethostname()
