"""Ends, by the owner: :func:`retire` ends a major version (its retirement record, see
:mod:`housing_contracts.lake.retirement`), refused while a consumer still reads it;
:func:`quarantine_snapshot` moves one snapshot out of ``snapshots/``, keeping its bytes (see
:mod:`housing_contracts.lake.quarantine`).

Standard library, fsspec and pydantic only: the CLI, the producer and its UI plugin import it.
"""

from __future__ import annotations

import contextlib
import posixpath
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal

from housing_contracts.consumers.lag import ConsumerLag, consumer_lag, format_duration
from housing_contracts.contract.errors import ContractError, SnapshotNotFoundError
from housing_contracts.contract.versions import CONTRACTS, SNAPSHOTS_DIR, Contract, contract_for
from housing_contracts.lake.catalog import newest_readable, read_manifests
from housing_contracts.lake.documents import write_document
from housing_contracts.lake.layout import MANIFEST_NAME, SNAPSHOT_ID_PATTERN, committed_snapshot_ids
from housing_contracts.lake.quarantine import (
    Quarantine,
    QuarantinedFile,
    quarantine_folder,
    quarantine_path,
    read_quarantine,
)
from housing_contracts.lake.retirement import RETIRED_NAME, Retirement, read_retirement
from housing_contracts.lake.storage import copy_verified, ensure_dir, is_local, resolve


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


# --- quarantine ----------------------------------------------------------------------------------------


class QuarantineRefused(ContractError):
    """The snapshot is readable (consumers may read it): quarantining it needs ``force``."""


@dataclass(frozen=True)
class QuarantineOutcome:
    """What :func:`quarantine_snapshot` did (or, with ``dry_run``, would do)."""

    action: Literal["planned", "quarantined", "resumed", "already quarantined"]
    record: Quarantine
    #: for a readable snapshot: who reads it and what "latest" becomes; None for a corrupt or foreign one
    warning: str | None

    def text(self) -> str:
        """What happened, the files, and the warning, as the CLI prints it."""
        size = sum(f.size for f in self.record.files)
        lines = [
            f"{self.record.snapshot_id}: {self.action}"
            + (" (dry run: nothing changed)" if self.action == "planned" else ""),
            f"  reason: {self.record.reason} (by {self.record.quarantined_by})",
            f"  manifest: {self.record.manifest_problem or 'readable'}",
            f"  files: {len(self.record.files)}, {size} bytes",
        ]
        lines += [
            f"    {f.path} {f.size} bytes" + (f" sha256 {f.sha256}" if f.sha256 else "")
            for f in self.record.files
        ]
        if self.warning:
            lines.append(f"  WARNING: {self.warning}")
        return "\n".join(lines)


def quarantine_snapshot(
    uri: str,
    snapshot_id: str,
    *,
    reason: str,
    by: str,
    force: bool = False,
    dry_run: bool = False,
    now: datetime | None = None,
    storage_options: dict[str, Any] | None = None,
) -> QuarantineOutcome:
    """Move snapshot ``snapshot_id`` of the dataset at ``uri`` to ``<uri>/_quarantine/<id>/``, keeping every
    byte, and write its :class:`~housing_contracts.lake.quarantine.Quarantine` record (who, when, why).

    Run by the dataset's owner: it writes beside ``snapshots/`` and deletes from it (a reader's identity
    gets the store's PermissionError before anything moves). Copy, verify each copy's size and sha256
    against the original, write the record, then delete the original folder, manifest first (so readers
    stop seeing the snapshot before any part goes). A run stopped halfway loses nothing; running it again
    completes it (with the first run's reason and author); once complete it is a no-op.

    A corrupt or foreign snapshot (readers skip it already) goes without asking. A readable one may be read
    by consumers: :class:`QuarantineRefused` names them unless ``force`` (the owner's call); with ``force``
    the outcome's ``warning`` says the same. A folder without a manifest (never committed, or a publish
    still writing it) is refused too unless ``force``. ``dry_run`` reads, decides and changes nothing.
    """
    if not SNAPSHOT_ID_PATTERN.match(snapshot_id):
        raise SnapshotNotFoundError(f"{snapshot_id!r} is not a snapshot id (YYYYMMDDTHHMMSS.ffffffZ-<8 hex>)")
    if not reason.strip():
        raise ValueError("a quarantine needs a reason (recorded for whoever inspects it)")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    fs, root = resolve(uri, storage_options)
    folder = f"{root}/{SNAPSHOTS_DIR}/{snapshot_id}"
    fs.invalidate_cache()
    present = _files_below(fs, folder)
    existing = read_quarantine(fs, root, snapshot_id)
    if existing is not None and not present:
        if existing.completed_at is None and not dry_run:
            existing = replace(existing, completed_at=now)  # stopped after the last delete
            write_document(fs, quarantine_path(root, snapshot_id), existing)
        return QuarantineOutcome("already quarantined", existing, None)
    if not present:
        raise SnapshotNotFoundError(
            f"snapshot {snapshot_id} has no files under {folder}: nothing to quarantine"
        )

    warning = None
    if MANIFEST_NAME in present:
        listing = read_manifests(fs, root, [snapshot_id])
        problem = listing.skipped[0].reason if listing.skipped else None
        if problem is None:
            warning = _readers_warning(uri, fs, root, snapshot_id, now, storage_options)
            if not force:
                raise QuarantineRefused(
                    f"snapshot {snapshot_id} of {uri} is readable: {warning}. Quarantine it anyway with "
                    "force (--force): it is the owner's call"
                )
    elif existing is not None:  # a half-done quarantine: the manifest goes first
        problem = existing.manifest_problem
    else:
        problem = f"no {MANIFEST_NAME}: an uncommitted folder"
        if not force:
            # readers never see it, and a publish may still be writing it: moving it would break that commit
            raise QuarantineRefused(
                f"snapshot {snapshot_id} of {uri} has no {MANIFEST_NAME}: readers never see it, and a "
                "publish may still be writing it. Quarantine it anyway with force (--force) once none runs"
            )
    if existing is not None and existing.completed_at is None:
        planned = existing  # resume with the first run's reason and author
    else:
        planned = Quarantine(
            snapshot_id=snapshot_id,
            dataset_uri=str(uri).rstrip("/"),
            reason=reason,
            quarantined_by=by,
            quarantined_at=now,
            manifest_problem=problem,
            files=tuple(QuarantinedFile(path, size, "") for path, size in sorted(present.items())),
        )
    if dry_run:
        return QuarantineOutcome("planned", planned, warning)

    kept = {f.path: f for f in planned.files if f.sha256} if planned is existing else {}
    for path in sorted(set(present) | set(kept)):
        kept[path] = _keep(fs, root, folder, snapshot_id, path, kept.get(path), present)
    record = replace(planned, files=tuple(kept[path] for path in sorted(kept)))
    write_document(fs, quarantine_path(root, snapshot_id), record)
    # the manifest first: readers stop seeing the snapshot before any of its parts goes
    for path in sorted(present, key=lambda name: name != MANIFEST_NAME):
        fs.rm(f"{folder}/{path}")
    if is_local(fs):
        with contextlib.suppress(OSError):
            fs.rm(folder, recursive=True)  # the empty directories
    fs.invalidate_cache()
    record = replace(record, completed_at=datetime.now(UTC))
    write_document(fs, quarantine_path(root, snapshot_id), record)
    return QuarantineOutcome("resumed" if planned is existing else "quarantined", record, warning)


