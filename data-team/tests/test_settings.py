"""Settings: where a run's staged frames and quarantined evidence live."""

from __future__ import annotations

import pytest

from include.housing_data.settings import QUARANTINE_ROOT, quarantine_uri, run_key, staging_uri


def test_run_key_replaces_characters_unsafe_in_object_keys() -> None:
    """':' and '+' of an Airflow run id become '_' so the key is the same for every S3 client."""
    assert run_key("manual__2026-11-23T20:12:08.123456+00:00") == "manual__2026-11-23T20_12_08.123456_00_00"


def test_run_key_rejects_an_empty_run_id() -> None:
    """An empty run id would put every run in one folder, so it is refused."""
    with pytest.raises(ValueError, match="run_id must be a non-empty string"):
        run_key("")


def test_staging_sits_next_to_the_dataset_version() -> None:
    """Staging is a sibling of the version folder: inside the dataset prefix, outside its snapshots."""
    assert staging_uri("s3://lake/california_housing/v1", "r1") == "s3://lake/california_housing/_staging/r1"


def test_quarantine_folder_is_per_run() -> None:
    """Each run quarantines under its own folder of the quarantine root."""
    assert quarantine_uri("scheduled__x+1") == f"{QUARANTINE_ROOT}/scheduled__x_1"
