"""The stacks of the end-to-end tests, one per profile for the whole session (starting one takes ~2 min
embedded, ~2.5 min production on 2 cores), and the handoff run once on each:

- embedded: the handoff's embedded pass (test_handoff.py), then the access probes, the consumer table,
  the Contract page, the alerts and the search for secrets on what the handoff left; a test marked
  ``stops_stack`` (test_lag_page_alerts.py) stops the stack and checks that nothing is left running.
- production: the handoff's production pass, the search for secrets, then the fault tests
  (test_production_faults.py), whose ``stops_stack`` test stops it.

The embedded stack also runs a third team generated from the consumer template (``make new-consumer``'s
code, into a temp folder), registered in the session's own registry: its deployment, and the ML team's
v1 consumer (``housing_testkit.write_v1_consumer``), stay paused until test_third_team.py, which sorts
after the other modules on that stack.

Every test on the embedded stack runs before any test on the production stack, so the two stacks never
run at the same time (memory, 2 cores), and a profile's ``stops_stack`` test runs after every other test
on that profile's stack.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator

import pandas as pd
import pytest

from housing_stack.consumer_template import NewConsumer, new_consumer
from housing_stack.demo import clients
from housing_stack.flow import FlowReport, run_flow, team_storage_options
from housing_stack.identities import ADMIN, ML_TEAM
from housing_stack.ports import free_ports
from housing_stack.stack import Profile, Stack, StackConfig
from housing_stack.teams import REGISTRY_ENV, ConsumerTeam, TeamPorts
from housing_testkit import write_v1_consumer

FLOW_TIMEOUT = 600.0
#: The lag the ML team's consumer promises on the embedded stack (``HOUSING_MAX_LAG_SECONDS``): seconds,
#: so that the data team's lag alert can fire within a test.
MAX_LAG_SECONDS = 20
#: The team generated from the template and run as the embedded stack's third deployment, and the
#: contract major it subscribes to: the deprecated one, which the ML team's v1 consumer reads too, so that
#: retiring it is refused naming both.
THIRD_TEAM, THIRD_TEAM_MAJOR = "bi-team", 1


def _on_production_stack(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return "production_stack" in getattr(item, "fixturenames", ()) or (
        callspec is not None and callspec.params.get("stack") is Profile.PRODUCTION
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stops_stack: stops its profile's stack; runs after the others on it")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Embedded-stack tests first, then production-stack ones, each profile's ``stops_stack`` test last;
    otherwise pytest's order (stable sort)."""
    items.sort(
        key=lambda item: (_on_production_stack(item), item.get_closest_marker("stops_stack") is not None)
    )


@pytest.fixture(scope="session")
def third_team(tmp_path_factory: pytest.TempPathFactory) -> ConsumerTeam:
    """``make new-consumer TEAM=bi-team MAJOR=1`` into a temp folder, registered in the session's own
    registry (the identities read it: the stack's S3 server and the generated project's tests know the
    team); its deployment on free ports."""
    folder = tmp_path_factory.mktemp("third-team")
    os.environ[REGISTRY_ENV] = str(folder / "teams.json")
    made = new_consumer(
        NewConsumer(THIRD_TEAM, folder / THIRD_TEAM, major=THIRD_TEAM_MAJOR), repo=folder / "template-release"
    )
    return dataclasses.replace(made, ports=TeamPorts(*free_ports(3)))


@pytest.fixture(scope="session")
def embedded_stack(tmp_path_factory: pytest.TempPathFactory, third_team: ConsumerTeam) -> Iterator[Stack]:
    extra_dags = tmp_path_factory.mktemp("ml-team-extra-dags")
    write_v1_consumer(extra_dags)
    config = StackConfig.ephemeral(
        tmp_path_factory.mktemp("stack-embedded"),
        airflow_env={"HOUSING_MAX_LAG_SECONDS": str(MAX_LAG_SECONDS)},
        teams=(third_team,),
        extra_dags={ML_TEAM: extra_dags},
    )
    with Stack(config) as running:
        yield running


@pytest.fixture(scope="session")
def production_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig.ephemeral(tmp_path_factory.mktemp("stack-production"), profile=Profile.PRODUCTION)
    with Stack(config) as running:
        yield running


@pytest.fixture(scope="session")
def source(
    tmp_path_factory: pytest.TempPathFactory, california_housing_frame: pd.DataFrame
) -> Callable[[int], str]:
    """``source(k)``: the real data minus every k-th block group, as a Parquet file the producer reads
    (each k is new content, so publishing it commits a new snapshot)."""
    folder = tmp_path_factory.mktemp("sources")

    def write(k: int) -> str:
        path = folder / f"minus_every_{k}th.parquet"
        if not path.exists():
            frame = california_housing_frame
            frame.iloc[[i for i in range(len(frame)) if i % k]].to_parquet(path)
        return path.as_uri()

    return write


@pytest.fixture(scope="session")
def changed_source(source: Callable[[int], str]) -> str:
    """The handoff's changed data: the real data minus every tenth block group."""
    return source(10)


@pytest.fixture(scope="session")
def handoff(changed_source: str) -> Callable[[Stack], list[FlowReport]]:
    """``handoff(stack)``: the handoff's three passes on ``stack``, run once per stack (later callers get
    the same reports, or the same error):

    1. the real dataset → a snapshot → the consumer's first version, champion;
    2. changed data → a second snapshot → a second version with a champion/challenger decision;
    3. the same changed data again → no snapshot and no consumer run.
    """
    done: dict[str, list[FlowReport] | BaseException] = {}

    def flows(stack: Stack) -> list[FlowReport]:
        key = str(stack.config.state_dir)
        if key not in done:
            data, ml = clients(stack.config)
            lake = team_storage_options(stack.config, ADMIN)
            try:
                done[key] = [
                    run_flow(data, ml, storage_options=lake, conf={"source": source}, timeout=FLOW_TIMEOUT)
                    for source in ("sklearn", changed_source, changed_source)
                ]
            except BaseException as error:
                done[key] = error
                raise
        result = done[key]
        if isinstance(result, BaseException):
            raise RuntimeError(f"the handoff on this stack failed earlier: {result}") from result
        return result

    return flows
