"""Quarantined snapshots: folders moved out of ``snapshots/`` by their owner, bytes kept for inspection.

``<dataset>/_quarantine/<snapshot id>/`` holds the snapshot folder's files as they were (same relative
paths), and ``<dataset>/_quarantine/<snapshot id>.json`` the :class:`Quarantine` record: who, when, why, and
each file's size and sha256. Beside ``snapshots/``, so readers and the snapshot watcher never see them.
:func:`~housing_contracts.consumers.lifecycle.quarantine_snapshot` moves a snapshot there.

Standard library, fsspec and pydantic only: the CLI and the readers import it.
"""

from __future__ import annotations

import posixpath
from typing import Annotated, Any, ClassVar

from pydantic import Field
from pydantic.dataclasses import dataclass

from housing_contracts.lake.documents import STRICT, Record, SnapshotId, UtcTime, read_document

#: Beside (not in) the snapshots folder.
QUARANTINE_DIR = "_quarantine"
QUARANTINE_FORMAT = "housing-contracts/quarantine/1"


@dataclass(frozen=True, config=STRICT)
class QuarantinedFile:
    """One file of the quarantined folder, relative to it, as copied and verified."""

    path: Annotated[str, Field(description="relative to the snapshot folder")]
    size: Annotated[int, Field(description="size in bytes")]
    sha256: Annotated[str, Field(description="hex sha256 of the bytes")]


@dataclass(frozen=True, config=STRICT)
class Quarantine(Record):
    """A snapshot moved out of ``snapshots/``: why, by whom, and the files kept under ``_quarantine/<id>/``.
    Written once its copy is verified, before the folder is emptied; ``completed_at`` once it is."""

    FORMAT: ClassVar[str] = QUARANTINE_FORMAT

    snapshot_id: Annotated[SnapshotId, Field(description="the quarantined snapshot")]
    dataset_uri: Annotated[str, Field(description="the dataset it belonged to")]
    reason: Annotated[str, Field(description="why the owner quarantined it")]
    quarantined_by: Annotated[str, Field(description="who")]
    quarantined_at: Annotated[UtcTime, Field(description="when the copy was verified (UTC)")]
    manifest_problem: Annotated[
        str | None, Field(description="why readers skipped it then; None: it was readable")
    ]
    files: Annotated[tuple[QuarantinedFile, ...], Field(description="every file of the folder, kept")]
    completed_at: Annotated[
        UtcTime | None, Field(description="when the snapshot folder was emptied; None: not yet (re-run)")
    ] = None

    def text(self) -> str:
        """One line: id, when, who, why, and whether the move is complete."""
        state = "" if self.completed_at else " (INCOMPLETE: run quarantine again to finish)"
        return (
            f"{self.snapshot_id}: quarantined at {self.quarantined_at.isoformat(timespec='seconds')} by "
            f"{self.quarantined_by}: {self.reason}{state}"
        )


def quarantine_folder(root: str, snapshot_id: str) -> str:
    """Where the quarantined snapshot's files are kept."""
    return f"{root}/{QUARANTINE_DIR}/{snapshot_id}"


def quarantine_path(root: str, snapshot_id: str) -> str:
    """Its record."""
    return f"{root}/{QUARANTINE_DIR}/{snapshot_id}.json"


def read_quarantine(fs: Any, root: str, snapshot_id: str) -> Quarantine | None:
    """The quarantine record of ``snapshot_id``, or None; a malformed one raises ValueError naming it."""
    return read_document(fs, quarantine_path(root, snapshot_id), Quarantine)


def list_quarantined(fs: Any, root: str) -> tuple[list[Quarantine], list[str]]:
    """The quarantine records of the dataset at ``root`` (by snapshot id), and the unreadable ones named.
    One listing of ``_quarantine/`` and one batched read."""
    try:
        listing = fs.ls(f"{root}/{QUARANTINE_DIR}", detail=False)
    except FileNotFoundError:
        return [], []
    paths = sorted(p for p in listing if posixpath.basename(p).endswith(".json"))
    contents = fs.cat(paths, on_error="return") if paths else {}
    records, problems = [], []
    for path in paths:
        content = contents.get(path)
        try:
            if isinstance(content, BaseException) or content is None:
                raise ValueError(f"unreadable: {content}")
            records.append(Quarantine.from_json(content))
        except ValueError as exc:
            problems.append(f"{path}: {exc}")
    return records, problems


def quarantine_note(fs: Any, root: str, snapshot_id: str) -> str | None:
    """``quarantined at … by …: <reason>`` if ``snapshot_id`` was quarantined, else None (for not-found
    errors: an operator asking for it learns where it went)."""
    try:
        record = read_quarantine(fs, root, snapshot_id)
    except (ValueError, OSError):
        return None
    if record is None:
        return None
    return f"{record.text()}; its files are kept in {quarantine_folder(root, snapshot_id)}"
