"""make new-consumer: the consumer-team template (copier), the checks made before anything is written,
the team's registration (identity, accounts, ports, stack), and copier update keeping a team's edits."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from housing_contracts import CONTRACTS, LATEST
from housing_stack.consumer_template import (
    ANSWERS_FILE,
    DEFAULT_ALERT_SCHEDULE,
    DEFAULT_MAX_LAG_HOURS,
    TEMPLATE_DIR,
    NewConsumer,
    NewConsumerRefused,
    check,
    live_majors,
    new_consumer,
)
from housing_stack.identities import (
    Access,
    access_table,
    airflow_accounts,
    all_identities,
    credentials_from_settings,
    generate_credentials,
    may,
    seaweedfs_config,
)
from housing_stack.settings import DEFAULTS, LAKE_BUCKET, REPO_ROOT, ensure_env_file
from housing_stack.stack import Stack, StackConfig
from housing_stack.teams import REGISTRY_ENV, registered, registered_teams, taken_ports

TEAM = "bi-team"


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry of this test's own."""
    path = tmp_path / "teams.json"
    monkeypatch.setenv(REGISTRY_ENV, str(path))
    return path


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """Where this test releases the template (instead of .local/templates/consumer-team)."""
    return tmp_path / "template-release"


def _generate(dest: Path, repo: Path, template: Path = TEMPLATE_DIR, **answers) -> object:
    return new_consumer(NewConsumer(TEAM, dest, **answers), template=template, repo=repo)


def _git(folder: Path, *args: str) -> str:
    command = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost", *args]
    return subprocess.run(command, cwd=folder, check=True, capture_output=True, text=True).stdout


# --- refused before anything is written ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("team", "major", "message"),
    [
        ("BI Team", None, r"consumer name 'BI Team' is not a safe path segment"),
        ("../etc", None, r"not a safe path segment"),
        ("data-team", None, r"'data-team' is taken"),
        ("ml-team", None, r"'ml-team' is taken"),
        ("admin", None, r"'admin' is taken"),
        (TEAM, 7, r"contract major 7 is unknown; expected one of the live majors: 1, 2"),
    ],
)
def test_bad_answers_are_refused_and_nothing_is_written(
    team: str, major: int | None, message: str, tmp_path: Path, registry: Path, template_repo: Path
) -> None:
    """A bad name, a taken one or an unknown major: refused with the reason, no folder, no registration."""
    dest = tmp_path / "project"
    with pytest.raises(NewConsumerRefused, match=message):
        new_consumer(NewConsumer(team, dest, major=major), repo=template_repo)
    assert not dest.exists() and not registry.exists() and not template_repo.exists()


def test_a_retired_major_is_refused_naming_the_live_ones(tmp_path: Path) -> None:
    """Past v1's sunset, v1 is retired: refused, and the message lists the live majors."""
    (deprecated,) = [c for c in CONTRACTS if c.deprecation is not None]
    after_sunset = datetime.combine(deprecated.deprecation.sunset, datetime.min.time(), UTC).replace(day=1)
    after_sunset = after_sunset.replace(month=after_sunset.month % 12 + 1)
    assert live_majors(after_sunset) == [LATEST.major]
    problems = check(NewConsumer(TEAM, tmp_path / "p", major=deprecated.major), today=after_sunset)
    assert problems == [
        f"contract major {deprecated.major} is retired (past its sunset); expected one of the live majors: "
        f"{LATEST.major}"
    ]


def test_a_non_empty_destination_is_refused_unless_updating(
    tmp_path: Path, registry: Path, template_repo: Path
) -> None:
    """Generating into a folder that holds anything is refused; the file in it is untouched."""
    dest = tmp_path / "busy"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine\n")
    with pytest.raises(NewConsumerRefused, match=r"is not empty; .* UPDATE=1"):
        _generate(dest, template_repo)
    assert [p.name for p in dest.iterdir()] == ["notes.txt"] and not registry.exists()


def test_a_registered_team_name_is_taken(tmp_path: Path, registry: Path, template_repo: Path) -> None:
    """A second team of the same name (or the same .env prefix) is refused; updating it is not."""
    _generate(tmp_path / "first", template_repo)
    for name in (TEAM, TEAM.replace("-", "_")):
        with pytest.raises(NewConsumerRefused, match="taken by a registered team"):
            new_consumer(NewConsumer(name, tmp_path / "second"), repo=template_repo)
    assert check(NewConsumer(TEAM, tmp_path / "first", update=True)) == []


