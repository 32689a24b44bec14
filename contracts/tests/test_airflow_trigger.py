"""SnapshotCommittedTrigger against a real object store and Airflow's real asset state store.

The triggerer is reduced to its shared-stream loop (``TriggerRunner.run_trigger`` around Airflow's own
``SharedStreamManager``): "persisting" an event appends it to a list standing for the metadata DB's asset
events, and the persist confirmation goes back to the stream the way the supervisor sends it. The cursor
lives in Airflow's asset state store end to end (accessor, request handlers, Execution API, metadata DB in
a temporary SQLite file); only the socket between the trigger runner and its supervisor is replaced by a
direct call. Restarts are new trigger and manager instances over the same DB.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import socket
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fsspec
import pytest
from airflow.sdk.execution_time.context import AssetStateStoreAccessor
from airflow.triggers.shared_stream import AdvanceItem, AdvanceOutcome, SharedStreamManager

from housing_contracts import V1, V2, publish
from housing_contracts.airflow.asset import manifests_from_events
from housing_contracts.airflow.trigger import (
    DEFAULT_RENEW_SECONDS,
    LEASE_RENEWALS,
    SnapshotCommittedTrigger,
    SnapshotStream,
    cursor_key,
)
from housing_contracts.consumers.records import SUBSCRIPTION_NAME, Subscription, consumer_uri
from housing_contracts.contract.conversion import convert
from housing_contracts.contract.versions import ASSET_NAME, CONTRACT_VERSION, DATASET_URI
from housing_contracts.lake.layout import snapshot_time
from housing_contracts.lake.manifest import MANIFEST_NAME
from housing_contracts.testing import S3Requests, sample_frame, synthetic_history

POLL = 0.1
#: Upper bound for anything the tests wait for; a guard against hangs, not a measurement.
WAIT = 60.0
TRIGGER_ID = 1


# --- fixtures -------------------------------------------------------------------------------------------


def _configure_orm() -> None:
    from airflow import settings

    settings.configure_vars()
    settings.configure_orm()


@pytest.fixture(scope="module")
def metadata_db(tmp_path_factory: pytest.TempPathFactory):
    """A temporary SQLite Airflow metadata DB holding the dataset Asset, active (as a watched asset is)."""
    from airflow import settings
    from airflow.models.asset import AssetActive, AssetModel
    from airflow.utils.db import initdb
    from airflow.utils.session import create_session

    url = f"sqlite:///{tmp_path_factory.mktemp('airflow-db') / 'airflow.db'}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", url)
        env.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", raising=False)
        _configure_orm()
        initdb()
        with create_session() as session:
            asset = AssetModel(name=ASSET_NAME, uri=DATASET_URI)
            session.add(asset)
            session.flush()
            session.add(AssetActive.for_asset(asset))
        yield url
        settings.dispose_orm()
    _configure_orm()


class InProcessSupervisor:
    """Answers the trigger runner's asset state store messages as the triggerer's supervisor does.

    Same request handlers, same in-process Execution API client, same metadata DB; no socket.
    """

    def __init__(self) -> None:
        from airflow.api_fastapi.execution_api.app import InProcessExecutionAPI
        from airflow.sdk.api.client import Client

        self.client = Client(
            base_url=None, token="", dry_run=True, transport=InProcessExecutionAPI().transport
        )
        self.client.base_url = "http://in-process.invalid./"

    def send(self, msg: Any) -> Any:
        from airflow.sdk.execution_time import request_handlers
        from airflow.sdk.execution_time.comms import (
            GetAssetStateStoreByName,
            OKResponse,
            SetAssetStateStoreByName,
        )

        if isinstance(msg, GetAssetStateStoreByName):
            return request_handlers.handle_get_asset_state_store_by_name(self.client, msg)[0]
        if isinstance(msg, SetAssetStateStoreByName):
            request_handlers.handle_set_asset_state_store_by_name(self.client, msg)
            return OKResponse(ok=True)
        raise NotImplementedError(f"the test supervisor does not answer {type(msg).__name__}")

    async def asend(self, msg: Any) -> Any:
        # The real supervisor answers in another process; keep the DB work off the event loop likewise.
        return await asyncio.to_thread(self.send, msg)


@pytest.fixture(scope="module")
def supervisor(metadata_db: str) -> InProcessSupervisor:
    return InProcessSupervisor()


@pytest.fixture
def state_store(supervisor: InProcessSupervisor, monkeypatch: pytest.MonkeyPatch) -> AssetStateStoreAccessor:
    """The dataset Asset's state store, reached the way a trigger reaches it in the triggerer."""
    from airflow.sdk.execution_time import task_runner

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", supervisor, raising=False)
    return AssetStateStoreAccessor(name=ASSET_NAME)


