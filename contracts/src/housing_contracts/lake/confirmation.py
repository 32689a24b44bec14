"""The producer's confirmation that the dataset is current: ``<dataset>/_current.json``.

The freshness promise is about the data being current, not about bytes changing. A daily producer whose
source did not change commits no new snapshot (publish is idempotent); it records instead that, at
``confirmed_at``, the newest snapshot still held its data. :func:`~housing_contracts.lake.snapshots.publish`
writes the record whenever it finds its content unchanged and whenever it commits a new snapshot;
:func:`~housing_contracts.consumers.freshness.check_freshness` reads it. One small file, overwritten
atomically.

Standard library and fsspec only (the Airflow tasks that check freshness import it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from housing_contracts.lake.layout import CURRENT_NAME, SNAPSHOT_ID_PATTERN
from housing_contracts.lake.storage import write_atomic

CONFIRMATION_FORMAT = "housing-contracts/current/1"
_KEYS = ("format", "snapshot_id", "confirmed_at", "producer")


@dataclass(frozen=True)
class Confirmation:
    """The producer's word that snapshot ``snapshot_id`` held the current data at ``confirmed_at``."""

    snapshot_id: str = field(metadata={"description": "the newest snapshot when the producer confirmed"})
    confirmed_at: datetime = field(metadata={"description": "when the producer confirmed it (UTC)"})
    producer: dict[str, Any] = field(
        default_factory=dict, metadata={"description": "who confirmed: dag_id, run_id as given to publish"}
    )

    def __post_init__(self) -> None:
        if not isinstance(self.snapshot_id, str) or not SNAPSHOT_ID_PATTERN.fullmatch(self.snapshot_id):
            raise ValueError(f"confirmation 'snapshot_id': expected a snapshot id, got {self.snapshot_id!r}")
        if not isinstance(self.confirmed_at, datetime) or self.confirmed_at.tzinfo is None:
            raise ValueError(
                f"confirmation 'confirmed_at': expected a timezone-aware time, got {self.confirmed_at!r}"
            )
        if not isinstance(self.producer, dict):
            raise ValueError(f"confirmation 'producer': expected a JSON object, got {self.producer!r}")
        object.__setattr__(self, "confirmed_at", self.confirmed_at.astimezone(UTC))

    def to_json(self) -> bytes:
        """The record as ``_current.json`` holds it."""
        document = {
            "format": CONFIRMATION_FORMAT,
            "snapshot_id": self.snapshot_id,
            "confirmed_at": self.confirmed_at.isoformat(),
            "producer": self.producer,
        }
        return (json.dumps(document, indent=2, allow_nan=False) + "\n").encode()

    @classmethod
    def from_json(cls, data: str | bytes) -> Confirmation:
        """Parse ``_current.json``; ValueError says what is wrong (not JSON, another format, a bad field)."""
        try:
            document = json.loads(data)
        except ValueError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise ValueError(f"expected a JSON object, got {type(document).__name__}")
        if document.get("format") != CONFIRMATION_FORMAT:
            raise ValueError(f"format {document.get('format')!r}, expected {CONFIRMATION_FORMAT!r}")
        if missing := [key for key in _KEYS if key not in document]:
            raise ValueError(f"missing field(s) {', '.join(missing)}")
        confirmed_at = document["confirmed_at"]
        try:
            confirmed_at = datetime.fromisoformat(confirmed_at)
        except (TypeError, ValueError):
            raise ValueError(f"confirmation 'confirmed_at': not an ISO time: {confirmed_at!r}") from None
        return cls(document["snapshot_id"], confirmed_at, document["producer"])


def current_path(root: str) -> str:
    """Where the dataset at ``root`` keeps its confirmation."""
    return f"{root}/{CURRENT_NAME}"


def confirm_current(fs: Any, root: str, confirmation: Confirmation) -> None:
    """Record ``confirmation``, replacing the previous one (readers see the old or the new, whole)."""
    write_atomic(fs, current_path(root), confirmation.to_json())


def read_confirmation(fs: Any, root: str) -> Confirmation | None:
    """The dataset's confirmation, or None if there is none yet. ValueError if it cannot be parsed;
    storage errors propagate."""
    try:
        data = fs.cat_file(current_path(root))
    except FileNotFoundError:
        return None
    return Confirmation.from_json(data)
