"""A third team, generated from the consumer template, joins the session's embedded stack: nothing of the
data team's changes, and the producer sees it beside the ML team.

The team (conftest.py: ``bi-team``, generated into a temp folder by ``make new-consumer``'s code and
subscribed to the deprecated major v1) runs as a third Airflow deployment; the ML team's deployment also
serves its v1 consumer (``housing_consumer_v1``). Both stay paused until this module, which runs after
the other modules on the embedded stack (and before the one that stops it):

1. the generated project's own tests pass (DAG integrity, a snapshot consumed from a test lake);
2. one producer run (new content) causes exactly one run of each v1 consumer, the ML team's and the new
   team's, each leaving its success receipt;
3. ``housing-contract consumers <v1>`` and the Contract page list both teams at lag 0;
4. ``housing-contract retire <v1>`` is refused, naming both teams.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from housing_contracts import V1
from housing_contracts.consumers.lag import consumer_lag
from housing_stack.airflow_client import FINISHED, AirflowClient
from housing_stack.demo import clients
from housing_stack.flow import (
    TEAM_CONSUMER_DAG,
    FlowReport,
    OtherConsumer,
    run_flow,
    start_others,
    team_storage_options,
)
from housing_stack.identities import DATA_TEAM, ML_TEAM
from housing_stack.stack import Stack
from housing_stack.teams import ConsumerTeam
from housing_testkit import V1_CONSUMER_DAG

FLOW_TIMEOUT = 600.0
#: Each row of the page's consumers table: its consumer and lag attributes.
PAGE_ROW = re.compile(r'<tr data-consumer="([^"]+)" data-lag-snapshots="(\d+)" data-lag-seconds="([0-9.]+)"')


@pytest.fixture(scope="module")
def stack(embedded_stack: Stack, handoff: Callable[[Stack], list[FlowReport]]) -> Stack:
    """The session's embedded stack after the handoff (run alone, this module runs it first)."""
    handoff(embedded_stack)
    return embedded_stack


@pytest.fixture(scope="module")
def team_client(stack: Stack, third_team: ConsumerTeam) -> AirflowClient:
    """The third deployment's REST client, as its admin."""
    return AirflowClient(
        stack.config.airflow_url(third_team.name), *stack.config.airflow_admin(third_team.name)
    )


@pytest.fixture(scope="module")
def followed(stack: Stack, third_team: ConsumerTeam, team_client: AirflowClient) -> list[OtherConsumer]:
    """The two v1 consumers the flow follows beside housing_consumer: the ML team's, then the new team's."""
    config = stack.config
    _, ml = clients(config)
    return [
        OtherConsumer(ML_TEAM, ml, V1_CONSUMER_DAG, team_storage_options(config, ML_TEAM)),
        OtherConsumer(
            third_team.name, team_client, TEAM_CONSUMER_DAG, team_storage_options(config, third_team.name)
        ),
    ]


@pytest.fixture(scope="module")
def flow(
    stack: Stack, followed: list[OtherConsumer], source: Callable[[int], str]
) -> tuple[FlowReport, dict]:
    """One producer run on new content (the real data minus every 7th block group), followed to both v1
    consumers (and the ML team's v2 one); with each v1 consumer's runs before it.

    Both were paused until now. Unpaused, a watcher's first subscription fires the newest snapshot already
    committed (``start_at="latest"``): those first runs finish before the producer runs."""
    start_others(followed, timeout=FLOW_TIMEOUT, say=_say)
    for other in followed:
        deadline = time.monotonic() + FLOW_TIMEOUT
        while not (runs := other.client.runs(other.dag_id)) or any(r["state"] not in FINISHED for r in runs):
            assert time.monotonic() < deadline, f"{other.label}'s first run did not finish: {runs}"
            time.sleep(1.0)
    before = {other.label: {r["dag_run_id"] for r in other.client.runs(other.dag_id)} for other in followed}
    data, ml = clients(stack.config)
    lake = team_storage_options(stack.config, ML_TEAM)
    started = time.monotonic()
    report = run_flow(
        data, ml, storage_options=lake, conf={"source": source(7)}, timeout=FLOW_TIMEOUT, others=followed
    )
    print(f"\nflow with the third team: {time.monotonic() - started:.1f} s; {report.others}", file=sys.stderr)
    return report, before


@pytest.fixture(scope="module")
def v1_dataset(flow: tuple[FlowReport, dict], third_team: ConsumerTeam) -> str:
    """The v1 dataset both followed consumers read (as their deployments parsed their DAGs)."""
    report, _ = flow
    uris = {other["dataset_uri"] for other in report.others.values()}
    assert uris == {V1.uri}
    return V1.uri


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    """``housing-contract <args>`` with the data team's keys, as its operator runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(stack.config.credentials[DATA_TEAM].aws_env(stack.config.s3_endpoint_url, stack.config.region))
    command = [str(Path(sys.executable).parent / "housing-contract"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_the_generated_projects_own_tests_pass(third_team: ConsumerTeam) -> None:
    """The generated project's tests, run from its folder as its team runs them: DAG integrity and a
    snapshot consumed from a test lake (the test kit's SeaweedFS, which knows the registered team)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "HOUSING_DATASET"))}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"],
        cwd=third_team.project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(f"\ngenerated project's tests: {time.monotonic() - started:.1f} s", file=sys.stderr)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"\b\d+ passed\b", result.stdout) and " failed" not in result.stdout