# --- helpers --------------------------------------------------------------------------------------------


class Lake:
    """Publishes real snapshots under ``uri``; ``stage`` leaves one mid-publish (data files, no manifest)."""

    def __init__(self, uri: str, storage_options: dict[str, Any]) -> None:
        self.uri = uri
        self.storage_options = storage_options
        self.fs, self.root = fsspec.core.url_to_fs(uri, skip_instance_cache=True, **storage_options)
        self._seeds = itertools.count()
        self._staged: dict[str, bytes] = {}

    def commit(self) -> dict[str, Any]:
        """Publish a new snapshot; returns its manifest as the trigger delivers it."""
        frame = sample_frame(1000, seed=next(self._seeds))
        return publish(frame, self.uri, storage_options=self.storage_options, contract=V1).manifest.to_dict()

    def stage(self) -> str:
        """A snapshot whose data files are written but whose manifest is not (yet); returns its id."""
        manifest = self.commit()
        path = self._manifest_path(manifest["snapshot_id"])
        self._staged[manifest["snapshot_id"]] = self.fs.cat_file(path)
        self.fs.rm_file(path)
        return manifest["snapshot_id"]

    def commit_staged(self, snapshot_id: str) -> dict[str, Any]:
        """Write the staged snapshot's manifest: the commit lands."""
        manifest = self._staged.pop(snapshot_id)
        self.fs.pipe_file(self._manifest_path(snapshot_id), manifest)
        return json.loads(manifest)

    def _manifest_path(self, snapshot_id: str) -> str:
        return f"{self.root}/snapshots/{snapshot_id}/{MANIFEST_NAME}"


