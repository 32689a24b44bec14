"""Which snapshot a consumer run works on, and the reference to it that travels between tasks.

Imported by the first task of every consumer run, so it stays light: no pandas, scikit-learn or MLflow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from fsspec.core import url_to_fs

from housing_contracts import Contract, SnapshotNotFoundError, latest_snapshot
from housing_contracts.contract.versions import contract_of
from include.housing_ml.settings import predictions_file_uri, predictions_uri

log = logging.getLogger(__name__)


class AlreadyConsumed(Exception):
    """An event announced a snapshot this consumer already finished: a re-delivery, nothing to do."""


@dataclass(frozen=True)
class SnapshotRef:
    """A committed, verified snapshot: what every later step needs to know about it (JSON-able)."""

    dataset_uri: str
    snapshot_id: str
    snapshot_uri: str
    content_fingerprint: str
    contract_name: str
    contract_version: str
    producer_run_id: str
    row_count: int

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], dataset_uri: str) -> SnapshotRef:
        """Build from a manifest in its JSON form (``Manifest.to_dict()``), read under ``dataset_uri``."""
        snapshot_id = manifest["snapshot_id"]
        return cls(
            dataset_uri=dataset_uri,
            snapshot_id=snapshot_id,
            snapshot_uri=f"{dataset_uri.rstrip('/')}/snapshots/{snapshot_id}",
            content_fingerprint=manifest["content_fingerprint"],
            contract_name=manifest["contract"]["name"],
            contract_version=manifest["contract"]["version"],
            producer_run_id=str((manifest.get("producer") or {}).get("run_id", "")),
            row_count=int(manifest["row_count"]),
        )

    @property
    def contract(self) -> Contract:
        """The released contract the snapshot was published under."""
        return contract_of_ref(asdict(self))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SnapshotRef:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, small enough for XCom."""
        return asdict(self)


def contract_of_ref(ref: Mapping[str, Any]) -> Contract:
    """The released contract a task's reference names (``contract_name``, ``contract_version``): the
    subscribed one in what :func:`resolve` returns, the manifest's in a :class:`SnapshotRef`."""
    contract = contract_of(str(ref.get("contract_name")), str(ref.get("contract_version")))
    if contract is None:
        raise ValueError(
            f"{ref.get('contract_name')!r} {ref.get('contract_version')!r} is no released contract: expected "
            "a snapshot reference with contract_name and contract_version (e.g. california_housing 2.0.0)"
        )
    return contract


def warn_if_deprecated(contract: Contract) -> None:
    """Log a WARNING naming the sunset and the successor when ``contract`` is deprecated."""
    if contract.deprecation is not None:
        log.warning(
            "this consumer subscribes to %s, which is %s: change its CONTRACT (ml-team settings) to the "
            "successor before the sunset, when the producer stops publishing it",
            contract.label,
            contract.deprecation.text(),
        )


def choose_snapshot_id(event_manifests: list[Mapping[str, Any]], requested: str | None) -> str | None:
    """The snapshot to consume: the newest one announced by events, else the requested one.

    ``event_manifests`` come from ``housing_contracts.airflow.asset.manifests_from_events``. One DagRun can
    carry several events if snapshots were committed while a run was queued; each snapshot is a
    complete dataset, so training on the newest supersedes the older ones.
    ``None`` means "the newest committed snapshot".
    """
    if event_manifests:
        return max(m["snapshot_id"] for m in event_manifests)  # ids sort by commit time
    return requested or None


def resolve_snapshot_id(
    dataset_uri: str, chosen: str | None, *, storage_options: dict[str, Any] | None = None
) -> str:
    """``chosen`` itself, or the id of the newest committed snapshot under ``dataset_uri``."""
    if chosen:
        return chosen
    newest = latest_snapshot(dataset_uri, storage_options=storage_options)
    if newest is None:
        raise SnapshotNotFoundError(f"no committed snapshot under {dataset_uri}: expected at least one")
    return newest.snapshot_id


def resolve(
    event_manifests: list[Mapping[str, Any]],
    requested_snapshot_id: str | None,
    *,
    contract: Contract,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, str]:
    """Which snapshot of ``contract`` (the subscribed one) to consume: from the triggering events, the
    ``snapshot_id`` param, or the newest under ``contract.dataset_uri()``. Logs a WARNING when
    ``contract`` is deprecated.

    Raises :class:`AlreadyConsumed` when the events announce a snapshot whose predictions already exist
    (the last step of a consumption): the subscription delivers at least once, and a re-delivered event
    must not train and register again. Manual runs always proceed: retraining on purpose.
    """
    warn_if_deprecated(contract)
    uri = contract.dataset_uri()
    chosen = choose_snapshot_id(event_manifests, requested_snapshot_id)
    snapshot_id = resolve_snapshot_id(uri, chosen, storage_options=storage_options)
    source = "event" if event_manifests else ("param" if requested_snapshot_id else "newest")
    if source == "event":
        predictions = predictions_file_uri(snapshot_id, predictions_uri(contract))
        fs, path = url_to_fs(predictions, **(storage_options or {}))
        if fs.exists(path):
            raise AlreadyConsumed(
                f"snapshot {snapshot_id} was already consumed ({predictions} exists): a re-delivered "
                "event; trigger a manual run with this snapshot_id to retrain on purpose"
            )
    return {
        "dataset_uri": uri,
        "snapshot_id": snapshot_id,
        "source": source,
        "contract_name": contract.name,
        "contract_version": contract.version,
    }
