"""The Airflow side of the contract: the dataset's Asset and the trigger that subscribes to it.

The only module that imports Airflow (extra ``[airflow]``). The trigger runs in the triggerer's ack mode:
a snapshot joins the cursor in the asset state store only after its event was persisted, so a crash
re-delivers and never loses (the failure table is in the README).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import Asset, AssetWatcher, BaseHook
from airflow.triggers.base import BaseEventTrigger, TriggerEvent
from airflow.triggers.shared_stream import AdvanceItem, AdvanceOutcome, SharedStreamProducer

from housing_contracts.dataset import ASSET_NAME, DATASET_URI, dataset_uri
from housing_contracts.layout import committed_snapshot_ids, read_manifest, snapshot_time

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

log = logging.getLogger(__name__)

#: Seconds between two listings of the snapshot folder (the event latency goal is p95 at most 5 s).
DEFAULT_POLL_INTERVAL = 2.0
#: Name of the AssetWatcher that :func:`dataset_asset` attaches.
WATCHER_NAME = f"{ASSET_NAME}_snapshot_committed"
#: Acknowledged snapshots created this long before the newest acknowledged one collapse into a watermark,
#: which keeps the cursor small; a publish would have to take longer than this to be missed.
CURSOR_HORIZON = timedelta(days=7)

StartAt = Literal["latest", "earliest", "new"]
START_AT_CHOICES: tuple[StartAt, ...] = ("latest", "earliest", "new")


def _storage_options(conn: Any) -> dict[str, Any]:
    """s3fs ``storage_options`` from an Airflow ``aws`` connection object."""
    if conn.conn_type != "aws":
        raise ValueError(
            f"connection {conn.conn_id!r} has type {conn.conn_type!r}; expected an 'aws' connection "
            "(login/password = access key/secret, extra endpoint_url and region_name)"
        )
    options: dict[str, Any] = {}
    if conn.login:
        options["key"] = conn.login
    if conn.password:
        options["secret"] = conn.password
    extra = conn.extra_dejson
    client_kwargs = {name: extra[name] for name in ("endpoint_url", "region_name") if extra.get(name)}
    if client_kwargs:
        options["client_kwargs"] = client_kwargs
    return options


def storage_options_from_connection(conn_id: str) -> dict[str, Any]:
    """s3fs ``storage_options`` from the Airflow ``aws`` connection ``conn_id`` (for tasks)."""
    return _storage_options(BaseHook.get_connection(conn_id))


async def astorage_options_from_connection(conn_id: str) -> dict[str, Any]:
    """Async :func:`storage_options_from_connection`, for the triggerer's event loop."""
    return _storage_options(await BaseHook.aget_connection(conn_id))


def dataset_asset(
    *, watch: bool = False, conn_id: str | None = None, poll_interval: float = DEFAULT_POLL_INTERVAL
) -> Asset:
    """The dataset's Asset; with ``watch=True`` it carries the :class:`SnapshotCommittedTrigger` watcher.

    Nothing is looked up here (``conn_id`` is resolved in the triggerer), so DAG files parse offline.
    """
    if not watch:
        return Asset(name=ASSET_NAME, uri=DATASET_URI)
    trigger = SnapshotCommittedTrigger(asset_name=ASSET_NAME, conn_id=conn_id, poll_interval=poll_interval)
    return Asset(
        name=ASSET_NAME, uri=DATASET_URI, watchers=[AssetWatcher(name=WATCHER_NAME, trigger=trigger)]
    )


def manifests_from_events(events: Iterable[Any]) -> list[dict[str, Any]]:
    """The manifests carried by triggering asset events, one per ``snapshot_id``, oldest first.

    Batched and re-delivered events of one run are folded; events not sent by the trigger are ignored.
    """
    manifests: dict[str, dict[str, Any]] = {}
    for event in events:
        extra = event.extra if hasattr(event, "extra") else event
        if not isinstance(extra, Mapping) or not extra.get("from_trigger"):
            continue
        payload = extra.get("payload")
        if isinstance(payload, Mapping) and isinstance(payload.get("snapshot_id"), str):
            manifests.setdefault(payload["snapshot_id"], dict(payload))
    return [manifests[snapshot_id] for snapshot_id in sorted(manifests)]