class Triggerer:
    """One triggerer process running the trigger, reduced to its shared-stream loop.

    ``persist`` / ``confirm`` choose how far each fired event gets: stored as an asset event (appended to
    ``asset_events``, shared across restarts like the metadata DB) and confirmed back to the stream.
    """

    def __init__(
        self,
        trigger: SnapshotCommittedTrigger,
        asset_events: list[dict[str, Any]],
        *,
        persist: bool = True,
        confirm: bool = True,
    ) -> None:
        self.trigger = trigger
        self.asset_events = asset_events
        self.persist = persist
        self.confirm = confirm
        self.manager = SharedStreamManager(ack_timeout=WAIT)
        self.fired: list[dict[str, Any]] = []
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> Triggerer:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        key = self.trigger.shared_stream_key()
        raw = self.manager.subscribe(trigger_id=TRIGGER_ID, trigger=self.trigger, key=key)
        try:
            async for event in self.trigger.filter_shared_stream(raw):
                # As TriggerRunner.run_trigger: bind the event to its raw event before anything else.
                seq = self.manager.bind_pending_event(trigger_id=TRIGGER_ID, key=key)
                self.fired.append(event.payload)
                if self.persist:
                    self.asset_events.append({"from_trigger": True, "payload": event.payload})
                    if self.confirm and seq is not None:
                        self.manager.confirm_persisted([seq])
        finally:
            await self.manager.unsubscribe(TRIGGER_ID, key)

    async def wait_fired(self, count: int) -> list[dict[str, Any]]:
        await _wait_until(lambda: len(self.fired) >= count or (self._task is not None and self._task.done()))
        if self._task is not None and self._task.done():
            self._task.result()  # surface the trigger's exception
        return self.fired

    async def stop(self) -> None:
        """The process goes away: trigger task cancelled, shared streams stopped, nothing else flushed."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        await self.manager.stop_all()


async def _wait_until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.02)


async def _wait_acked(state_store: AssetStateStoreAccessor, uri: str, snapshot_ids: set[str]) -> None:
    """Wait until the persisted cursor acknowledges ``snapshot_ids``."""
    async with asyncio.timeout(WAIT):
        while not snapshot_ids <= set((await state_store.aget(cursor_key(uri), default={})).get("acked", [])):
            await asyncio.sleep(0.05)


@pytest.fixture
def lake(lake_uri: str, s3_server: Any) -> Lake:
    return Lake(lake_uri, s3_server.storage_options)


@pytest.fixture
def make_trigger(lake: Lake, s3_server: Any) -> Callable[..., SnapshotCommittedTrigger]:
    def make(**kwargs: Any) -> SnapshotCommittedTrigger:
        options = {
            "uri": lake.uri,
            "asset_name": V1.asset_name,
            "storage_options": s3_server.storage_options,
            "poll_interval": POLL,
        }
        return SnapshotCommittedTrigger(**(options | kwargs))

    return make


# --- tests ----------------------------------------------------------------------------------------------


def test_fires_once_per_committed_snapshot_with_manifest_payload(lake, make_trigger, state_store):
    """Each committed snapshot fires exactly one event whose payload is its manifest."""

    async def scenario() -> list[dict[str, Any]]:
        first, second = lake.commit(), lake.commit()
        async with Triggerer(make_trigger(start_at="earliest"), []) as triggerer:
            await triggerer.wait_fired(2)
            await _wait_acked(state_store, lake.uri, {first["snapshot_id"], second["snapshot_id"]})
            barrier = lake.commit()  # any re-fire of the first two would come before it
            return [first, second, barrier], await triggerer.wait_fired(3)

    expected, fired = asyncio.run(scenario())
    assert fired == expected


def test_folder_without_manifest_never_fires(lake, make_trigger, state_store):
    """A snapshot folder without _manifest.json is invisible to the trigger."""

    async def scenario() -> list[dict[str, Any]]:
        lake.stage()
        async with Triggerer(make_trigger(start_at="earliest"), []) as triggerer:
            barrier = lake.commit()
            return [barrier], await triggerer.wait_fired(1)

    expected, fired = asyncio.run(scenario())
    assert fired == expected


def test_a_manifest_of_another_major_never_fires(lake, make_trigger, state_store, caplog):
    """A well-formed manifest written under another major in this major's dataset is skipped, once, with a
    warning naming it; the next snapshot of the right major still fires."""
    caplog.set_level(logging.WARNING, logger="housing_contracts.airflow")

    async def scenario() -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
        frame = convert(sample_frame(1000, seed=99), V1, V2)
        stray = publish(frame, lake.uri, storage_options=lake.storage_options, contract=V2).manifest
        async with Triggerer(make_trigger(start_at="earliest"), []) as triggerer:
            await asyncio.sleep(5 * POLL)  # several polls see the stray snapshot
            barrier = lake.commit()
            return stray.snapshot_id, [barrier], await triggerer.wait_fired(1)

    stray_id, expected, fired = asyncio.run(scenario())
    assert fired == expected
    watcher = [r for r in caplog.records if r.name == "housing_contracts.airflow.trigger"]
    warnings = [r.getMessage() for r in watcher if stray_id in r.getMessage()]
    assert len(warnings) == 1 and "written under california_housing 2.0.0" in warnings[0]


def test_confirming_unchanged_content_never_fires(lake, make_trigger, state_store):
    """An unchanged republish writes only _current.json (outside snapshots/): no event."""

    async def scenario() -> list[dict[str, Any]]:
        async with Triggerer(make_trigger(start_at="earliest"), []) as triggerer:
            committed = lake.commit()
            await triggerer.wait_fired(1)
            await _wait_acked(state_store, lake.uri, {committed["snapshot_id"]})
            again = publish(
                sample_frame(1000, seed=0), lake.uri, storage_options=lake.storage_options, contract=V1
            )
            assert not again.created and lake.fs.exists(f"{lake.root}/_current.json")
            barrier = lake.commit()  # an event for the confirmation would come before it
            return [committed, barrier], await triggerer.wait_fired(2)

    expected, fired = asyncio.run(scenario())
    assert fired == expected


def test_snapshot_fires_once_its_manifest_lands(lake, make_trigger, state_store):
    """A folder that was skipped while manifest-less fires when its manifest is written."""

    async def scenario() -> list[dict[str, Any]]:
        pending = lake.stage()
        async with Triggerer(make_trigger(start_at="earliest"), []) as triggerer:
            committed = lake.commit()
            await triggerer.wait_fired(1)
            await _wait_acked(state_store, lake.uri, {committed["snapshot_id"]})
            late = lake.commit_staged(pending)
            return [committed, late], await triggerer.wait_fired(2)

    expected, fired = asyncio.run(scenario())
    assert fired == expected


def test_restart_neither_refires_nor_loses(lake, make_trigger, state_store):
    """After a restart, acknowledged snapshots stay quiet and one committed while down fires once."""

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        asset_events: list[dict[str, Any]] = []
        first, second = lake.commit(), lake.commit()
        async with Triggerer(make_trigger(start_at="earliest"), asset_events) as before:
            await before.wait_fired(2)
            await _wait_acked(state_store, lake.uri, {first["snapshot_id"], second["snapshot_id"]})
        while_down = lake.commit()
        async with Triggerer(make_trigger(start_at="earliest"), asset_events) as after:
            await after.wait_fired(1)
            barrier = lake.commit()
            await after.wait_fired(2)
        return [first, second, while_down, barrier], manifests_from_events(asset_events), asset_events

    expected, delivered, asset_events = asyncio.run(scenario())
    assert (delivered, len(asset_events)) == (expected, 4)


def _crash_then_restart(
    lake: Lake, make_trigger: Callable[..., SnapshotCommittedTrigger], state_store: Any, **crash: bool
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Commit one snapshot, fire it from a triggerer that crashes as ``crash`` says (``persist=False``:
    before the event is persisted; ``confirm=False``: after, before the ack), then from a restarted one
    until it is acknowledged: ([the committed manifest], every asset event persisted)."""

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        asset_events: list[dict[str, Any]] = []
        committed = lake.commit()
        async with Triggerer(make_trigger(start_at="earliest"), asset_events, **crash) as crashing:
            await crashing.wait_fired(1)
        async with Triggerer(make_trigger(start_at="earliest"), asset_events) as restarted:
            await restarted.wait_fired(1)
            await _wait_acked(state_store, lake.uri, {committed["snapshot_id"]})
        return [committed], asset_events

    return asyncio.run(scenario())


