"""The manifest: JSON round trip and clear errors for malformed manifests."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from housing_contracts import Manifest, SnapshotIntegrityError
from housing_contracts.lake.manifest import ColumnStats, ContractRef, ManifestFile


def _manifest() -> Manifest:
    return Manifest(
        contract=ContractRef("california_housing", "1.0.0"),
        schema_fingerprint="sha256:abc",
        dataset_uri="s3://lake/california_housing/v1",
        snapshot_id="20261123T201208.123456Z-1a2b3c4d",
        created_at=datetime(2026, 11, 23, 20, 12, 8, 123456, tzinfo=UTC),
        producer={"dag_id": "housing_producer", "run_id": "manual__1"},
        row_count=20_621,
        files=(ManifestFile("part-00000.parquet", 123, "ff" * 32),),
        content_fingerprint="sha256:def",
        stats={"MedInc": ColumnStats(0.5, 15.0, 3.87, 0)},
        extras={"cleaning": {"duplicates": 0}},
    )


def test_manifest_round_trips_through_json() -> None:
    """to_json then from_json gives the same manifest."""
    manifest = _manifest()
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_manifest_json_has_the_documented_keys() -> None:
    """The JSON carries exactly the keys DESIGN.md documents."""
    keys = set(json.loads(_manifest().to_json()))
    assert keys == {
        "contract", "schema_fingerprint", "dataset_uri", "snapshot_id", "created_at", "producer",
        "row_count", "files", "content_fingerprint", "stats", "extras",
    }  # fmt: skip


def test_snapshot_uri_joins_dataset_uri_and_id() -> None:
    """snapshot_uri = <dataset_uri>/snapshots/<snapshot_id>."""
    assert (
        _manifest().snapshot_uri
        == "s3://lake/california_housing/v1/snapshots/20261123T201208.123456Z-1a2b3c4d"
    )


def test_missing_key_is_an_integrity_error_naming_it() -> None:
    """A manifest without row_count is rejected with the key's name."""
    data = _manifest().to_dict()
    del data["row_count"]
    with pytest.raises(SnapshotIntegrityError, match="row_count"):
        Manifest.from_dict(data)


def test_invalid_json_is_an_integrity_error() -> None:
    """A truncated manifest file is rejected as not JSON."""
    with pytest.raises(SnapshotIntegrityError, match="not valid JSON"):
        Manifest.from_json(_manifest().to_json()[:40])


def test_contract_major_is_read_from_the_version() -> None:
    """ContractRef.major is the first component of the version."""
    assert ContractRef("california_housing", "2.3.1").major == 2
