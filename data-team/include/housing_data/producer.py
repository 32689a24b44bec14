"""The producer's run steps, one per DAG task: plain functions that move frames through staging.

Each step reads its input from the run's staging folder, writes its output there, and returns a small
JSON-ready dict (URIs and counts) for XCom. Deterministic data problems raise domain errors
(:class:`~include.housing_data.extract.SourceError`,
:class:`~include.housing_data.clean.CleaningIncident`, :class:`Quarantined`); the DAG turns them into
failures that are not retried. Storage errors propagate unchanged, so the retry policy can retry them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from housing_contracts import CONTRACTS, V1, Contract, dataset_uri
from include.housing_data import staging
from include.housing_data.clean import enforce_float64, rows_to_keep
from include.housing_data.extract import extract
from include.housing_data.quarantine import QuarantineRecord, quarantine
from include.housing_data.settings import quarantine_uri, staging_uri

if TYPE_CHECKING:
    from housing_contracts import Manifest, Retirement

log = logging.getLogger(__name__)


class Quarantined(Exception):
    """The run's data broke the contract; its report and offending rows are in quarantine."""

    def __init__(self, record: QuarantineRecord) -> None:
        self.record = record
        super().__init__(
            f"data broke the contract ({record.summary}); report and {record.rows} offending rows "
            f"quarantined at {record.folder}; nothing was published"
        )


def extract_step(source: str, *, run_id: str, storage_options: dict[str, Any] | None) -> dict[str, Any]:
    """Read the source and stage it; return ``{"staged", "rows", "source"}``."""
    frame = extract(source, storage_options=storage_options)
    folder = staging_uri(dataset_uri(V1), run_id)
    staged = staging.stage(frame, folder, "extracted", storage_options=storage_options)
    log.info("extracted %d rows from %s, staged at %s", len(frame), source, staged)
    return {"staged": staged, "rows": len(frame), "source": source}


def clean_step(
    staged: str, *, run_id: str, max_drop_share: float, storage_options: dict[str, Any] | None
) -> dict[str, Any]:
    """Clean the staged raw frame and stage the result; return ``{"staged", "rows", "cleaning"}``."""
    frame = enforce_float64(staging.load(staged, storage_options=storage_options))
    # The kept rows are written straight from the frame: the cleaned frame never exists beside it.
    keep, report = rows_to_keep(frame, max_drop_share=max_drop_share)
    for rule, removed in report.removed.items():
        log.info("cleaning rule %s removed %d rows", rule, removed)
    log.info(
        "cleaning kept %d of %d rows (removed %.3f%%, limit %.3f%%)",
        report.rows_out,
        report.rows_in,
        100 * report.removed_share,
        100 * max_drop_share,
    )
    folder = staging_uri(dataset_uri(V1), run_id)
    out = staging.stage(frame, folder, "cleaned", rows=keep, storage_options=storage_options)
    return {"staged": out, "rows": report.rows_out, "cleaning": report.to_dict()}


@dataclass(frozen=True)
class Published:
    """What one publish did to each major of the contract (see :func:`publish_step`)."""

    #: majors that got a snapshot from this run (on this try, or on an earlier try of the same run)
    created: dict[Contract, Manifest] = field(default_factory=dict)
    #: majors whose newest snapshot, from an earlier run, already held this content
    unchanged: dict[Contract, Manifest] = field(default_factory=dict)
    #: retired majors, not published
    retired: dict[Contract, Retirement] = field(default_factory=dict)

    def summaries(self) -> dict[str, dict[str, Any] | None]:
        """The task's XCom: ``{"v1": summary | None, "v2": …}``, one key per released major, the summary of
        the snapshot this run created there (:func:`manifest_summary`), None if unchanged or retired."""
        return {
            f"v{contract.major}": manifest_summary(self.created[contract])
            if contract in self.created
            else None
            for contract in CONTRACTS
        }


def publish_step(
    staged: str,
    *,
    run_id: str,
    producer: dict[str, str],
    extras: dict[str, Any],
    storage_options: dict[str, Any] | None,
) -> Published:
    """Validate the staged (1.x) frame once and publish it to every released major of the contract.

    ``housing_contracts.publish_all`` checks every rule of 1.x before it writes anything, then publishes
    the frame, converted, to each major's dataset, each atomically with its own manifest; a retired
    major is skipped. A violation quarantines the report and the offending rows and raises
    :class:`Quarantined`: nothing is published. Idempotent per major: unchanged content creates no
    snapshot; publish then records that the newest one is still current, which keeps the freshness
    promise. A snapshot whose manifest names this ``producer`` (this run) counts as created even when a
    retry finds it already there, so a run that committed v1 and failed before v2 still announces v1.
    """
    from housing_contracts import ContractViolation, publish_all

    frame = staging.load(staged, storage_options=storage_options)
    try:
        # consume: the staged frame is not needed once published, so the converted major takes its columns
        outcome = publish_all(
            frame, source=V1, producer=producer, extras=extras, storage_options=storage_options, consume=True
        )
    except ContractViolation as violation:
        record = quarantine(frame, violation, quarantine_uri(run_id), storage_options=storage_options)
        raise Quarantined(record) from violation
    published = Published(retired=dict(outcome.retired))
    for contract, retirement in outcome.retired.items():
        log.info(
            "%s v%d retired at %s by %s: not published (its consumers moved to %s)",
            contract.name,
            contract.major,
            retirement.retired_at.isoformat(timespec="seconds"),
            retirement.retired_by,
            retirement.successor_uri,
        )
    for contract, result in outcome.results.items():
        manifest = result.manifest
        if result.created or manifest.producer == producer:
            published.created[contract] = manifest
            log.info(
                "published %s snapshot %s (%d rows)", contract.label, result.snapshot_uri, manifest.row_count
            )
        else:
            published.unchanged[contract] = manifest
            log.info(
                "%s: content unchanged since snapshot %s: no new snapshot; confirmed it current",
                contract.label,
                manifest.snapshot_id,
            )
    return published


def manifest_summary(manifest: Manifest) -> dict[str, Any]:
    """The manifest fields a consumer needs from the asset event, without reading the manifest."""
    return manifest.summary()


def remove_staging_step(*, run_id: str, storage_options: dict[str, Any] | None) -> int:
    """Delete the run's staging folder; return how many files went."""
    folder = staging_uri(dataset_uri(V1), run_id)
    removed = staging.remove(folder, storage_options=storage_options)
    log.info("removed %d staged files under %s", removed, folder)
    return removed
