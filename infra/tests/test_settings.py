"""Stack settings: .env.example is the one source; .env is generated from it with random secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from housing_contracts.contract.versions import DATASET_URI
from housing_stack.identities import IDENTITIES
from housing_stack.settings import (
    DEFAULTS,
    ENV_EXAMPLE_PATH,
    LAKE_BUCKET,
    MLFLOW_BUCKET,
    PLACEHOLDER,
    ensure_env_file,
    read_env_file,
)


def test_lake_bucket_is_the_dataset_uris_bucket() -> None:
    """LAKE_BUCKET in .env.example is the bucket of the contract's DATASET_URI."""
    assert DATASET_URI.removeprefix("s3://").split("/")[0] == LAKE_BUCKET


def test_example_fixes_the_documented_ports_and_buckets() -> None:
    """.env.example holds the ports and buckets infra/DESIGN.md names."""
    expected = {
        "S3_PORT": "9000",
        "MLFLOW_PORT": "5000",
        "AIRFLOW_DATA_PORT": "8080",
        "AIRFLOW_ML_PORT": "8081",
    }
    assert {key: DEFAULTS[key] for key in expected} == expected
    assert (LAKE_BUCKET, MLFLOW_BUCKET) == ("lake", "mlflow")


def test_example_commits_no_secret() -> None:
    """Every secret in .env.example is the placeholder."""
    secrets = {key: value for key, value in DEFAULTS.items() if "SECRET" in key or "PASSWORD" in key}
    assert secrets and set(secrets.values()) == {PLACEHOLDER}


def test_example_names_every_identitys_keys() -> None:
    """.env.example has a key id and a secret for each identity in identities.py."""
    for identity in IDENTITIES:
        assert identity.access_key_var in DEFAULTS and identity.secret_key_var in DEFAULTS


def test_every_port_is_distinct() -> None:
    """No two ports in .env.example collide."""
    ports = [value for key, value in DEFAULTS.items() if key.endswith("_PORT")]
    assert len(ports) == len(set(ports))


def test_env_file_is_generated_with_random_secrets(tmp_path: Path) -> None:
    """ensure_env_file copies the example, replacing each placeholder with a fresh secret."""
    first = ensure_env_file(tmp_path / ".env")
    other = ensure_env_file(tmp_path / "other.env")
    assert first.keys() == DEFAULTS.keys()
    assert PLACEHOLDER not in first.values()
    assert first["ML_TEAM_AWS_SECRET_ACCESS_KEY"] != other["ML_TEAM_AWS_SECRET_ACCESS_KEY"]
    assert first["S3_PORT"] == DEFAULTS["S3_PORT"]
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0


def test_env_file_is_kept_and_completed(tmp_path: Path) -> None:
    """A second call keeps existing values and only appends keys the example gained."""
    path = tmp_path / ".env"
    path.write_text("S3_PORT=19999\nAIRFLOW_DATA_PASSWORD=mine\n")
    settings = ensure_env_file(path)
    assert (settings["S3_PORT"], settings["AIRFLOW_DATA_PASSWORD"]) == ("19999", "mine")
    assert settings.keys() == DEFAULTS.keys()
    assert ensure_env_file(path) == settings


def test_malformed_line_is_named(tmp_path: Path) -> None:
    """A line that is not KEY=value fails with the file and line number."""
    path = tmp_path / ".env"
    path.write_text("# ok\nS3_PORT 9000\n")
    with pytest.raises(ValueError, match=r"\.env:2: expected KEY=value"):
        read_env_file(path)


def test_example_is_at_the_repository_root() -> None:
    """The example lives at the monorepo root, next to the Makefile."""
    assert (ENV_EXAMPLE_PATH.parent / "Makefile").is_file()
