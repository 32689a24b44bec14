"""The producer's run steps, one per DAG task: plain functions that move frames through staging.

Each step reads its input from the run's staging folder, writes its output there, and returns a small
JSON-ready dict (URIs and counts) for XCom. Deterministic data problems raise domain errors
(:class:`~include.housing_data.extract.SourceError`,
:class:`~include.housing_data.clean.CleaningIncident`, :class:`Quarantined`); the DAG turns them into
failures that are not retried. Storage errors propagate unchanged, so the retry policy can retry them.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from housing_contracts import dataset_uri
from include.housing_data import staging
from include.housing_data.clean import clean
from include.housing_data.extract import extract
from include.housing_data.quarantine import QuarantineRecord, quarantine
from include.housing_data.settings import quarantine_uri, staging_uri

if TYPE_CHECKING:
    from housing_contracts import Manifest, PublishResult

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
    folder = staging_uri(dataset_uri(), run_id)
    staged = staging.stage(frame, folder, "extracted", storage_options=storage_options)
    log.info("extracted %d rows from %s, staged at %s", len(frame), source, staged)
    return {"staged": staged, "rows": len(frame), "source": source}


def clean_step(
    staged: str, *, run_id: str, max_drop_share: float, storage_options: dict[str, Any] | None
) -> dict[str, Any]:
    """Clean the staged raw frame and stage the result; return ``{"staged", "rows", "cleaning"}``."""
    frame = staging.load(staged, storage_options=storage_options)
    cleaned, report = clean(frame, max_drop_share=max_drop_share)
    for rule, removed in report.removed.items():
        log.info("cleaning rule %s removed %d rows", rule, removed)
    log.info(
        "cleaning kept %d of %d rows (removed %.3f%%, limit %.3f%%)",
        report.rows_out,
        report.rows_in,
        100 * report.removed_share,
        100 * max_drop_share,
    )
    folder = staging_uri(dataset_uri(), run_id)
    out = staging.stage(cleaned, folder, "cleaned", storage_options=storage_options)
    return {"staged": out, "rows": report.rows_out, "cleaning": report.to_dict()}


def publish_step(
    staged: str,
    *,
    run_id: str,
    producer: dict[str, str],
    extras: dict[str, Any],
    storage_options: dict[str, Any] | None,
) -> PublishResult:
    """Validate the staged frame and publish it as a snapshot.

    ``housing_contracts.publish`` checks every contract rule before it writes anything. A violation
    quarantines the report and the offending rows and raises :class:`Quarantined`: nothing is published.
    Idempotent: unchanged content creates no snapshot; publish then records that the newest one is
    still current, which keeps the freshness promise.
    """
    from housing_contracts import ContractViolation, publish

    frame = staging.load(staged, storage_options=storage_options)
    try:
        result = publish(
            frame, dataset_uri(), producer=producer, extras=extras, storage_options=storage_options
        )
    except ContractViolation as violation:
        record = quarantine(frame, violation, quarantine_uri(run_id), storage_options=storage_options)
        raise Quarantined(record) from violation
    if result.created:
        log.info("published snapshot %s (%d rows)", result.snapshot_uri, result.manifest.row_count)
    else:
        log.info(
            "content unchanged since snapshot %s: no new snapshot; confirmed it current",
            result.manifest.snapshot_id,
        )
    return result


def manifest_summary(manifest: Manifest) -> dict[str, Any]:
    """The manifest fields a consumer needs from the asset event, without reading the manifest."""
    return {
        "snapshot_id": manifest.snapshot_id,
        "row_count": manifest.row_count,
        "content_fingerprint": manifest.content_fingerprint,
        "contract_version": manifest.contract.version,
        "snapshot_uri": manifest.snapshot_uri,
    }


def remove_staging_step(*, run_id: str, storage_options: dict[str, Any] | None) -> int:
    """Delete the run's staging folder; return how many files went."""
    folder = staging_uri(dataset_uri(), run_id)
    removed = staging.remove(folder, storage_options=storage_options)
    log.info("removed %d staged files under %s", removed, folder)
    return removed
