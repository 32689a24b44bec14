"""Freshness promises, checked: the producer's (the data confirmed current at least every N hours, stated
in the contract: a new snapshot, or a confirmation that the newest one is still current) and each
consumer's (the lag its subscription accepts).

Each check returns quietly or raises :class:`PromiseBroken`, whose message is the alert an operator sees:
the dataset, the age or lag, and the promise.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from housing_contracts.consumers.lag import ConsumerLag, consumer_lag, format_duration
from housing_contracts.contract.errors import PromiseBroken
from housing_contracts.contract.versions import LATEST, contract_for
from housing_contracts.lake.catalog import newest_readable_snapshot
from housing_contracts.lake.confirmation import current_path, read_confirmation
from housing_contracts.lake.layout import CURRENT_NAME, snapshot_time
from housing_contracts.lake.retirement import read_retirement
from housing_contracts.lake.storage import resolve

log = logging.getLogger(__name__)


def freshness_promise(description: dict[str, Any] | None = None) -> timedelta:
    """The longest the producer promises to leave the data unconfirmed (between two snapshots, or
    confirmations that the newest is current), from ``description`` (default: the live contract's
    ``describe()``)."""
    if description is None:
        from housing_contracts.contract.description import describe

        description = describe(contract=LATEST)
    try:
        hours = description["freshness"]["max_snapshot_interval_hours"]
    except (KeyError, TypeError):
        version = description.get("contract", {}).get("version")
        raise ValueError(f"contract description {version} states no freshness promise") from None
    return timedelta(hours=hours)


def _label(dataset_uri: str) -> str:
    contract = contract_for(dataset_uri)
    return f"{contract.asset_name} ({dataset_uri})" if contract else dataset_uri


def check_freshness(
    dataset_uri: str,
    *,
    max_age: timedelta | None = None,
    now: datetime | None = None,
    storage_options: dict[str, Any] | None = None,
) -> str:
    """An OK message if the data was confirmed current at most ``max_age`` ago (default: the contract's
    promise); else :class:`PromiseBroken`. No snapshot at all breaks the promise too. A retired dataset
    (``lifecycle.py``) promises nothing more: the message says so.

    The data was last confirmed current at the later of the newest readable snapshot's creation (a newer
    corrupt or foreign one is skipped and named in the message) and the
    producer's confirmation (``_current.json``) if that names the newest snapshot. A confirmation naming
    another snapshot, unreadable, or later than ``now`` is ignored (the message says why), never raised.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    who = "the producer promises" if max_age is None else "the check expects"
    max_age = freshness_promise() if max_age is None else max_age
    promise = (
        f"{who} a new snapshot, or a confirmation that the newest is still current, "
        f"at least every {format_duration(max_age)}"
    )
    fs, root = resolve(dataset_uri, storage_options)
    retired = read_retirement(fs, root)
    if retired is not None:
        return f"OK: {_label(dataset_uri)}: {retired.text()}; no freshness promise after retirement"
    # the newest readable snapshot: a newer corrupt or foreign one is fresh bytes nobody can read
    manifest, skipped = newest_readable_snapshot(fs, root)
    unreadable = ""
    if skipped:
        unreadable = f" ({len(skipped)} newer unreadable snapshot(s) skipped: {skipped[-1].text()})"
    if manifest is None:
        published = "no readable snapshot has been published" if skipped else "no snapshot has been published"
        raise PromiseBroken(f"{_label(dataset_uri)}: {published}{unreadable}; {promise}")
    newest, created = manifest.snapshot_id, snapshot_time(manifest.snapshot_id)
    confirmed, ignored = _confirmed_at(fs, root, newest, now)
    text = f"{_label(dataset_uri)}: newest snapshot {newest} is {format_duration(now - created)} old"
    text += unreadable
    age = now - created
    if confirmed is not None and confirmed > created:
        age = now - confirmed
        text += f", last confirmed current {format_duration(age)} ago"
    if ignored:
        text += f" ({CURRENT_NAME} ignored: {ignored})"
    if age > max_age:
        raise PromiseBroken(f"{text}; {promise}")
    return f"OK: {text}; {promise}"


def _confirmed_at(fs: Any, root: str, newest: str, now: datetime) -> tuple[datetime | None, str | None]:
    """(when the producer last confirmed ``newest`` current, or None; why its confirmation was ignored)."""
    try:
        confirmation = read_confirmation(fs, root)
    except ValueError as exc:
        ignored = str(exc).removeprefix(f"{current_path(root)}: ")  # the message names the file already
    except OSError as exc:
        ignored = f"unreadable: {exc}"
    else:
        if confirmation is None:
            return None, None
        if confirmation.snapshot_id != newest:
            ignored = f"it confirms snapshot {confirmation.snapshot_id}, not the newest"
        elif confirmation.confirmed_at > now:
            ignored = f"confirmed_at {confirmation.confirmed_at.isoformat()} is later than now"
        else:
            return confirmation.confirmed_at, None
    log.warning("%s ignored: %s", current_path(root), ignored)
    return None, ignored


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
