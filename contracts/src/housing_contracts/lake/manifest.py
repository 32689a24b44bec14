"""The snapshot manifest (``_manifest.json``): what a snapshot holds and how to verify it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from housing_contracts.contract.errors import SnapshotIntegrityError

MANIFEST_NAME = "_manifest.json"


@dataclass(frozen=True)
class ContractRef:
    """The contract a snapshot was published under."""

    name: str = field(metadata={"description": "contract name, e.g. california_housing"})
    version: str = field(metadata={"description": "semantic version of the contract, e.g. 1.0.0"})

    @property
    def major(self) -> int:
        """The major version: readers refuse snapshots of another major."""
        return int(self.version.split(".")[0])


@dataclass(frozen=True)
class ManifestFile:
    """One data file of a snapshot, relative to the snapshot folder."""

    path: str = field(metadata={"description": "file name inside the snapshot folder"})
    size: int = field(metadata={"description": "size in bytes"})
    sha256: str = field(metadata={"description": "hex sha256 of the file's bytes"})


@dataclass(frozen=True)
class ColumnStats:
    """Summary statistics of one column, for humans and drift checks."""

    min: float
    max: float
    mean: float
    null_count: int


@dataclass(frozen=True)
class Manifest:
    """A committed snapshot: the contract it obeys, its files and fingerprints. Written last."""

    contract: ContractRef
    schema_fingerprint: str = field(
        metadata={"description": "sha256 of the contract's canonical description"}
    )
    dataset_uri: str = field(metadata={"description": "URI of the dataset the snapshot belongs to"})
    snapshot_id: str = field(metadata={"description": "YYYYMMDDTHHMMSS.ffffffZ-<8 hex>, sorts by time"})
    created_at: datetime = field(metadata={"description": "UTC time of the publish"})
    producer: dict[str, Any] = field(metadata={"description": "who published: dag_id, run_id when known"})
    row_count: int = field(metadata={"description": "rows in the snapshot"})
    files: tuple[ManifestFile, ...] = field(metadata={"description": "data files in read order"})
    content_fingerprint: str = field(metadata={"description": "sha256 of the data, independent of encoding"})
    stats: dict[str, ColumnStats] = field(metadata={"description": "per-column min, max, mean, null count"})
    extras: dict[str, Any] = field(default_factory=dict, metadata={"description": "free-form producer data"})
    deprecation: dict[str, str] | None = field(
        default=None,
        metadata={"description": "on a deprecated major: sunset (YYYY-MM-DD) and successor_uri; else absent"},
    )

    @property
    def snapshot_uri(self) -> str:
        """``<dataset_uri>/snapshots/<snapshot_id>``."""
        return f"{self.dataset_uri}/snapshots/{self.snapshot_id}"

    def summary(self) -> dict[str, Any]:
        """What a consumer needs to know of the snapshot without reading it (asset events, reports)."""
        return {
            "snapshot_id": self.snapshot_id,
            "row_count": self.row_count,
            "content_fingerprint": self.content_fingerprint,
            "contract_version": self.contract.version,
            "snapshot_uri": self.snapshot_uri,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict in the documented key order (the order of the fields)."""
        data = asdict(self) | {
            "created_at": self.created_at.isoformat(),
            "files": [asdict(f) for f in self.files],
        }
        if self.deprecation is None:
            del data["deprecation"]
        return data

    def to_json(self) -> str:
        """The manifest as indented JSON (what ``_manifest.json`` holds)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """Parse a manifest dict; :class:`SnapshotIntegrityError` names the first missing or bad key."""
        if not isinstance(data, dict):
            raise SnapshotIntegrityError(f"manifest must be a JSON object, got {type(data).__name__}")
        try:
            return cls(
                contract=ContractRef(str(data["contract"]["name"]), str(data["contract"]["version"])),
                schema_fingerprint=str(data["schema_fingerprint"]),
                dataset_uri=str(data["dataset_uri"]),
                snapshot_id=str(data["snapshot_id"]),
                created_at=datetime.fromisoformat(data["created_at"]),
                producer=dict(data.get("producer") or {}),
                row_count=int(data["row_count"]),
                files=tuple(
                    ManifestFile(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in data["files"]
                ),
                content_fingerprint=str(data["content_fingerprint"]),
                stats={
                    column: ColumnStats(
                        float(s["min"]), float(s["max"]), float(s["mean"]), int(s["null_count"])
                    )
                    for column, s in (data.get("stats") or {}).items()
                },
                extras=dict(data.get("extras") or {}),
                deprecation=_deprecation(data.get("deprecation")),
            )
        except KeyError as exc:
            raise SnapshotIntegrityError(f"manifest is missing the key {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise SnapshotIntegrityError(f"manifest has a malformed value: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        """Parse ``_manifest.json`` content."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SnapshotIntegrityError(f"manifest is not valid JSON: {exc}") from None
        return cls.from_dict(data)


def _deprecation(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not {"sunset", "successor_uri"} <= value.keys():
        raise ValueError(f"deprecation must hold sunset and successor_uri, got {value!r}")
    return {"sunset": str(value["sunset"]), "successor_uri": str(value["successor_uri"])}
