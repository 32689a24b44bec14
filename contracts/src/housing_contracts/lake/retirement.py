"""A retired major's record in the lake: ``<dataset>/_retired.json`` (beside ``snapshots/``, so readers and
watchers never see it). :func:`~housing_contracts.lake.snapshots.publish` refuses a retired dataset and
``publish_all`` skips it; the snapshots stay where they are, immutable and readable.
:func:`~housing_contracts.consumers.lifecycle.retire` writes it.

Standard library, fsspec and pydantic only: the CLI, the producer and its UI plugin import it.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field
from pydantic.dataclasses import dataclass

from housing_contracts.contract.errors import ContractError
from housing_contracts.lake.documents import STRICT, Record, UtcTime, read_document
from housing_contracts.lake.storage import resolve

RETIRED_NAME = "_retired.json"
RETIREMENT_FORMAT = "housing-contracts/retirement/1"


@dataclass(frozen=True, config=STRICT)
class Retirement(Record):
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
        return read_document(fs, f"{root}/{RETIRED_NAME}", Retirement)
    except ValueError as exc:
        # unreadable is not "not retired": refuse to guess either way
        raise ContractError(f"not a retirement record: {exc}") from None


def retirement(uri: str, *, storage_options: dict[str, Any] | None = None) -> Retirement | None:
    """The retirement record of the dataset at ``uri``, or None if it is not retired."""
    fs, root = resolve(uri, storage_options)
    return read_retirement(fs, root)
