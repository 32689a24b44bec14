"""What the Contract page shows, read live from the lake: the contract, the newest snapshots, the consumers.

Plain functions over the contract package; the page (:mod:`include.housing_data.contract_app`) renders them
and serves them as JSON. Nothing here raises for one bad record: a snapshot whose manifest cannot be read
becomes a :class:`SnapshotSummary` with a ``problem`` (consumer records already arrive as ``problems`` from
``consumer_lag``), so one corrupt file never hides the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from include.housing_data.settings import LAKE_CONN_ID

if TYPE_CHECKING:
    from housing_contracts import Manifest

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


def lake_storage_options() -> dict[str, Any]:
    """The storage options of this deployment's ``lake_s3`` connection (the data-team identity)."""
    from housing_contracts.airflow import storage_options_from_connection

    return storage_options_from_connection(LAKE_CONN_ID)


def contract() -> dict[str, Any]:
    """The live contract's description: version, columns and their rules, freshness promise."""
    from housing_contracts.description import describe

    return describe()


def newest_snapshots(
    dataset_uri: str, *, limit: int = NEWEST_SNAPSHOTS, storage_options: dict[str, Any] | None = None
) -> list[SnapshotSummary]:
    """The ``limit`` newest committed snapshots of ``dataset_uri``, newest first (one listing, then one read
    per snapshot)."""
    from housing_contracts import ContractError
    from housing_contracts.layout import committed_snapshot_ids, read_manifest
    from housing_contracts.storage import resolve

    fs, root = resolve(dataset_uri, storage_options)
    newest = committed_snapshot_ids(fs, root)[::-1][: max(limit, 0)]
    summaries = []
    for snapshot_id in newest:
        try:
            summaries.append(SnapshotSummary(snapshot_id, manifest=read_manifest(fs, root, snapshot_id)))
        except ContractError as err:
            summaries.append(SnapshotSummary(snapshot_id, problem=str(err)))
    return summaries
