"""A major version's end of life: it is deprecated in code (``Contract.deprecation``: sunset date and
successor), then retired in the lake by :func:`retire`, which refuses while a consumer still reads it.

``<dataset>/_retired.json`` (beside ``snapshots/``, so readers and watchers never see it) records the
retirement; :func:`~housing_contracts.snapshots.publish` refuses a retired dataset and ``publish_all``
skips it. The snapshots stay where they are, immutable and readable.

Standard library, fsspec and pydantic only: the CLI, the producer and its UI plugin import it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import Field
from pydantic.dataclasses import dataclass

from housing_contracts.consumers import _STRICT, ConsumerLag, UtcTime, _Record, consumer_lag, format_duration
from housing_contracts.dataset import CONTRACTS, Contract, contract_for
from housing_contracts.errors import ContractError
from housing_contracts.storage import resolve, write_atomic

RETIRED_NAME = "_retired.json"
RETIREMENT_FORMAT = "housing-contracts/retirement/1"


class RetirementRefused(ContractError):
    """Consumers still read the version inside its deprecation window; :attr:`consumers` names them."""

    def __init__(self, message: str, consumers: tuple[str, ...]) -> None:
        self.consumers = consumers
        super().__init__(message)


@dataclass(frozen=True, config=_STRICT)
class Retirement(_Record):
    """A retired major: no new snapshots are published under it; its snapshots stay readable."""

    FORMAT: ClassVar[str] = RETIREMENT_FORMAT

    dataset_uri: Annotated[str, Field(description="the retired dataset")]
    contract_version: Annotated[str, Field(description="the contract version it was published under")]
    successor_uri: Annotated[str, Field(description="where its consumers went")]
    retired_at: Annotated[UtcTime, Field(description="when (UTC)")]
    retired_by: Annotated[str, Field(description="who retired it")]

    def text(self) -> str:
        """``RETIRED at … by …; successor …; snapshots stay readable``."""
        return (
            f"RETIRED at {self.retired_at.isoformat(timespec='seconds')} by {self.retired_by}; successor "
            f"{self.successor_uri}; its snapshots stay readable"
        )


def read_retirement(fs: Any, root: str) -> Retirement | None:
    """The retirement record of the dataset at ``root`` on ``fs``, or None if it is not retired."""
    try:
        content = fs.cat_file(f"{root}/{RETIRED_NAME}")
    except FileNotFoundError:
        return None
    try:
        return Retirement.from_dict(json.loads(content))
    except ValueError as exc:
        # unreadable is not "not retired": refuse to guess either way
        raise ContractError(f"{root}/{RETIRED_NAME} is not a retirement record: {exc}") from None


def retirement(uri: str, *, storage_options: dict[str, Any] | None = None) -> Retirement | None:
    """The retirement record of the dataset at ``uri``, or None if it is not retired."""
    fs, root = resolve(uri, storage_options)
    return read_retirement(fs, root)


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
    uri: str,
    *,
    by: str,
    now: datetime | None = None,
    storage_options: dict[str, Any] | None = None,
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
    write_atomic(fs, f"{root}/{RETIRED_NAME}", (json.dumps(record.to_dict(), indent=2) + "\n").encode())
    return record


def _reader(row: ConsumerLag, now: datetime) -> str:
    renewed = f"subscribed {format_duration(now - row.subscribed_at)} ago" if row.subscribed_at else ""
    where = f" at {row.deployment}" if row.deployment else ""
    return f"consumer {row.consumer}{where} still reads it ({renewed})"