def test_crash_before_persist_redelivers(lake, make_trigger, state_store):
    """A snapshot fired but not persisted before a crash is delivered again after the restart."""
    expected, asset_events = _crash_then_restart(lake, make_trigger, state_store, persist=False)
    assert [event["payload"] for event in asset_events] == expected


def test_crash_between_persist_and_ack_duplicates_harmlessly(lake, make_trigger, state_store):
    """A crash after persisting but before the ack re-delivers the same manifest, folded by snapshot_id."""
    expected, asset_events = _crash_then_restart(lake, make_trigger, state_store, confirm=False)
    assert (len(asset_events), manifests_from_events(asset_events)) == (2, expected)


def test_first_subscription_starts_at_latest_snapshot(lake, make_trigger, state_store):
    """By default a new subscriber fires the newest existing snapshot, not the older ones."""

    async def scenario() -> list[dict[str, Any]]:
        lake.commit()
        newest = lake.commit()
        async with Triggerer(make_trigger(), []) as triggerer:
            await triggerer.wait_fired(1)
            barrier = lake.commit()
            return [newest, barrier], await triggerer.wait_fired(2)

    expected, fired = asyncio.run(scenario())
    assert fired == expected


def test_first_subscription_can_skip_existing_snapshots(lake, make_trigger, state_store):
    """With start_at="new" only snapshots committed after subscribing fire."""

    async def scenario() -> list[dict[str, Any]]:
        lake.commit()
        async with Triggerer(make_trigger(start_at="new"), []) as triggerer:
            await _wait_cursor(state_store, lake.uri)
            fresh = lake.commit()
            return [fresh], await triggerer.wait_fired(1)

    expected, fired = asyncio.run(scenario())
    assert fired == expected