def test_one_producer_run_makes_exactly_one_run_in_each_consumer(
    flow: tuple[FlowReport, dict], followed: list[OtherConsumer]
) -> None:
    """Each v1 consumer ran once, for the v1 snapshot the producer run committed, and succeeded."""
    report, before = flow
    assert report.published and report.consumer_run_id  # the ML team's v2 consumer took its v2 snapshot
    snapshots = set()
    for other in followed:
        runs = [r for r in other.client.runs(other.dag_id) if r["dag_run_id"] not in before[other.label]]
        assert [r["dag_run_id"] for r in runs] == [report.others[other.label]["run_id"]], other.label
        assert runs[0]["state"] == "success"
        snapshots.add(report.others[other.label]["snapshot_id"])
    assert len(snapshots) == 1


def test_both_teams_have_their_success_receipt_at_lag_0(
    stack: Stack, flow: tuple[FlowReport, dict], v1_dataset: str, third_team: ConsumerTeam
) -> None:
    """The lake holds a success receipt of each team for the new v1 snapshot: both consumed it, lag 0."""
    report, _ = flow
    (snapshot_id,) = {other["snapshot_id"] for other in report.others.values()}
    rows = consumer_lag(v1_dataset, storage_options=team_storage_options(stack.config, DATA_TEAM))
    seen = {row.consumer: row for row in rows}
    assert set(seen) == {ML_TEAM, third_team.name}
    for row in seen.values():
        assert (row.last_outcome, row.consumed_snapshot_id, row.lag_snapshots) == ("success", snapshot_id, 0)
        assert row.lag.total_seconds() == 0 and row.subscription_live


def test_cli_and_contract_page_list_both_teams_at_lag_0(
    stack: Stack, flow: tuple[FlowReport, dict], v1_dataset: str, third_team: ConsumerTeam
) -> None:
    """``housing-contract consumers <v1> --json`` and the data team's Contract page (``?major=1``, read
    with the ML team's read-only account's token) show the same two consumers, both at lag 0."""
    import json

    result = _cli(stack, "consumers", v1_dataset, "--json")
    assert result.returncode == 0, result.stderr
    cli = {row["consumer"]: (row["lag_snapshots"], row["lag_seconds"]) for row in json.loads(result.stdout)}
    assert cli == {ML_TEAM: (0, 0.0), third_team.name: (0, 0.0)}

    from housing_stack.identities import airflow_reader

    reader = stack.config.airflow_logins[airflow_reader(DATA_TEAM).env_prefix]
    token = AirflowClient(stack.config.airflow_data_url, *reader).token()
    page = httpx.get(
        f"{stack.config.airflow_data_url}/contract/",
        params={"major": V1.major},
        headers={"Authorization": f"Bearer {token}"},
        cookies={"_token": token},
        timeout=60,
    )
    assert page.status_code == 200, page.text[:300]
    rows = {name: (int(lag), float(seconds)) for name, lag, seconds in PAGE_ROW.findall(page.text)}
    assert rows == {ML_TEAM: (0, 0.0), third_team.name: (0, 0.0)}


def test_retiring_v1_is_refused_naming_both_teams(
    stack: Stack, flow: tuple[FlowReport, dict], v1_dataset: str, third_team: ConsumerTeam, reliability_row
) -> None:
    """While both subscriptions are live, ``housing-contract retire <v1>`` is refused and names each team."""
    result = _cli(stack, "retire", v1_dataset, "--by", "data-team operator")
    named = [
        team for team in (ML_TEAM, third_team.name) if f"consumer {team}" in result.stderr + result.stdout
    ]
    reliability_row(
        "retire v1 while ml-team and a generated team subscribe",
        "refused, naming both",
        f"exit {result.returncode}, names {named}",
    )
    assert result.returncode != 0
    assert named == [ML_TEAM, third_team.name]


def test_nothing_in_data_team_changed() -> None:
    """The third team needed no change of the data team's project."""
    from housing_stack.settings import REPO_ROOT

    status = subprocess.run(
        ["git", "status", "--porcelain", "--", "data-team"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert status.returncode == 0 and status.stdout == ""


def test_third_deployment_memory(stack: Stack, third_team: ConsumerTeam) -> None:
    """Report the RSS of the third deployment's processes (its standalone and every child), for CI sizing;
    it must be running and healthy."""
    component = stack.component(third_team.component)
    assert component.healthy()
    pids = _tree(component.process.pid)
    rss = sum(_kib(f"/proc/{pid}/status", "VmRSS:") for pid in pids)
    pss = sum(_kib(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in pids)  # shared pages split among sharers
    print(f"\nthird deployment: {len(pids)} processes, RSS {rss / 1024:.0f} MiB, PSS {pss / 1024:.0f} MiB")
    assert rss > 0


def _tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def _kib(path: str, key: str) -> int:
    """The kB figure of line ``key`` in ``path`` (0 if the process is gone)."""
    try:
        line = next(entry for entry in Path(path).read_text().splitlines() if entry.startswith(key))
    except (OSError, StopIteration):
        return 0
    return int(line.split()[1])
