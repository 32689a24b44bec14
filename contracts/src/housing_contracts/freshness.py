"""Freshness promises, checked: the producer's (a new snapshot at least every N hours, stated in the
contract) and each consumer's (the lag its subscription accepts).

Each check returns quietly or raises :class:`PromiseBroken`, whose message is the alert an operator sees:
the dataset, the age or lag, and the promise.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from housing_contracts.consumers import ConsumerLag, consumer_lag, format_duration
from housing_contracts.dataset import ASSET_NAME
from housing_contracts.errors import PromiseBroken
from housing_contracts.layout import committed_snapshot_ids, snapshot_time
from housing_contracts.storage import resolve


def freshness_promise(description: dict[str, Any] | None = None) -> timedelta:
    """The longest the producer promises between two snapshots, from ``description`` (default: the live
    contract's ``describe()``)."""
    if description is None:
        from housing_contracts.description import describe

        description = describe()
    try:
        hours = description["freshness"]["max_snapshot_interval_hours"]
    except (KeyError, TypeError):
        version = description.get("contract", {}).get("version")
        raise ValueError(f"contract description {version} states no freshness promise") from None
    return timedelta(hours=hours)


def _label(dataset_uri: str) -> str:
    return f"{ASSET_NAME} ({dataset_uri})"


def check_freshness(
    dataset_uri: str,
    *,
    max_age: timedelta | None = None,
    now: datetime | None = None,
    storage_options: dict[str, Any] | None = None,
) -> str:
    """An OK message if the newest committed snapshot is at most ``max_age`` old (default: the contract's
    promise); else :class:`PromiseBroken`. No snapshot at all breaks the promise too."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    who = "the producer promises" if max_age is None else "the check expects"
    max_age = freshness_promise() if max_age is None else max_age
    promise = f"{who} a new snapshot at least every {format_duration(max_age)}"
    fs, root = resolve(dataset_uri, storage_options)
    ids = committed_snapshot_ids(fs, root)
    if not ids:
        raise PromiseBroken(f"{_label(dataset_uri)}: no snapshot has been published; {promise}")
    age = now - snapshot_time(ids[-1])
    text = f"{_label(dataset_uri)}: newest snapshot {ids[-1]} is {format_duration(age)} old"
    if age > max_age:
        raise PromiseBroken(f"{text}; {promise}")
    return f"OK: {text}; {promise}"


def _lag_text(row: ConsumerLag) -> str:
    if row.last_outcome is None:
        last = "it has consumed nothing yet"
    else:
        reason = f": {row.last_reason}" if row.last_reason else ""
        last = f"last: {row.last_snapshot_id} {row.last_outcome}{reason}"
    return (
        f"consumer {row.consumer} lags {row.lag_snapshots} snapshot(s), {format_duration(row.lag)} behind; "
        f"it promises at most {format_duration(row.max_lag or timedelta(0))} ({last})"
    )


def check_consumer_lag(
    dataset_uri: str, *, now: datetime | None = None, storage_options: dict[str, Any] | None = None
) -> list[ConsumerLag]:
    """:func:`consumer_lag`'s rows if no consumer lags beyond its own promise; else :class:`PromiseBroken`
    naming every consumer that does."""
    rows = consumer_lag(dataset_uri, now=now, storage_options=storage_options)
    broken = [row for row in rows if row.breaks_promise]
    if broken:
        raise PromiseBroken(f"{_label(dataset_uri)}: {'; '.join(_lag_text(row) for row in broken)}")
    return rows
