"""Smoke tests of the benchmark's own pieces (not part of ``make test``): run ``pytest bench/tests``."""

from __future__ import annotations

import math

import pytest

from bench import floor
from bench.data import bootstrap
from bench.results import Goal, Result, render_table
from bench.sizes import Size
from housing_contracts import V1, ContractViolation, validate


@pytest.fixture(scope="module")
def frame():
    """A bootstrapped frame of 5,000 rows."""
    return bootstrap(5_000, seed=3)


def test_bootstrapped_rows_satisfy_the_contract(frame) -> None:
    """Bootstrapped rows pass the contract's own validation and the floor."""
    validate(frame, contract=V1)
    assert floor.passes(frame)


def test_bootstrap_is_deterministic() -> None:
    """The same seed gives the same rows (workers regenerate the frame they measure)."""
    assert bootstrap(2_000, seed=7).equals(bootstrap(2_000, seed=7))


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("MedInc", 0.0),
        ("HouseAge", 52.5),
        ("AveRooms", 50.1),
        ("Population", 0.5),
        ("AveOccup", 20.5),
        ("Latitude", 42.1),
        ("Longitude", -124.6),
        ("MedHouseVal", 5.1),
        ("AveBedrms", math.nan),
        ("AveRooms", math.inf),
    ],
)
def test_floor_rejects_what_the_contract_rejects(frame, column: str, value: float) -> None:
    """A value the contract refuses is refused by the floor too, so the floor checks the same rules."""
    broken = frame.copy()
    broken.loc[10, column] = value
    with pytest.raises(ContractViolation):
        validate(broken, contract=V1)
    assert not floor.passes(broken)


def test_floor_rejects_more_bedrooms_than_rooms(frame) -> None:
    """The row-level rule AveBedrms <= AveRooms is part of the floor."""
    broken = frame.copy()
    broken.loc[3, "AveBedrms"] = broken.loc[3, "AveRooms"] + 0.5
    assert not floor.passes(broken)


@pytest.mark.parametrize(
    ("text", "rows", "label"), [("20k", 20_000, "20k"), ("1M", 1_000_000, "1M"), ("2000", 2_000, "2k")]
)
def test_sizes_parse_and_label(text: str, rows: int, label: str) -> None:
    """Sizes are written like 20k / 1M and labelled the same way."""
    size = Size.parse(text)
    assert (size.rows, size.label) == (rows, label)


def test_a_missed_goal_is_reported() -> None:
    """A figure beyond its goal has met=False in JSON and NO in the table."""
    result = Result("publish", 2.5, "s", "floor", 1.0, Goal("<=", 2.0, of="ratio"))
    assert result.to_dict()["met"] is False
    assert " NO" in render_table([result])


def test_an_unmeasured_figure_has_no_verdict() -> None:
    """A figure that was not measured is neither met nor missed."""
    result = Result("latency", None, "s", goal=Goal("<=", 5.0), note="not measured: no Airflow")
    assert (result.ratio, result.met) == (None, None)


def test_the_bench_deployment_client_logs_in_as_its_admin(tmp_path) -> None:
    """The latency section's REST client uses the bench deployment's own admin account."""
    from bench import deployment

    airflow = deployment.bench_deployment(tmp_path / "airflow", {})
    client = deployment.client(airflow)
    assert (client.base_url, client.username, client.password) == (airflow.base_url, *airflow.admin)
    assert client.username == deployment.USER
