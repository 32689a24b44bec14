"""The producer's confirmation that the dataset is current: ``<dataset>/_current.json``.

The freshness promise is about the data being current, not about bytes changing. A daily producer whose
source did not change commits no new snapshot (publish is idempotent); it records instead that, at
``confirmed_at``, the newest snapshot still held its data. :func:`~housing_contracts.lake.snapshots.publish`
writes the record whenever it finds its content unchanged and whenever it commits a new snapshot;
:func:`~housing_contracts.consumers.freshness.check_freshness` reads it. One small file, overwritten
atomically.

Standard library, fsspec and pydantic only (the Airflow tasks that check freshness import it).
"""

from __future__ import annotations

from dataclasses import field
from typing import Annotated, Any, ClassVar

from pydantic import Field, JsonValue
from pydantic.dataclasses import dataclass

from housing_contracts.lake.documents import (
    STRICT,
    Record,
    SnapshotId,
    UtcTime,
    read_document,
    write_document,
)
from housing_contracts.lake.layout import CURRENT_NAME

CONFIRMATION_FORMAT = "housing-contracts/current/1"


@dataclass(frozen=True, config=STRICT)
class Confirmation(Record):
    """The producer's word that snapshot ``snapshot_id`` held the current data at ``confirmed_at``."""

    FORMAT: ClassVar[str | None] = CONFIRMATION_FORMAT

    snapshot_id: Annotated[SnapshotId, Field(description="the newest snapshot when the producer confirmed")]
    confirmed_at: Annotated[UtcTime, Field(description="when the producer confirmed it (UTC)")]
    producer: Annotated[
        dict[str, JsonValue], Field(description="who confirmed: dag_id, run_id as given to publish")
    ] = field(default_factory=dict)


def current_path(root: str) -> str:
    """Where the dataset at ``root`` keeps its confirmation."""
    return f"{root}/{CURRENT_NAME}"


def confirm_current(fs: Any, root: str, confirmation: Confirmation) -> None:
    """Record ``confirmation``, replacing the previous one (readers see the old or the new, whole)."""
    write_document(fs, current_path(root), confirmation)


def read_confirmation(fs: Any, root: str) -> Confirmation | None:
    """The dataset's confirmation, or None if there is none yet. ValueError (naming the file) if it cannot
    be parsed; storage errors propagate."""
    return read_document(fs, current_path(root), Confirmation)
