"""A major version's end of life: :func:`retire` writes its retirement record (see
:mod:`housing_contracts.lake.retirement`), and refuses while a consumer still reads it.

Standard library, fsspec and pydantic only: the CLI, the producer and its UI plugin import it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from housing_contracts.consumers.lag import ConsumerLag, consumer_lag, format_duration
from housing_contracts.contract.errors import ContractError
from housing_contracts.contract.versions import CONTRACTS, Contract, contract_for
from housing_contracts.lake.documents import write_document
from housing_contracts.lake.retirement import RETIRED_NAME, Retirement, read_retirement
from housing_contracts.lake.storage import resolve


class RetirementRefused(ContractError):
    """Consumers still read the version inside its deprecation window; :attr:`consumers` names them."""

    def __init__(self, message: str, consumers: tuple[str, ...]) -> None:
        self.consumers = consumers
        super().__init__(message)


def deprecated_contract(uri: str) -> Contract:
    """The deprecated contract whose dataset ``uri`` is; ValueError if it is none, or not deprecated."""
    contract = contract_for(uri)
    if contract is None:
        known = ", ".join(f"{c.label} at …/{c.name}/v{c.major}" for c in CONTRACTS)
        raise ValueError(f"{uri} is not the dataset of a released contract version ({known})")
    if contract.deprecation is None:
        raise ValueError(f"{contract.label} ({uri}) is not deprecated: it has no successor to move to")
    return contract


def retire(
    uri: str, *, by: str, now: datetime | None = None, storage_options: dict[str, Any] | None = None
) -> Retirement:
    """Retire the deprecated dataset at ``uri``: the producer stops publishing it.

    Refused (:class:`RetirementRefused`, naming each consumer) while a consumer's subscription to it is
    live, i.e. its watcher still renews it, and the sunset date has not passed. After the sunset the
    deprecation window is over and it goes ahead. Idempotent: a retired dataset returns its record.
    """
    contract = deprecated_contract(uri)
    deprecation = contract.deprecation
    assert deprecation is not None  # deprecated_contract() checked it
    now = (now or datetime.now(UTC)).astimezone(UTC)
    fs, root = resolve(uri, storage_options)
    existing = read_retirement(fs, root)
    if existing is not None:
        return existing
    readers = [
        row for row in consumer_lag(uri, now=now, storage_options=storage_options) if row.subscription_live
    ]
    if readers and now.date() <= deprecation.sunset:
        raise RetirementRefused(
            f"cannot retire {contract.label} ({uri}) before its sunset {deprecation.sunset.isoformat()}: "
            f"{'; '.join(_reader(row, now) for row in readers)}. Each must move to "
            f"{deprecation.successor_uri} first (its subscription lapses once its watcher stops)",
            tuple(row.consumer for row in readers),
        )
    record = Retirement(
        dataset_uri=uri,
        contract_version=contract.version,
        successor_uri=deprecation.successor_uri,
        retired_at=now,
        retired_by=by,
    )
    write_document(fs, f"{root}/{RETIRED_NAME}", record)
    return record


def _reader(row: ConsumerLag, now: datetime) -> str:
    renewed = f"subscribed {format_duration(now - row.subscribed_at)} ago" if row.subscribed_at else ""
    where = f" at {row.deployment}" if row.deployment else ""
    return f"consumer {row.consumer}{where} still reads it ({renewed})"
