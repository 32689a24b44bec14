"""The snapshot manifest (``_manifest.json``): what a snapshot holds and how to verify it.

A lake document (:class:`~housing_contracts.lake.documents.Record`), untagged as 2.0.0 wrote it; a
malformed one is a :class:`~housing_contracts.contract.errors.SnapshotIntegrityError`.
"""

from __future__ import annotations

from dataclasses import field
from typing import Annotated, Any, ClassVar

from pydantic import Field, JsonValue
from pydantic.dataclasses import dataclass
from typing_extensions import TypedDict

from housing_contracts.contract.errors import SnapshotIntegrityError, SnapshotNotFoundError
from housing_contracts.contract.versions import SNAPSHOTS_DIR
from housing_contracts.lake.documents import STRICT, Record, SnapshotId, UtcTime, read_document
from housing_contracts.lake.layout import MANIFEST_NAME


@dataclass(frozen=True, config=STRICT)
class ContractRef:
    """The contract a snapshot was published under."""

    name: Annotated[str, Field(description="contract name, e.g. california_housing")]
    version: Annotated[str, Field(description="semantic version of the contract, e.g. 1.0.0")]

    @property
    def major(self) -> int:
        """The major version: readers refuse snapshots of another major."""
        return int(self.version.split(".")[0])


@dataclass(frozen=True, config=STRICT)
class ManifestFile:
    """One data file of a snapshot, relative to the snapshot folder."""

    path: Annotated[str, Field(description="file name inside the snapshot folder")]
    size: Annotated[int, Field(description="size in bytes")]
    sha256: Annotated[str, Field(description="hex sha256 of the file's bytes")]


@dataclass(frozen=True, config=STRICT)
class ColumnStats:
    """Summary statistics of one column, for humans and drift checks."""

    min: float
    max: float
    mean: float
    null_count: int


class Deprecation(TypedDict):
    """On a deprecated major: until when it is published (YYYY-MM-DD) and where its consumers go."""

    sunset: str
    successor_uri: str


@dataclass(frozen=True, config=STRICT)
class Manifest(Record):
    """A committed snapshot: the contract it obeys, its files and fingerprints. Written last."""

    FORMAT: ClassVar[str | None] = None
    ERROR: ClassVar[type[Exception]] = SnapshotIntegrityError

    contract: ContractRef
    schema_fingerprint: Annotated[str, Field(description="sha256 of the contract's canonical description")]
    dataset_uri: Annotated[str, Field(description="URI of the dataset the snapshot belongs to")]
    snapshot_id: Annotated[SnapshotId, Field(description="YYYYMMDDTHHMMSS.ffffffZ-<8 hex>, sorts by time")]
    created_at: Annotated[UtcTime, Field(description="UTC time of the publish")]
    producer: Annotated[dict[str, JsonValue], Field(description="who published: dag_id, run_id when known")]
    row_count: Annotated[int, Field(description="rows in the snapshot")]
    files: Annotated[tuple[ManifestFile, ...], Field(description="data files in read order")]
    content_fingerprint: Annotated[str, Field(description="sha256 of the data, independent of encoding")]
    stats: Annotated[dict[str, ColumnStats], Field(description="per-column min, max, mean, null count")]
    extras: Annotated[dict[str, JsonValue], Field(description="free-form producer data")] = field(
        default_factory=dict
    )
    deprecation: Annotated[
        Deprecation | None,
        Field(description="on a deprecated major: sunset (YYYY-MM-DD) and successor_uri; else absent"),
    ] = None

    @property
    def snapshot_uri(self) -> str:
        """``<dataset_uri>/snapshots/<snapshot_id>``."""
        return f"{self.dataset_uri}/{SNAPSHOTS_DIR}/{self.snapshot_id}"

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
        """A JSON-ready dict in the documented key order (the order of the fields); no ``deprecation``
        key on a live major."""
        data = super().to_dict()
        if data["deprecation"] is None:
            del data["deprecation"]
        return data


def read_manifest(fs: Any, root: str, snapshot_id: str) -> Manifest:
    """The manifest of committed snapshot ``snapshot_id`` under ``root``: :class:`SnapshotNotFoundError`
    without one, :class:`SnapshotIntegrityError` (naming the file) if it is malformed or names another
    snapshot."""
    path = f"{root}/{SNAPSHOTS_DIR}/{snapshot_id}/{MANIFEST_NAME}"
    manifest = read_document(fs, path, Manifest)
    if manifest is None:
        raise SnapshotNotFoundError(f"snapshot {snapshot_id} has no {MANIFEST_NAME} at {path}")
    if manifest.snapshot_id != snapshot_id:
        raise SnapshotIntegrityError(
            f"snapshot {snapshot_id}: manifest names snapshot_id {manifest.snapshot_id!r}, "
            "expected the folder name"
        )
    return manifest
