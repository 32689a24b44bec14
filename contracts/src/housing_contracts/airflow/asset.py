"""The dataset's Airflow Asset, with or without the watcher that subscribes to it, and the manifests
its events carry.

Nothing is looked up when an Asset is made, so DAG files parse offline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, AssetWatcher

from housing_contracts.airflow.trigger import (
    DEFAULT_POLL_INTERVAL,
    DEFAULT_RENEW_SECONDS,
    SnapshotCommittedTrigger,
)
from housing_contracts.contract.versions import LATEST, Contract


def watcher_name(contract: Contract = LATEST) -> str:
    """Name of the AssetWatcher that :func:`dataset_asset` attaches to ``contract``'s Asset."""
    return f"{contract.asset_name}_snapshot_committed"


def dataset_asset(
    contract: Contract = LATEST,
    *,
    watch: bool = False,
    conn_id: str | None = None,
    poll_interval: float = DEFAULT_POLL_INTERVAL,
    consumer: str | None = None,
    max_lag: timedelta | None = None,
    renew_every: timedelta | None = None,
) -> Asset:
    """The Asset of ``contract``'s dataset; with ``watch=True`` it carries the
    :class:`SnapshotCommittedTrigger` watcher.

    With ``consumer`` (a safe name, e.g. ``ml-team``) and ``max_lag`` (the lag it commits to), the watcher
    writes the consumer's subscription into the lake when it starts and renews it every ``renew_every``
    (default 5 minutes) while it runs; one not renewed for 3 intervals has lapsed. Nothing is looked up
    here (``conn_id`` is resolved in the triggerer), so DAG files parse offline.
    """
    if not watch:
        if consumer is not None or max_lag is not None or renew_every is not None:
            raise ValueError(
                "consumer, max_lag and renew_every subscribe through the watcher: pass watch=True"
            )
        return Asset(name=contract.asset_name, uri=contract.uri)
    trigger = SnapshotCommittedTrigger(
        asset_name=contract.asset_name,
        conn_id=conn_id,
        poll_interval=poll_interval,
        consumer=consumer,
        max_lag_seconds=max_lag.total_seconds() if max_lag is not None else None,
        renew_seconds=renew_every.total_seconds() if renew_every is not None else DEFAULT_RENEW_SECONDS,
    )
    watcher = AssetWatcher(name=watcher_name(contract), trigger=trigger)
    return Asset(name=contract.asset_name, uri=contract.uri, watchers=[watcher])


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
