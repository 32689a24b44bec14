"""What the Contract page shows, read live from the lake: the released versions with their lifecycle, and
for one version the contract, the newest snapshots, the consumers.

Plain functions over the contract package; the page (:mod:`include.housing_data.contract_app`) renders them
and serves them as JSON. Nothing here raises for one bad record: a snapshot whose manifest cannot be read
becomes a :class:`SnapshotSummary` with a ``problem`` (consumer records already arrive as ``problems`` from
``consumer_lag``), so one corrupt file never hides the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from housing_contracts import CONTRACTS, Contract

if TYPE_CHECKING:
    from housing_contracts import Manifest, Retirement

#: Snapshots the page lists, newest first.
NEWEST_SNAPSHOTS = 10


@dataclass(frozen=True)
class SnapshotSummary:
    """One committed snapshot as the page lists it: its manifest, or why it could not be read."""

    snapshot_id: str
    manifest: Manifest | None = None
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The manifest's JSON (``_manifest.json``), or ``{"snapshot_id", "problem"}``."""
        if self.manifest is not None:
            return self.manifest.to_dict()
        return {"snapshot_id": self.snapshot_id, "problem": self.problem}


@dataclass(frozen=True)
class VersionStatus:
    """One released major as the page's versions table lists it: where it lives and where it is in its
    life (current, deprecated, retired), or why its retirement record could not be read."""

    contract: Contract
    dataset_uri: str
    retirement: Retirement | None = None
    problem: str | None = None

    @property
    def status(self) -> str:
        """``retired``, ``deprecated`` or ``current`` (``unknown`` if the record could not be read)."""
        if self.problem is not None:
            return "unknown"
        if self.retirement is not None:
            return "retired"
        return "deprecated" if self.contract.deprecation is not None else "current"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: version, URIs, Asset, status, deprecation and retirement (None when absent)."""
        deprecation = self.contract.deprecation
        return {
            "version": self.contract.version,
            "major": self.contract.major,
            "uri": self.contract.uri,
            "dataset_uri": self.dataset_uri,
            "asset_name": self.contract.asset_name,
            "status": self.status,
            "deprecation": deprecation.to_dict() if deprecation else None,
            "retirement": self.retirement.to_dict() if self.retirement else None,
            "problem": self.problem,
        }


def version(major: int | None) -> Contract:
    """The released contract of ``major``; the newest when None. KeyError if no version has that major."""
    if major is None:
        return CONTRACTS[-1]
    found = next((contract for contract in CONTRACTS if contract.major == major), None)
    if found is None:
        raise KeyError(f"no released contract version has major {major}: {[c.major for c in CONTRACTS]}")
    return found


def versions(*, storage_options: dict[str, Any] | None = None) -> list[VersionStatus]:
    """Every released major, newest first, with its retirement record read from its dataset."""
    from housing_contracts import ContractError
    from housing_contracts.lake.retirement import retirement

    found = []
    for contract in reversed(CONTRACTS):
        uri = contract.dataset_uri()
        try:
            found.append(VersionStatus(contract, uri, retirement(uri, storage_options=storage_options)))
        except (ContractError, OSError) as err:
            found.append(VersionStatus(contract, uri, problem=f"{type(err).__name__}: {err}"))
    return found


def contract(of: Contract | None = None) -> dict[str, Any]:
    """The live description of ``of`` (default: the newest version): version, columns and their rules,
    freshness promise."""
    from housing_contracts.contract.description import describe

    return describe(contract=of or CONTRACTS[-1])


def newest_snapshots(
    dataset_uri: str, *, limit: int = NEWEST_SNAPSHOTS, storage_options: dict[str, Any] | None = None
) -> list[SnapshotSummary]:
    """The ``limit`` newest committed snapshots of ``dataset_uri``, newest first (a listing of the newest
    ones, not of the history: ``newest_snapshot_ids``; then one batched read). A corrupt or foreign one (the
    contract package's catalog decides, as for every reader) is listed with its problem, which names the
    reason readers skip it."""
    from housing_contracts.lake.catalog import newest_snapshot_ids, read_manifests
    from housing_contracts.lake.storage import resolve

    fs, root = resolve(dataset_uri, storage_options)
    newest = newest_snapshot_ids(fs, root, limit)
    listing = read_manifests(fs, root, newest)
    readable = {manifest.snapshot_id: manifest for manifest in listing.manifests}
    skipped = {skip.snapshot_id: skip for skip in listing.skipped}
    return [
        SnapshotSummary(snapshot_id, manifest=readable[snapshot_id])
        if snapshot_id in readable
        else SnapshotSummary(snapshot_id, problem=f"skipped by readers: {skipped[snapshot_id].reason}")
        for snapshot_id in newest
    ]
