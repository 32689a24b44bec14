"""Each team's `airflow standalone` configuration (the running deployments are tested in test_stack.py)."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import pytest

from housing_stack.airflow_home import MLFLOW_CONN_ID
from housing_stack.airflow_standalone import LAKE_CONN_ID, AirflowStandalone, DeploymentPorts
from housing_stack.identities import MLFLOW_EXPERIMENT, MLFLOW_MODEL, AirflowRole, Login
from housing_stack.settings import REPO_ROOT


def _constant(path: Path, name: str) -> object:
    """A module-level constant of a team's settings file, read without importing the team's package."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path} defines no {name}")


@pytest.mark.parametrize(
    "settings", ["data-team/include/housing_data/settings.py", "ml-team/include/housing_ml/settings.py"]
)
def test_lake_conn_id_matches_each_team(settings: str) -> None:
    """The connection the stack provides is the one each team's code reads."""
    assert _constant(REPO_ROOT / settings, "LAKE_CONN_ID") == LAKE_CONN_ID


def test_mlflow_names_match_the_ml_team() -> None:
    """The MLflow connection, experiment and model the stack grants on are the ones the ML team uses."""
    path = REPO_ROOT / "ml-team/include/housing_ml/settings.py"
    spec = importlib.util.spec_from_file_location("ml_team_settings", path)
    assert spec is not None and spec.loader is not None
    ml = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ml)
    names = (ml.MLFLOW_CONN_ID, ml.EXPERIMENT_NAME, ml.MODEL_NAME)
    assert names == (MLFLOW_CONN_ID, MLFLOW_EXPERIMENT, MLFLOW_MODEL)


def _deployment(tmp_path: Path) -> AirflowStandalone:
    return AirflowStandalone(
        name="Airflow test",
        home=tmp_path / "home",
        project_dir=REPO_ROOT / "data-team",
        ports=DeploymentPorts(28080, 28793, 28794),
        accounts=[(Login("someone", "s3cret"), AirflowRole.ADMIN), (Login("other", "r"), AirflowRole.VIEWER)],
        environment={"HOUSING_DATASET_URI": "s3://lake/tests/x/california_housing/v1"},
    )


def test_simple_auth_manager_gets_the_deployments_accounts(tmp_path: Path) -> None:
    """Each account has its role, and its password comes from the owner-only file launch() writes."""
    deployment = _deployment(tmp_path)
    env = deployment.env()
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "someone:admin,other:viewer"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] == str(deployment.passwords_file)
    deployment.write_home()
    assert json.loads(deployment.passwords_file.read_text()) == {"someone": "s3cret", "other": "r"}
    assert deployment.passwords_file.stat().st_mode & 0o077 == 0


def test_project_root_is_importable_by_tasks(tmp_path: Path) -> None:
    """Tasks find `include.<team package>` (project root on PYTHONPATH) and the venv's `airflow` on PATH."""
    env = _deployment(tmp_path).env()
    assert env["PYTHONPATH"].split(":")[0] == str(REPO_ROOT / "data-team")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(REPO_ROOT / "data-team" / "dags")
    assert Path(env["PATH"].split(":")[0], "airflow").exists()


def test_shell_settings_do_not_leak_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """AIRFLOW*/AWS_*/MLFLOW_* variables of the calling shell never reach the deployment; its own do."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-shell")
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "True")
    env = _deployment(tmp_path).env()
    assert "AWS_ACCESS_KEY_ID" not in env
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert env["HOUSING_DATASET_URI"] == "s3://lake/tests/x/california_housing/v1"


def test_base_url_is_the_deployments_own_unless_given(tmp_path: Path) -> None:
    """[api] base_url is where this deployment answers (a consumer's subscription names it); a value in the
    deployment's environment wins."""
    deployment = _deployment(tmp_path)
    assert deployment.env()["AIRFLOW__API__BASE_URL"] == "http://127.0.0.1:28080"
    deployment.environment = {"AIRFLOW__API__BASE_URL": "https://airflow.example/data"}
    assert deployment.env()["AIRFLOW__API__BASE_URL"] == "https://airflow.example/data"