@dataclass
class _Cursor:
    """The snapshot ids acknowledged so far; snapshots created before ``watermark`` count as acknowledged."""

    acked: set[str] = field(default_factory=set)
    watermark: datetime | None = None

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
        return {"version": 1, "watermark": watermark, "acked": sorted(self.acked)}

    @classmethod
    def from_json(cls, value: Any, *, key: str) -> _Cursor:
        try:
            if value["version"] != 1:
                raise ValueError(f"unknown version {value['version']!r}")
            watermark = datetime.fromisoformat(value["watermark"]) if value["watermark"] else None
            return cls(acked={str(snapshot_id) for snapshot_id in value["acked"]}, watermark=watermark)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(
                f"asset state store key {key!r} holds {value!r} ({exc}); expected a snapshot cursor "
                '{"version": 1, "watermark": ISO time or null, "acked": [snapshot_id, ...]} '
                "(delete the key to subscribe afresh)"
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
        self.uri = trigger.uri or dataset_uri()
        self.cursor_key = cursor_key(self.uri)
        self.cursor: _Cursor | None = None
        self.in_flight: set[str] = set()
        self._unreadable: set[str] = set()
        self._listing_failed = False

    async def _load_cursor(self, committed: set[str]) -> _Cursor:
        stored = await self.state_store.aget(self.cursor_key, default=None)
        if stored is not None:
            return _Cursor.from_json(stored, key=self.cursor_key)
        # First subscription: decide what counts as already seen, and write it down before firing so a
        # restart decides the same.
        start_at = self.trigger.start_at
        if start_at == "earliest":
            seen = set()
        elif start_at == "latest":
            seen = committed - set(sorted(committed)[-1:])
        else:
            seen = committed
        cursor = _Cursor()
        cursor.add(seen)
        await self.state_store.aset(self.cursor_key, cursor.to_json())
        log.info(
            "Subscribed to %s from %s: %d existing snapshot(s) count as seen", self.uri, start_at, len(seen)
        )
        return cursor

    async def _poll(self, fs: AbstractFileSystem, root: str) -> set[str] | None:
        try:
            committed = set(await asyncio.to_thread(committed_snapshot_ids, fs, root))
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
        return committed

    async def open_stream(self) -> AsyncIterator[tuple[dict[str, Any], str]]:
        from housing_contracts.storage import resolve

        # The connection is resolved here, in the triggerer at run time: never at DAG parse time.
        conn_id = self.trigger.conn_id
        options = await astorage_options_from_connection(conn_id) if conn_id else {}
        # A private instance: fsspec otherwise shares instances, and their cached listings, process-wide.
        options |= {**(self.trigger.storage_options or {}), "skip_instance_cache": True}
        fs, root = await asyncio.to_thread(resolve, self.uri, options)
        while True:
            committed = await self._poll(fs, root)
            if committed is not None:
                if self.cursor is None:
                    self.cursor = await self._load_cursor(committed)
                for snapshot_id in sorted(committed):
                    if snapshot_id in self.cursor or snapshot_id in self.in_flight:
                        continue
                    try:
                        manifest = (await asyncio.to_thread(read_manifest, fs, root, snapshot_id)).to_dict()
                    except Exception as exc:
                        if snapshot_id not in self._unreadable:
                            log.warning(
                                "Skipping snapshot %s until its manifest is readable: %s", snapshot_id, exc
                            )
                        self._unreadable.add(snapshot_id)
                        continue
                    self.in_flight.add(snapshot_id)
                    yield manifest, snapshot_id
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

    :param uri: the dataset location to poll; None = :func:`~housing_contracts.dataset.dataset_uri` in the
        triggerer (``$HOUSING_DATASET_URI`` or ``DATASET_URI``).
    :param asset_name: the watched Asset, whose state store keeps the cursor.
    :param conn_id: an Airflow ``aws`` connection with the S3 keys and endpoint, looked up in the triggerer.
    :param storage_options: fsspec options, applied over the connection's.
    :param poll_interval: seconds between two listings.
    :param start_at: on the first subscription (no cursor yet): ``"latest"`` fires the newest existing
        snapshot, ``"earliest"`` every existing one, ``"new"`` none; later ones always fire.
    """

    def __init__(
        self,
        *,
        uri: str | None = None,
        asset_name: str = ASSET_NAME,
        conn_id: str | None = None,
        storage_options: dict[str, Any] | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        start_at: StartAt = "latest",
    ) -> None:
        super().__init__()
        if not poll_interval > 0:
            raise ValueError(f"poll_interval must be a positive number of seconds, got {poll_interval!r}")
        if start_at not in START_AT_CHOICES:
            raise ValueError(f"start_at must be one of {START_AT_CHOICES}, got {start_at!r}")
        self.uri = uri
        self.asset_name = asset_name
        self.conn_id = conn_id
        self.storage_options = storage_options
        self.poll_interval = float(poll_interval)
        self.start_at = start_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        classpath = f"{type(self).__module__}.{type(self).__qualname__}"
        kwargs = ("uri", "asset_name", "conn_id", "storage_options", "poll_interval", "start_at")
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
