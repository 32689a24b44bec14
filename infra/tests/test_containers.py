"""The container flavour's pieces that need no running engine: the Astro settings loader, the inputs hash
that decides a rebuild, the message when no engine is installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from housing_stack.containers import base_images, inputs_hash, settings_commands
from housing_stack.settings import REPO_ROOT


def test_settings_load_the_ml_teams_connections() -> None:
    """ml-team's airflow_settings.yaml becomes `airflow connections add` calls carrying every field."""
    commands = settings_commands(REPO_ROOT / "ml-team" / "airflow_settings.yaml")
    adds = {c[3]: c for c in commands if c[:3] == ["airflow", "connections", "add"]}
    assert set(adds) == {"lake_s3", "mlflow"}
    lake = adds["lake_s3"]
    assert lake[lake.index("--conn-type") + 1] == "aws"
    assert lake[lake.index("--conn-login") + 1] == "ml-team-access-key-placeholder"
    extra = json.loads(lake[lake.index("--conn-extra") + 1])
    assert extra == {"endpoint_url": "http://127.0.0.1:9000", "region_name": "us-east-1"}
    assert adds["mlflow"][adds["mlflow"].index("--conn-port") + 1] == "5000"


def test_settings_load_variables_and_pools(tmp_path: Path) -> None:
    """Variables and pools in the Astro CLI's format become `variables set` and `pools set` calls."""
    settings = tmp_path / "airflow_settings.yaml"
    settings.write_text(
        "airflow:\n  connections: []\n"
        "  variables:\n    - variable_name: region\n      variable_value: eu\n"
        "  pools:\n    - pool_name: lake\n      pool_slot: 2\n      pool_description: S3 writes\n"
    )
    assert settings_commands(settings) == [
        ["airflow", "variables", "set", "region", "eu"],
        ["airflow", "pools", "set", "lake", "2", "S3 writes"],
    ]


def test_a_changed_input_changes_the_hash_of_the_image_and_its_children(tmp_path: Path) -> None:
    """A base is rebuilt when a file of its context changes, and so is every image built on it."""
    images = base_images()

    def hashes() -> dict[str, str]:
        found: dict[str, str] = {}
        for image in images.values():
            found[image.key] = inputs_hash(image, found)
        return found

    before = hashes()
    context = tmp_path / "python"
    context.mkdir()
    for path in images["python"].context.iterdir():
        (context / path.name).write_bytes(path.read_bytes())
    (context / "Dockerfile").write_text((context / "Dockerfile").read_text() + "\nRUN true\n")
    images["python"] = images["python"].__class__(**{**images["python"].__dict__, "context": context})
    after = hashes()
    assert after["debian"] == before["debian"]
    assert all(after[key] != before[key] for key in ("python", "astro-runtime", "seaweedfs", "postgres"))


def test_up_without_an_engine_names_what_is_missing_and_how_to_install_it(tmp_path: Path) -> None:
    """With neither Docker nor Podman on PATH, `up --flavour docker` names podman and runc and the
    command that installs them, and starts nothing."""
    env = {**os.environ, "PATH": str(tmp_path), "HOUSING_STACK_STATE_DIR": str(tmp_path / "state")}
    result = subprocess.run(
        [sys.executable, "-m", "housing_stack", "up", "--flavour", "docker"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "no container engine" in result.stderr
    assert "podman is not installed; install it with: make install-servers" in result.stderr
    assert "runc is not installed" in result.stderr
