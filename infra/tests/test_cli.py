"""The housing-stack CLI (what the Makefile's up/down/status/logs/env targets run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from housing_stack.cli import Flavour, app, resolve_flavour
from housing_stack.ports import free_ports
from housing_stack.settings import DEFAULTS, REPO_ROOT, read_env_file

runner = CliRunner()


@pytest.fixture
def paths(tmp_path: Path) -> list[str]:
    """Options pointing the CLI at a private .env (free ports, so a running `make up` stack is not seen)
    and a private state directory."""
    port_keys = [key for key in DEFAULTS if key.endswith("_PORT")]
    ports = free_ports(len(port_keys))
    lines = [f"{key}={port}\n" for key, port in zip(port_keys, ports, strict=True)]
    (tmp_path / ".env").write_text("".join(lines))
    return ["--env-file", str(tmp_path / ".env"), "--state-dir", str(tmp_path / "state")]


def test_env_prints_exports_of_the_generated_env_file(paths: list[str], tmp_path: Path) -> None:
    """`env` completes .env with generated secrets and prints export lines from it."""
    result = runner.invoke(app, [*paths, "env"])
    assert result.exit_code == 0, result.output
    settings = read_env_file(tmp_path / ".env")
    lines = result.output.splitlines()
    assert f"export AWS_SECRET_ACCESS_KEY={settings['ADMIN_AWS_SECRET_ACCESS_KEY']}" in lines
    assert f"export AIRFLOW_DATA_URL=http://127.0.0.1:{settings['AIRFLOW_DATA_PORT']}" in lines
    assert all(line.startswith("export ") for line in lines)


def test_status_of_a_stopped_stack_fails(paths: list[str]) -> None:
    """`status` lists every component as stopped and exits 1."""
    result = runner.invoke(app, [*paths, "status", "--flavour", "native"])
    assert result.exit_code == 1
    for name in ("s3", "mlflow", "airflow-data", "airflow-ml"):
        assert any(line.startswith(name) and line.endswith("stopped") for line in result.output.splitlines())


def test_down_of_a_stopped_stack_succeeds(paths: list[str]) -> None:
    """`down` with nothing running exits 0."""
    result = runner.invoke(app, [*paths, "down", "--flavour", "native"])
    assert result.exit_code == 0 and "stack stopped" in result.output


def test_logs_of_unknown_component_fail(paths: list[str]) -> None:
    """`logs kafka` exits 1 naming the known components."""
    result = runner.invoke(app, [*paths, "logs", "kafka", "--flavour", "native"])
    assert result.exit_code == 1 and "airflow-ml" in result.output


def test_logs_before_up_fail(paths: list[str]) -> None:
    """`logs` before any `up` exits 1 and says so."""
    result = runner.invoke(app, [*paths, "logs", "--flavour", "native"])
    assert result.exit_code == 1 and "no logs yet" in result.output


def test_render_minio_policies_writes_the_committed_files(tmp_path: Path) -> None:
    """`render-minio-policies` writes what infra/minio/policies holds."""
    result = runner.invoke(app, ["render-minio-policies", str(tmp_path)])
    assert result.exit_code == 0, result.output
    committed = REPO_ROOT / "infra" / "minio" / "policies"
    for name in ("data-team.json", "ml-team.json"):
        assert json.loads((tmp_path / name).read_text()) == json.loads((committed / name).read_text())


@pytest.mark.parametrize("flavour", [Flavour.NATIVE, Flavour.DOCKER])
def test_explicit_flavour_wins(flavour: Flavour) -> None:
    """--flavour/STACK native or docker is taken as given, without asking Docker."""
    assert resolve_flavour(flavour) is flavour


def test_status_of_a_stopped_production_stack_lists_its_servers(paths: list[str]) -> None:
    """`--profile production status` lists Redis, each PostgreSQL and each Airflow process as stopped."""
    result = runner.invoke(app, [*paths, "--profile", "production", "status", "--flavour", "native"])
    assert result.exit_code == 1
    stopped = {line.split()[0] for line in result.output.splitlines() if line.endswith("stopped")}
    assert {"redis", "postgres-data", "postgres-ml", "postgres-mlflow", "airflow-ml-triggerer-2"} <= stopped
    assert {"airflow-data-worker-2", "airflow-ml-scheduler", "supervisor"} <= stopped


def test_production_up_without_redis_names_the_fix(
    paths: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without redis-server, `up` of the production profile starts nothing and says how to install it."""
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries"))
    result = runner.invoke(app, [*paths, "--profile", "production", "up", "--flavour", "native"])
    assert result.exit_code == 1
    assert "redis-server is not installed" in result.output and "make install-servers" in result.output
    assert not list((tmp_path / "state").rglob("*.pid"))


def test_down_stops_the_flavour_up_started(tmp_path: Path) -> None:
    """With no flavour given, down/status/logs act on what `up` recorded, whatever Docker answers."""
    record = tmp_path / "flavour"
    record.write_text("native\n")
    assert resolve_flavour(Flavour.AUTO, record) is Flavour.NATIVE
    record.write_text("docker\n")
    assert resolve_flavour(Flavour.AUTO, record) is Flavour.DOCKER