# --- what a generated project holds --------------------------------------------------------------------


def test_the_generated_project_is_a_complete_astro_project(
    tmp_path: Path, registry: Path, template_repo: Path
) -> None:
    """Dockerfile with the teams' Astro Runtime line, requirements, packages, airflow_settings.yaml with
    lake_s3, .astro/, README, the two DAGs, the logic in include/<package>/, tests; the answers recorded."""
    dest = tmp_path / "bi"
    _generate(dest, template_repo)
    files = {str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file() and ".git" not in p.parts}
    package = "include/housing_bi_team"
    assert {
        "Dockerfile",
        "requirements.txt",
        "requirements-test.txt",
        "packages.txt",
        "airflow_settings.yaml",
        ".astro/config.yaml",
        ".dockerignore",
        "README.md",
        "pytest.ini",
        ANSWERS_FILE,
        "dags/region_summary.py",
        "dags/housing_freshness.py",
        f"{package}/settings.py",
        f"{package}/summary.py",
        "tests/conftest.py",
        "tests/dags/test_dag_integrity.py",
        "tests/test_region_summary.py",
    } <= files
    from_line = re.compile(r"^FROM .*$", re.MULTILINE)
    for team in ("data-team", "ml-team"):
        assert from_line.findall((dest / "Dockerfile").read_text()) == from_line.findall(
            (REPO_ROOT / team / "Dockerfile").read_text()
        )
    assert "conn_id: lake_s3" in (dest / "airflow_settings.yaml").read_text()
    settings = (dest / package / "settings.py").read_text()
    assert f'CONSUMER = "{TEAM}"' in settings
    assert f"c.major == {LATEST.major})" in settings
    assert f"timedelta(hours={DEFAULT_MAX_LAG_HOURS})" in settings
    assert f'FRESHNESS_CHECK_SCHEDULE = "{DEFAULT_ALERT_SCHEDULE}"' in settings
    assert 'OUTPUT_ROOT = f"{LAKE_ROOT}/teams/{CONSUMER}"' in settings
    assert _git(dest, "status", "--porcelain") == ""  # committed: ready for copier update


def test_copier_yml_states_the_same_defaults() -> None:
    """The defaults make new-consumer documents are copier.yml's."""
    import yaml

    questions = yaml.safe_load((TEMPLATE_DIR / "copier.yml").read_text())
    assert questions["max_lag_hours"]["default"] == DEFAULT_MAX_LAG_HOURS
    assert questions["alert_schedule"]["default"] == DEFAULT_ALERT_SCHEDULE
    assert questions["contract_major"]["default"] == LATEST.major


# --- the registration: identity, accounts, ports, the stack ---------------------------------------------


def test_registration_gives_the_team_its_identity_accounts_and_ports(
    tmp_path: Path, registry: Path, template_repo: Path
) -> None:
    """The team's S3 identity reads its major and writes only its records and its prefix; its deployment
    has its own admin and the data team's read-only account; its ports clash with no other."""
    team = _generate(tmp_path / "bi", template_repo)
    assert registered(TEAM) == team and team.majors == (LATEST.major,)
    read = f"california_housing/v{LATEST.major}/snapshots/x/part-0.parquet"
    assert may(TEAM, Access.READ, LAKE_BUCKET, read)
    assert not may(TEAM, Access.WRITE, LAKE_BUCKET, read)
    assert not may(TEAM, Access.READ, LAKE_BUCKET, "california_housing/v1/snapshots/x/part-0.parquet")
    assert may(TEAM, Access.WRITE, LAKE_BUCKET, f"_consumers/{TEAM}/california_housing/v2/subscription.json")
    assert not may(TEAM, Access.WRITE, LAKE_BUCKET, "_consumers/ml-team/california_housing/v2/x.json")
    assert may(TEAM, Access.WRITE, LAKE_BUCKET, f"teams/{TEAM}/region_summary/v2/x.parquet")
    assert not may(TEAM, Access.READ, "mlflow", "1/model.pkl")
    assert [(a.holder, a.role.value) for a in airflow_accounts(TEAM)] == [
        (TEAM, "admin"),
        ("data-team", "viewer"),
    ]
    ports = set(vars(team.ports).values())
    assert len(ports) == 3 and not ports & {int(v) for k, v in DEFAULTS.items() if k.endswith("_PORT")}
    second = new_consumer(NewConsumer("qa-team", tmp_path / "qa"), repo=template_repo)
    assert not set(vars(second.ports).values()) & ports
    assert taken_ports() >= ports | set(vars(second.ports).values())
    # the S3 server's identities document names the team with the grants above
    names = [d["name"] for d in seaweedfs_config(generate_credentials())["identities"]]
    assert names[-2:] == [TEAM, "qa-team"]


