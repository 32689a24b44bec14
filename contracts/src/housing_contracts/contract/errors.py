"""The errors the contract raises: one base class, one subclass per way a handoff can go wrong."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from housing_contracts.contract.report import ValidationReport


class ContractError(Exception):
    """Base class of every error raised by ``housing_contracts``."""


class ContractViolation(ContractError):
    """The data breaks the contract; :attr:`report` lists every failing check."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        super().__init__(report.summary())


class SnapshotIntegrityError(ContractError):
    """A snapshot's files do not match its manifest (size, sha256, rows), or the manifest is unreadable."""


class IncompatibleContractError(ContractError):
    """A snapshot was written under another contract name or major version than this package's."""


class SnapshotNotFoundError(ContractError):
    """No committed snapshot (a folder with ``_manifest.json``) matches the request."""


class PublishInProgressError(TimeoutError):
    """Another publisher claimed the commit of the same content and has not committed it yet.

    A ``TimeoutError`` (the data is fine), so retry policies retry it: the other publish has committed
    by then, or its claim is stale and is taken over.
    """


class PromiseBroken(ContractError):
    """A freshness or lag promise is broken; the message is the alert text (dataset, age or lag, promise)."""