def _files_below(fs: Any, folder: str) -> dict[str, int]:
    """Relative path -> size of every file under ``folder`` (none if it does not exist)."""
    try:
        found = fs.find(folder, detail=True)
    except FileNotFoundError:
        return {}
    return {
        posixpath.relpath(path, folder): int(info.get("size") or 0)
        for path, info in found.items()
        if info.get("type") != "directory"
    }


class _Discard:
    def write(self, data: bytes) -> int:
        return len(data)


def _keep(
    fs: Any,
    root: str,
    folder: str,
    snapshot_id: str,
    path: str,
    recorded: QuarantinedFile | None,
    present: dict[str, int],
) -> QuarantinedFile:
    """Copy ``path`` into the quarantine folder (unless only the copy is left), then verify the copy's size
    and sha256: against the original's as read, or against the record of the run that copied it."""
    target = f"{quarantine_folder(root, snapshot_id)}/{path}"
    if path in present:
        ensure_dir(fs, posixpath.dirname(target))
        with fs.open(target, "wb") as sink:
            size, sha256 = copy_verified(fs, f"{folder}/{path}", sink)
        if recorded is not None and (size, sha256) != (recorded.size, recorded.sha256):
            raise OSError(
                f"{folder}/{path} changed since the quarantine began: size {size} sha256 {sha256}, recorded "
                f"{recorded.size} {recorded.sha256}; nothing was deleted"
            )
        expected = QuarantinedFile(path, size, sha256)
    elif recorded is not None:
        expected = recorded
    else:
        raise OSError(f"{folder}/{path}: neither the original nor a recorded copy exists")
    try:
        copied = copy_verified(fs, target, _Discard())  # type: ignore[arg-type]
    except FileNotFoundError:
        copied = None
    if copied != (expected.size, expected.sha256):
        raise OSError(
            f"{target}: the copy does not match {folder}/{path} (expected size {expected.size} sha256 "
            f"{expected.sha256}, found {copied}); nothing of it was deleted"
        )
    return expected


def _readers_warning(
    uri: str, fs: Any, root: str, snapshot_id: str, now: datetime, storage_options: dict[str, Any] | None
) -> str:
    """Who consumed snapshot ``snapshot_id`` and what the newest readable snapshot becomes without it."""
    ids = committed_snapshot_ids(fs, root)
    parts = []
    newest, _ = newest_readable(fs, root, ids)
    if newest is not None and newest.snapshot_id == snapshot_id:
        before, _ = newest_readable(fs, root, [i for i in ids if i < snapshot_id])
        parts.append(
            "it is the newest readable snapshot; readers of the newest get "
            f"{before.snapshot_id if before else 'none'} instead"
        )
    try:
        rows = consumer_lag(uri, now=now, storage_options=storage_options)
    except OSError as exc:
        parts.append(f"its consumers could not be listed: {exc}")
    else:
        read = [
            row.consumer for row in rows if snapshot_id in (row.consumed_snapshot_id, row.last_snapshot_id)
        ]
        if read:
            parts.append(f"consumer(s) {', '.join(read)} read it last")
    return "; ".join(parts) or "no consumer has a receipt for it, but any may read it"