def test_make_up_gets_the_team_as_a_third_deployment(
    tmp_path: Path, registry: Path, template_repo: Path
) -> None:
    """The local stack (make up) reads the registry: .env gains the team's keys with random secrets, the
    stack has its deployment on its ports with its identity in lake_s3, and env() exports its URL."""
    team = _generate(tmp_path / "bi", template_repo)
    env_file = tmp_path / ".env"
    config = StackConfig.local(env_file, tmp_path / "state")
    settings = ensure_env_file(env_file)
    assert (
        settings["BI_TEAM_AWS_ACCESS_KEY_ID"] == TEAM
        and settings["BI_TEAM_AWS_SECRET_ACCESS_KEY"] != "PLACEHOLDER"
    )
    assert credentials_from_settings(settings)[TEAM].secret_key == settings["BI_TEAM_AWS_SECRET_ACCESS_KEY"]
    stack = Stack(config)
    deployment = stack.component(team.component)
    assert deployment.ports.api == team.ports.api and deployment.project_dir == team.project_dir
    assert f'"login": "{TEAM}"' in deployment.environment["AIRFLOW_CONN_LAKE_S3"]
    exported = stack.env()
    assert exported["AIRFLOW_BI_TEAM_URL"] == f"http://127.0.0.1:{team.ports.api}"
    assert exported["AIRFLOW_BI_TEAM_USER"] == f"{TEAM}-admin"
    assert team.component in stack.deployments
    config.record()
    assert StackConfig.recorded(config.state_dir).teams == config.teams


def test_the_readme_table_shows_the_rule_for_generated_teams_not_the_local_ones(
    tmp_path: Path, registry: Path, template_repo: Path
) -> None:
    """The README's access table is the committed teams' plus one row with the rule for any generated team;
    a team registered locally does not change it (the README stays the same in every clone)."""
    before = access_table()
    assert "`<team>` (make new-consumer)" in before and "lake/teams/<team>/" in before
    _generate(tmp_path / "bi", template_repo)
    assert TEAM in [i.name for i in all_identities()]
    assert access_table() == before


# --- updates ------------------------------------------------------------------------------------------


def test_copier_update_takes_template_changes_and_keeps_the_teams_edits(
    tmp_path: Path, registry: Path, template_repo: Path
) -> None:
    """A new file and a changed file in the template reach the project on update; the team's own edit of
    a generated file and its own new file stay; a new major answer rewrites the subscription line and the
    registration follows."""
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE_DIR, template)
    dest = tmp_path / "bi"
    _generate(dest, template_repo, template=template)
    alerts = dest / "include/housing_bi_team/alerts.py"
    alerts.write_text(alerts.read_text() + "\n# the team's own edit: page the on-call\n")
    (dest / "dags/team_own.py").write_text('"""The team\'s own DAG file."""\n')
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "our edits")

    (template / "template/CODEOWNERS.jinja").write_text("* @{{ team }}\n")
    dockerfile = template / "template/Dockerfile.jinja"
    dockerfile.write_text(dockerfile.read_text() + "# a template change\n")
    new_consumer(NewConsumer(TEAM, dest, update=True), template=template, repo=template_repo)

    assert (dest / "CODEOWNERS").read_text() == f"* @{TEAM}\n"
    assert (dest / "Dockerfile").read_text().endswith("# a template change\n")
    assert alerts.read_text().endswith("# the team's own edit: page the on-call\n")
    assert (dest / "dags/team_own.py").exists()

    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "template update")
    new_consumer(NewConsumer(TEAM, dest, major=1, update=True), template=template, repo=template_repo)
    settings = (dest / "include/housing_bi_team/settings.py").read_text()
    assert "c.major == 1)" in settings
    assert alerts.read_text().endswith("# the team's own edit: page the on-call\n")
    assert registered(TEAM).majors == (1,)
    assert [t.name for t in registered_teams()] == [TEAM]