async def _wait_cursor(state_store: AssetStateStoreAccessor, uri: str) -> None:
    """Wait until the subscription wrote its first cursor."""
    async with asyncio.timeout(WAIT):
        while await state_store.aget(cursor_key(uri), default=None) is None:
            await asyncio.sleep(0.05)


def test_reads_credentials_from_airflow_connection(lake, make_trigger, state_store, s3_server, monkeypatch):
    """With conn_id the trigger reaches S3 through the Airflow aws connection, resolved at run time."""
    connection = {
        "conn_type": "aws",
        "login": s3_server.access_key,
        "password": s3_server.secret_key,
        "extra": {"endpoint_url": s3_server.endpoint_url, "region_name": "us-east-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3_TRIGGER_TEST", json.dumps(connection))

    async def scenario() -> list[dict[str, Any]]:
        committed = lake.commit()
        trigger = make_trigger(conn_id="lake_s3_trigger_test", storage_options=None, start_at="earliest")
        async with Triggerer(trigger, []) as triggerer:
            return [committed], await triggerer.wait_fired(1)

    expected, fired = asyncio.run(scenario())
    assert fired == expected


def test_standalone_run_fires_once_per_snapshot(lake, make_trigger, state_store):
    """The run() fallback (no shared streams) fires each committed snapshot once and keeps the cursor."""

    async def scenario() -> list[dict[str, Any]]:
        first, second = lake.commit(), lake.commit()
        trigger = make_trigger(start_at="earliest")
        trigger.asset_state_store = state_store
        fired: list[dict[str, Any]] = []
        events = trigger.run()
        async with asyncio.timeout(WAIT):
            async for event in events:
                fired.append(event.payload)
                if len(fired) == 2:
                    barrier = lake.commit()
                if len(fired) == 3:
                    break
        await events.aclose()
        return [first, second, barrier], fired

    expected, fired = asyncio.run(scenario())
    assert fired == expected


# --- the consumer's subscription -------------------------------------------------------------------------

CONSUMER = "ml-team"
MAX_LAG = timedelta(seconds=30)


def _subscription(uri: str, storage_options: dict[str, Any]) -> Subscription | None:
    """The consumer's subscription as the lake holds it, or None."""
    path = f"{consumer_uri(uri, CONSUMER, storage_options=storage_options)}/{SUBSCRIPTION_NAME}"
    fs, key = fsspec.core.url_to_fs(path, skip_instance_cache=True, **storage_options)
    try:
        return Subscription.from_dict(json.loads(fs.cat_file(key)))
    except (FileNotFoundError, NotADirectoryError):
        return None


async def _wait_subscription(uri: str, storage_options: dict[str, Any], after: datetime) -> Subscription:
    """Wait for a subscription written by a watcher start at or after ``after``."""
    async with asyncio.timeout(WAIT):
        while True:
            found = await asyncio.to_thread(_subscription, uri, storage_options)
            if found is not None and found.subscribed_at >= after:
                return found
            await asyncio.sleep(0.05)


def _subscribing(
    make_trigger: Callable[..., SnapshotCommittedTrigger], **kwargs: Any
) -> SnapshotCommittedTrigger:
    return make_trigger(consumer=CONSUMER, max_lag_seconds=MAX_LAG.total_seconds(), **kwargs)


def test_watcher_start_writes_the_subscription(lake, make_trigger, state_store, s3_server, monkeypatch):
    """The first start writes the consumer's subscription: its deployment ([api] base_url), promise,
    start position and the newest snapshot counted as seen (start_at="latest": all but the newest)."""
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://ml-airflow.example")

    async def scenario() -> tuple[Subscription, list[dict[str, Any]], list[dict[str, Any]]]:
        older, newest = lake.commit(), lake.commit()
        started = datetime.now(UTC)
        async with Triggerer(_subscribing(make_trigger), []) as triggerer:
            subscription = await _wait_subscription(lake.uri, s3_server.storage_options, started)
            return subscription, [older, newest], await triggerer.wait_fired(1)

    subscription, (older, newest), fired = asyncio.run(scenario())
    assert fired == [newest]
    assert subscription == Subscription(
        consumer=CONSUMER,
        dataset_uri=lake.uri,
        deployment="https://ml-airflow.example",
        max_lag=MAX_LAG,
        start_at="latest",
        start_after=older["snapshot_id"],
        subscribed_at=subscription.subscribed_at,
        contract_version=CONTRACT_VERSION,
        renewed_at=subscription.renewed_at,
        lease=timedelta(seconds=DEFAULT_RENEW_SECONDS * LEASE_RENEWALS),
    )
    assert subscription.live(datetime.now(UTC))


def test_running_watcher_renews_its_subscription_which_lapses_once_it_stops(
    lake, make_trigger, state_store, s3_server
):
    """While the watcher runs it rewrites renewed_at every renew interval (subscribed_at stays); once it
    stops, the subscription lapses after its lease: that is how the producer sees a consumer leave."""
    options = s3_server.storage_options

    async def scenario() -> tuple[Subscription, Subscription]:
        lake.commit()
        started = datetime.now(UTC)
        async with Triggerer(_subscribing(make_trigger, renew_seconds=0.2), []):
            first = await _wait_subscription(lake.uri, options, started)
            async with asyncio.timeout(WAIT):
                while True:
                    renewed = await asyncio.to_thread(_subscription, lake.uri, options)
                    if renewed is not None and renewed.renewed_at > first.renewed_at:
                        return first, renewed
                    await asyncio.sleep(0.05)

    first, renewed = asyncio.run(scenario())
    assert renewed.subscribed_at == first.subscribed_at
    assert renewed.lease == timedelta(seconds=0.2 * LEASE_RENEWALS)
    stopped = renewed.renewed_at
    assert renewed.live(stopped + renewed.lease)
    assert not renewed.live(stopped + renewed.lease + timedelta(seconds=0.1))


def test_restart_rewrites_the_subscription_with_the_same_start(lake, make_trigger, state_store, s3_server):
    """Each start writes the subscription again (a later subscribed_at); start_after stays the first one's,
    though more snapshots were seen since. Without [api] base_url the host names the deployment."""

    async def scenario() -> tuple[Subscription, Subscription, str]:
        first = lake.commit()
        async with Triggerer(_subscribing(make_trigger, start_at="new"), []) as before:
            initial = await _wait_subscription(lake.uri, s3_server.storage_options, datetime.now(UTC))
            seen = lake.commit()
            await before.wait_fired(1)
            await _wait_acked(state_store, lake.uri, {seen["snapshot_id"]})
        restarted_at = datetime.now(UTC)
        async with Triggerer(_subscribing(make_trigger, start_at="new"), []):
            again = await _wait_subscription(lake.uri, s3_server.storage_options, restarted_at)
        return initial, again, first["snapshot_id"]

    initial, again, first_id = asyncio.run(scenario())
    assert (initial.start_after, again.start_after) == (first_id, first_id)
    assert again.subscribed_at > initial.subscribed_at
    assert (again.deployment, again.start_at) == (socket.gethostname(), "new")


def test_version_1_cursor_subscribes_after_its_newest_acknowledged_snapshot(
    lake, make_trigger, state_store, s3_server
):
    """A watcher upgraded from cursors without start_after subscribes after its newest acknowledged snapshot,
    and rewrites the cursor as version 2 so later starts repeat it."""

    async def scenario() -> tuple[Subscription, dict[str, Any], str]:
        acked = lake.commit()
        await state_store.aset(
            cursor_key(lake.uri), {"version": 1, "watermark": None, "acked": [acked["snapshot_id"]]}
        )
        async with Triggerer(_subscribing(make_trigger), []):
            subscription = await _wait_subscription(lake.uri, s3_server.storage_options, datetime.now(UTC))
        return subscription, await state_store.aget(cursor_key(lake.uri)), acked["snapshot_id"]

    subscription, cursor, acked_id = asyncio.run(scenario())
    assert subscription.start_after == acked_id
    assert (cursor["version"], cursor["start_after"]) == (2, acked_id)


def test_subscription_write_denied_never_stops_the_events(
    make_trigger, state_store, s3_server, data_team_s3, team_lake_uri, caplog
):
    """An identity that may read the dataset but not write the consumer's prefix (here: the producer's)
    still gets every event; the failed write is logged once, though retried on every poll."""
    lake = Lake(team_lake_uri, s3_server.storage_options)
    caplog.set_level(logging.INFO, logger="housing_contracts.airflow")

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        first = lake.commit()
        trigger = _subscribing(
            make_trigger, uri=team_lake_uri, storage_options=data_team_s3.storage_options, start_at="earliest"
        )
        async with Triggerer(trigger, []) as triggerer:
            await triggerer.wait_fired(1)
            second = lake.commit()
            return [first, second], await triggerer.wait_fired(2)

    expected, fired = asyncio.run(scenario())
    assert fired == expected
    assert _subscription(team_lake_uri, s3_server.storage_options) is None
    failures = [r for r in caplog.records if r.getMessage().startswith("Writing the subscription of ml-team")]
    assert len(failures) == 1, [r.getMessage() for r in caplog.records]


def test_failed_subscription_write_is_retried_on_the_next_poll(state_store, tmp_path: Path, caplog):
    """A subscription that cannot be written at start (a file where the consumers' folder goes) is written
    once the obstacle is gone, while events keep flowing."""
    uri = (tmp_path / "lake" / "california_housing" / "v1").as_uri()
    lake = Lake(uri, {})
    caplog.set_level(logging.INFO, logger="housing_contracts.airflow")

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], Subscription | None]:
        committed = lake.commit()
        blocker = tmp_path / "lake" / "california_housing" / "v1" / "_consumers"
        blocker.write_text("not a folder")
        started = datetime.now(UTC)
        trigger = SnapshotCommittedTrigger(
            uri=uri,
            poll_interval=POLL,
            consumer=CONSUMER,
            max_lag_seconds=MAX_LAG.total_seconds(),
            asset_name=V1.asset_name,
        )
        async with Triggerer(trigger, []) as triggerer:
            fired = await triggerer.wait_fired(1)
            await asyncio.sleep(5 * POLL)  # several polls with the obstacle in place
            blocked = _subscription(uri, {})
            blocker.unlink()
            written = await _wait_subscription(uri, {}, started)
        assert blocked is None
        return [committed], fired, written

    expected, fired, written = asyncio.run(scenario())
    assert fired == expected
    assert (written.consumer, written.start_after) == (CONSUMER, None)  # start_at="latest", one snapshot
    failures = [r for r in caplog.records if r.getMessage().startswith("Writing the subscription of ml-team")]
    assert len(failures) == 1