def test_update_refuses_a_folder_of_another_team(tmp_path: Path, registry: Path, template_repo: Path) -> None:
    """UPDATE=1 on a folder without answers, or with another team's, is refused."""
    assert "has no .copier-answers.yml" in check(NewConsumer(TEAM, tmp_path, update=True))[0]
    _generate(tmp_path / "bi", template_repo)
    (problem,) = check(NewConsumer("qa-team", tmp_path / "bi", update=True))
    assert "is team 'bi-team''s project, not 'qa-team''s" in problem


def test_a_real_s3_server_grants_the_registered_team_exactly_its_identity(
    tmp_path: Path, registry: Path, template_repo: Path, reliability_row
) -> None:
    """On SeaweedFS started after the registration: the team writes its prefix and its records; it may
    not write the dataset, another team's prefix or another consumer's records, nor read another major."""
    from botocore.exceptions import ClientError

    from housing_stack.seaweedfs import SeaweedFS, SeaweedPorts

    _generate(tmp_path / "bi", template_repo)
    with SeaweedFS(tmp_path / "s3", SeaweedPorts.free(), generate_credentials()) as server:
        admin, team = server.client("admin"), server.client(TEAM)
        for key in ("california_housing/v1/x.json", "california_housing/v2/x.json"):
            admin.put_object(Bucket=LAKE_BUCKET, Key=key, Body=b"{}")

        def outcome(call, **kwargs) -> str:
            try:
                call(Bucket=LAKE_BUCKET, **kwargs)
            except ClientError as error:
                return error.response["Error"]["Code"]
            return "allowed"

        cases = {
            ("put", f"teams/{TEAM}/x.parquet"): "allowed",
            ("put", f"_consumers/{TEAM}/california_housing/v2/subscription.json"): "allowed",
            ("get", "california_housing/v2/x.json"): "allowed",
            ("put", "california_housing/v2/y.json"): "AccessDenied",
            ("put", "teams/qa-team/x.parquet"): "AccessDenied",
            ("put", "_consumers/ml-team/california_housing/v2/subscription.json"): "AccessDenied",
            ("get", "california_housing/v1/x.json"): "AccessDenied",
        }
        for (verb, key), expected in cases.items():
            call = team.put_object if verb == "put" else team.get_object
            seen = outcome(call, Key=key, **({"Body": b"{}"} if verb == "put" else {}))
            reliability_row(f"generated team {verb} lake/{key}", expected, seen)
            assert seen == expected, (verb, key)


# --- the docs take the minimal consumer from the template -----------------------------------------------

_MARKED = re.compile(
    r"^[ \t]*# --- minimal consumer: begin\n(.*?)^[ \t]*# --- minimal consumer: end\n", re.S | re.M
)


def _readme_block(name: str) -> str:
    readme = (REPO_ROOT / "contracts" / "README.md").read_text()
    start, end = (
        f"<!-- minimal-consumer:{name}:start -->\n```python\n",
        f"\n```\n<!-- minimal-consumer:{name}:end -->",
    )
    assert start in readme and end in readme, f"contracts/README.md lost its minimal-consumer:{name} block"
    return readme.split(start, 1)[1].split(end, 1)[0]


def test_contracts_readme_shows_the_templates_minimal_consumer(
    tmp_path: Path, registry: Path, template_repo: Path
) -> None:
    """contracts/README.md's minimal consumer is the generated project's code, word for word: the
    subscription in settings.py and the consuming DAG with its receipts."""
    dest = tmp_path / "bi"
    _generate(dest, template_repo)
    for name, path in (
        ("settings", "include/housing_bi_team/settings.py"),
        ("dag", "dags/region_summary.py"),
    ):
        (marked,) = _MARKED.findall((dest / path).read_text())
        assert _readme_block(name) == marked.rstrip("\n"), f"contracts/README.md's {name} block drifted"


def test_the_cli_refuses_bad_input_with_every_reason(tmp_path: Path, registry: Path) -> None:
    """``housing-stack new-consumer`` (what make new-consumer runs) exits 1 naming each problem, and
    writes nothing."""
    from typer.testing import CliRunner

    from housing_stack.cli import app

    dest = tmp_path / "project"
    result = CliRunner().invoke(app, ["new-consumer", "ml-team", "--major", "7", "--dest", str(dest)])
    assert result.exit_code == 1
    assert "'ml-team' is taken" in result.output and "expected one of the live majors: 1, 2" in result.output
    assert not dest.exists() and not registry.exists()