# --- the look-back window -------------------------------------------------------------------------------


async def _drive(stream: SnapshotStream, fired: list[dict[str, Any]]) -> None:
    """Run ``stream`` as the standalone trigger does: each event acknowledged once it is taken."""
    async for manifest, snapshot_id in stream.open_stream():
        fired.append(manifest)
        await stream.advance([AdvanceItem(snapshot_id, AdvanceOutcome(acked=1, failed=0))])


def test_poll_requests_do_not_grow_with_history(lake, make_trigger, state_store):
    """A poll is one LIST from the look-back window on: 550 older snapshots (1,100 keys, two LIST pages for
    a whole listing) add no request to it, and a new snapshot after them still fires."""

    async def scenario() -> tuple[int, int, list[dict[str, Any]], dict[str, Any]]:
        first = lake.commit()
        end = snapshot_time(first["snapshot_id"]) - timedelta(hours=2)
        synthetic_history(lake.fs, lake.root, first, 550, end=end, every=timedelta(minutes=10))
        stream = SnapshotStream(make_trigger(start_at="new", sweep_seconds=3600), state_store)
        fired: list[dict[str, Any]] = []
        task = asyncio.create_task(_drive(stream, fired))
        try:
            await _wait_until(lambda: stream.polls >= 2)  # the first poll listed everything: subscribing
            assert stream.fs is not None
            with S3Requests(stream.fs) as counted:
                start = stream.polls
                await _wait_until(lambda: stream.polls >= start + 10)
                lists, polls = counted.by_operation["ListObjectsV2"], stream.polls - start
            new = lake.commit()
            await _wait_until(lambda: len(fired) >= 1)
            return lists, polls, fired, new
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
            await stream.aclose()

    lists, polls, fired, new = asyncio.run(scenario())
    assert lists <= polls + 1, f"{lists} LIST requests in {polls} polls"  # +1: a poll under way at each end
    assert fired == [new]


def test_publish_slower_than_the_look_back_fires_once_at_the_next_sweep(
    lake, make_trigger, state_store, caplog
):
    """A snapshot created before the window (its publish outlasted the look-back) is not listed by the
    windowed polls: the next sweep fires it, once, and a warning names it."""
    caplog.set_level(logging.WARNING, logger="housing_contracts.airflow.trigger")

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
        slow = lake.stage()
        trigger = make_trigger(start_at="earliest", lookback_seconds=0, sweep_seconds=1)
        async with Triggerer(trigger, []) as triggerer:
            quick = lake.commit()  # created after slow: the window starts after slow's id
            await triggerer.wait_fired(1)
            await _wait_acked(state_store, lake.uri, {quick["snapshot_id"]})
            late = lake.commit_staged(slow)
            await triggerer.wait_fired(2)
            barrier = lake.commit()  # a second event for the late one would come before it
            return [quick, late, barrier], await triggerer.wait_fired(3), slow

    expected, fired, slow = asyncio.run(scenario())
    assert fired == expected
    warnings = [r.getMessage() for r in caplog.records if "outside the look-back window" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith(f"Snapshot {slow} was committed outside"), warnings


def test_restart_fires_a_snapshot_committed_outside_the_window_while_down_once(
    lake, make_trigger, state_store
):
    """The first poll after a restart is a sweep: a slow publish that landed while the watcher was down, older
    than the window, fires once; nothing acknowledged fires again."""

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
        asset_events: list[dict[str, Any]] = []
        slow = lake.stage()
        options = {"start_at": "earliest", "lookback_seconds": 0, "sweep_seconds": 3600}
        async with Triggerer(make_trigger(**options), asset_events) as before:
            quick = lake.commit()
            await before.wait_fired(1)
            await _wait_acked(state_store, lake.uri, {quick["snapshot_id"]})
        late = lake.commit_staged(slow)
        async with Triggerer(make_trigger(**options), asset_events) as after:
            await after.wait_fired(1)
            barrier = lake.commit()
            await after.wait_fired(2)
        return [late, quick, barrier], manifests_from_events(asset_events), len(asset_events)

    expected, delivered, count = asyncio.run(scenario())  # manifests_from_events sorts by snapshot id
    assert (delivered, count) == (expected, 3)


@pytest.mark.parametrize("name", ["lookback_seconds", "sweep_seconds"])
@pytest.mark.parametrize("value", [-1, "60", True])
def test_window_settings_must_be_seconds(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"{name} must be a number of seconds >= 0, got"):
        SnapshotCommittedTrigger(**{name: value})
