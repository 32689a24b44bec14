"""What the producer sees of its consumer, and the alerts of both teams, on the session's embedded stack
after the handoff (test_handoff.py's embedded pass; run alone, this module runs the handoff first):

1. ``housing-contract consumers <dataset> --json`` (the real CLI, with the data team's keys; the dataset
   ``housing_consumer`` subscribes to, as the handoff found it) lists ml-team with lag 0, and its newest
   receipt holds the model version and decision of the handoff's last consumer run;
2. the Contract page of the data team's Airflow in headless Chromium (Debian's ``chromium`` and
   ``chromedriver``, ``make install-servers``), signed in through the deployment's login page: ml-team
   with lag 0, and the page's consumers endpoint says what the CLI says; with ``housing_consumer`` paused,
   a new snapshot makes it lag 1 (the screenshot the data team's README shows, rewritten with
   ``HOUSING_UPDATE_SCREENSHOT=1``);
3. the page and its JSON endpoints refuse requests without a signed-in user;
4. alerts with promises of seconds: the ML team's ``housing_freshness`` fails naming the dataset, the
   newest snapshot's age and the promise when that snapshot is older than ``max_age_seconds``, and
   succeeds with the contract's promise; the data team's ``housing_consumer_lag`` fails naming ml-team
   while it lags beyond its promise (seconds, on this stack), and succeeds once ``housing_consumer`` is
   unpaused and has caught up.

The last test stops the stack and checks that nothing is left running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fsspec
import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from housing_contracts import latest_snapshot, list_snapshots
from housing_contracts.consumers.lag import consumer_lag
from housing_contracts.consumers.records import consumer_uri
from housing_stack.airflow_client import AirflowClient
from housing_stack.demo import clients
from housing_stack.flow import (
    CONSUMER_DAG,
    PRODUCER_DAG,
    FlowError,
    FlowReport,
    team_storage_options,
    wait_for_run,
)
from housing_stack.identities import DATA_TEAM, ML_TEAM, airflow_reader
from housing_stack.settings import REPO_ROOT
from housing_stack.stack import Stack

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
#: The data team's README shows this screenshot; the test rewrites it only when asked to
#: (``HOUSING_UPDATE_SCREENSHOT=1``), so that a test run leaves the working tree as it was.
SCREENSHOT = REPO_ROOT / "data-team" / "docs" / "contract-page.png"
UPDATE_SCREENSHOT = os.environ.get("HOUSING_UPDATE_SCREENSHOT") == "1"
FRESHNESS_DAG, LAG_DAG = "housing_freshness", "housing_consumer_lag"
#: The tight freshness promise the operator's run checks.
MAX_AGE_SECONDS = 5
RUN_TIMEOUT = 600.0
CATCH_UP_TIMEOUT = 900.0
PAGE_TIMEOUT = 60.0


@pytest.fixture(scope="module")
def stack(embedded_stack: Stack) -> Stack:
    return embedded_stack


@pytest.fixture(scope="module")
def flows(stack: Stack, handoff: Callable[[Stack], list[FlowReport]]) -> list[FlowReport]:
    return handoff(stack)


@pytest.fixture(scope="module")
def apis(stack: Stack, flows: list[FlowReport]) -> tuple[AirflowClient, AirflowClient]:
    """The data and ML deployments' REST clients, once the handoff is done."""
    return clients(stack.config)


@pytest.fixture(scope="module")
def dataset(flows: list[FlowReport]) -> str:
    """The dataset ``housing_consumer`` subscribes to (the handoff asked the ML team's Airflow)."""
    return flows[0].dataset_uri


@pytest.fixture(scope="module")
def max_lag_seconds(stack: Stack) -> int:
    """The lag ml-team promises on this stack (conftest.py gives the deployments HOUSING_MAX_LAG_SECONDS)."""
    return int(stack.config.airflow_env["HOUSING_MAX_LAG_SECONDS"])


@pytest.fixture(scope="module")
def data_team_lake(stack: Stack) -> dict[str, Any]:
    """The data team's s3fs options: it may read every consumer's records."""
    return team_storage_options(stack.config, DATA_TEAM)


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def cli_consumers(stack: Stack, dataset: str) -> list[dict[str, Any]]:
    """``housing-contract consumers <dataset> --json``, run as a data-team operator would: the standard
    AWS variables hold the data team's keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(stack.config.credentials[DATA_TEAM].aws_env(stack.config.s3_endpoint_url, stack.config.region))
    command = [str(Path(sys.executable).parent / "housing-contract"), "consumers", dataset, "--json"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _row(rows: list[dict[str, Any]], consumer: str) -> dict[str, Any]:
    found = [row for row in rows if row["consumer"] == consumer]
    assert len(found) == 1, f"expected one row for {consumer}: {rows}"
    return found[0]


# --- the browser ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless Chromium driven through Debian's chromedriver, quit after the module."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not installed: run `make install-servers`")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in CI containers
        "--disable-gpu",
        "--disable-dev-shm-usage",  # a small /dev/shm in containers
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: WebDriver) -> WebDriverWait:
    return WebDriverWait(driver, PAGE_TIMEOUT)


@pytest.fixture(scope="module")
def contract_page(stack: Stack, browser: WebDriver, apis: object) -> str:
    """The data team's Contract page URL, with the browser signed in through the deployment's own login
    page (opening the page without a session leads there, and back after signing in)."""
    url = f"{stack.config.airflow_data_url}/contract/"
    browser.get(url)
    _wait(browser).until(expected_conditions.presence_of_element_located((By.NAME, "username")))
    assert "/auth/login" in browser.current_url
    # the ML team's read-only account: reading the page is all it may do there
    reader = stack.config.airflow_logins[airflow_reader(DATA_TEAM).env_prefix]
    browser.find_element(By.NAME, "username").send_keys(reader.user)
    browser.find_element(By.NAME, "password").send_keys(reader.password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(browser).until(expected_conditions.presence_of_element_located((By.ID, "consumers-section")))
    assert browser.current_url == url
    return url


def page_consumer(browser: WebDriver, url: str, consumer: str) -> dict[str, str]:
    """Load the page and return ``consumer``'s row: its ``data-*`` attributes and ``data-field`` cells."""
    browser.get(url)
    selector = f'table#consumers tr[data-consumer="{consumer}"]'
    row = _wait(browser).until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, selector)))
    found = {
        name: row.get_attribute(f"data-{name}") or ""
        for name in ("lag-snapshots", "lag-seconds", "breaks-promise", "status")
    }
    for cell in row.find_elements(By.CSS_SELECTOR, "td[data-field]"):
        found[cell.get_attribute("data-field") or ""] = cell.text
    return found


def page_json(browser: WebDriver, url: str) -> Any:
    """A JSON endpoint read by the signed-in browser (Chromium shows the body as text)."""
    browser.get(url)
    return json.loads(browser.find_element(By.TAG_NAME, "pre").text)


def save_screenshot(browser: WebDriver, path: Path) -> None:
    """The whole page (the window stretched to its height, at most 2,400 px)."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(int(height) + 20, 2400))
    path.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(path))
    browser.set_window_size(1400, 1000)


# --- the state the alerts need: a snapshot the paused consumer has not taken -----------------------------


def _snapshot_age(dataset: str, data_team_lake: dict[str, Any]) -> float:
    newest = latest_snapshot(dataset, storage_options=data_team_lake)
    assert newest is not None
    return (datetime.now(UTC) - newest.created_at).total_seconds()


def _lag_snapshots(consumer: str, dataset: str, data_team_lake: dict[str, Any]) -> int:
    [row] = [row for row in consumer_lag(dataset, storage_options=data_team_lake) if row.consumer == consumer]
    return row.lag_snapshots


def _wait_until_older(dataset: str, data_team_lake: dict[str, Any], seconds: float) -> None:
    """Sleep until the newest snapshot of ``dataset`` is more than ``seconds`` old."""
    age = _snapshot_age(dataset, data_team_lake)
    if age <= seconds:
        time.sleep(seconds - age + 1.0)


@pytest.fixture(scope="module")
def lagging(
    apis: tuple[AirflowClient, AirflowClient],
    source: Callable[[int], str],
    dataset: str,
    data_team_lake: dict[str, Any],
) -> str:
    """With ``housing_consumer`` paused, the producer publishes new content: ml-team lags one snapshot.
    Returns the new snapshot's id in ``dataset`` (the consumer stays paused until the lag alert's test)."""
    data, ml = apis
    ml.pause(CONSUMER_DAG)
    # the watcher stops only when the DAG file is parsed again (up to 30 s later); a snapshot committed
    # before would be acknowledged by it and never queued, as Airflow queues no run for a paused DAG
    ml.reparse(CONSUMER_DAG)
    deadline = time.monotonic() + RUN_TIMEOUT
    while ml.asset_watchers(dataset):
        assert time.monotonic() < deadline, "the consumer's watcher still runs after pausing"
        time.sleep(1.0)
    before = {m.snapshot_id for m in list_snapshots(dataset, storage_options=data_team_lake)}
    run_id = data.trigger(PRODUCER_DAG, {"source": source(3)})
    wait_for_run(data, PRODUCER_DAG, run_id, timeout=RUN_TIMEOUT, progress=_say)
    [new] = [
        m.snapshot_id
        for m in list_snapshots(dataset, storage_options=data_team_lake)
        if m.snapshot_id not in before
    ]
    return new


def failed_run_log(client: AirflowClient, dag_id: str, task_id: str, conf: dict[str, Any]) -> str:
    """Trigger ``dag_id`` with ``conf``; it must fail: return ``task_id``'s log, read through the REST API."""
    run_id = client.trigger(dag_id, conf)
    with pytest.raises(FlowError, match="ended failed"):
        wait_for_run(client, dag_id, run_id, timeout=RUN_TIMEOUT, progress=_say)
    return client.task_log(dag_id, run_id, task_id)


# --- the tests, in order --------------------------------------------------------------------------------


def test_cli_lists_ml_team_with_lag_0_and_its_receipt(
    stack: Stack, flows: list[FlowReport], dataset: str, data_team_lake: dict[str, Any], max_lag_seconds: int
) -> None:
    """After the handoff ml-team took the newest snapshot: lag 0, within its promise; its subscription
    names its deployment; the receipt holds the version the consumer registered and its decision."""
    newest = flows[1].snapshot["snapshot_id"]
    row = _row(cli_consumers(stack, dataset), ML_TEAM)
    assert (row["lag_snapshots"], row["lag_seconds"], row["breaks_promise"]) == (0, 0.0, False)
    assert (row["last_snapshot_id"], row["consumed_snapshot_id"], row["newest_snapshot_id"]) == (newest,) * 3
    assert (row["last_outcome"], row["problems"]) == ("success", [])
    assert row["deployment"] == stack.config.airflow_ml_url
    assert row["max_lag_seconds"] == max_lag_seconds
    fs, folder = fsspec.url_to_fs(consumer_uri(dataset, ML_TEAM), **data_team_lake)
    [path] = fs.glob(f"{folder}/receipts/{newest}/*.json")
    receipt = json.loads(fs.cat(path))
    decision = flows[1].decision
    assert receipt["run_id"] == flows[1].consumer_run_id
    assert receipt["produced"]["model_version"] == decision["version"]
    assert receipt["produced"]["decision"] == decision["outcome"]


def test_contract_page_lists_ml_team_with_lag_0(
    stack: Stack, browser: WebDriver, contract_page: str, dataset: str
) -> None:
    """Signed in, the page lists ml-team with lag 0 and its promise kept; its consumers endpoint returns
    what the CLI prints."""
    row = page_consumer(browser, contract_page, ML_TEAM)
    assert (row["lag-snapshots"], row["breaks-promise"], row["status"]) == ("0", "false", "ok")
    assert row["last_outcome"].startswith("success")
    assert page_json(browser, f"{contract_page}api/consumers") == cli_consumers(stack, dataset)


@pytest.mark.parametrize("route", ["", "api/consumers", "api/snapshots", "api/contract"])
def test_contract_page_refuses_anonymous_requests(stack: Stack, route: str, reliability_row) -> None:
    """Without a session the page sends the browser to the login page; its JSON endpoints answer 401, and
    403 to a token this deployment did not issue."""
    url = f"{stack.config.airflow_data_url}/contract/{route}"
    anonymous = httpx.get(url, timeout=60, follow_redirects=False)
    forged = httpx.get(url, timeout=60, follow_redirects=False, cookies={"_token": "not-a-token"})
    observed = [f"{r.status_code} {r.headers.get('location', '')}".strip() for r in (anonymous, forged)]
    reliability_row(f"Contract page /contract/{route} without a session", "401/403 or login", str(observed))
    for response in (anonymous, forged):
        if route:
            assert response.status_code in (401, 403)
        else:
            assert response.status_code in (302, 303, 307)
            assert response.headers["location"].startswith("/auth/login")


def test_page_shows_lag_1_while_the_consumer_is_paused(
    browser: WebDriver, contract_page: str, lagging: str, tmp_path: Path
) -> None:
    """A snapshot published while housing_consumer is paused: the page shows ml-team one snapshot behind,
    the newest snapshot first in the snapshots table (the data team README's screenshot)."""
    row = page_consumer(browser, contract_page, ML_TEAM)
    assert row["lag-snapshots"] == "1"
    newest = browser.find_element(By.CSS_SELECTOR, "table#snapshots tr[data-snapshot-id]")
    assert newest.get_attribute("data-snapshot-id") == lagging
    save_screenshot(browser, SCREENSHOT if UPDATE_SCREENSHOT else tmp_path / SCREENSHOT.name)


def test_freshness_alert_with_a_promise_of_seconds(
    apis: tuple[AirflowClient, AirflowClient], lagging: str, dataset: str, data_team_lake: dict[str, Any]
) -> None:
    """Once the newest snapshot is older than max_age_seconds, the ML team's check fails, and its log
    names the dataset, the snapshot's age and the promise; with the contract's promise (24 h) it passes."""
    _, ml = apis
    ml.unpause(FRESHNESS_DAG)
    kept = ml.trigger(FRESHNESS_DAG, {})
    _wait_until_older(dataset, data_team_lake, MAX_AGE_SECONDS)
    log = failed_run_log(ml, FRESHNESS_DAG, "check_freshness", {"max_age_seconds": MAX_AGE_SECONDS})
    assert f"({dataset}): newest snapshot {lagging} is " in log
    assert (
        "the check expects a new snapshot, or a confirmation that the newest is still current, "
        f"at least every {MAX_AGE_SECONDS}s"
    ) in log
    wait_for_run(ml, FRESHNESS_DAG, kept, timeout=RUN_TIMEOUT, progress=_say)
    assert (
        "the producer promises a new snapshot, or a confirmation that the newest is still current, "
        "at least every 24h" in ml.task_log(FRESHNESS_DAG, kept, "check_freshness")
    )


def test_consumer_lag_alert_fires_then_clears_after_catching_up(
    stack: Stack,
    apis: tuple[AirflowClient, AirflowClient],
    lagging: str,
    dataset: str,
    data_team_lake: dict[str, Any],
    max_lag_seconds: int,
) -> None:
    """While ml-team lags beyond its promise the data team's check fails naming it, its lag and its
    promise; unpaused, the consumer takes the snapshot and the check passes again."""
    data, ml = apis
    data.unpause(LAG_DAG)
    _wait_until_older(dataset, data_team_lake, max_lag_seconds)
    log = failed_run_log(data, LAG_DAG, "check_consumer_lag", {})
    assert f"({dataset}): consumer ml-team lags 1 snapshot(s)" in log
    assert f"it promises at most {max_lag_seconds}s" in log

    ml.unpause(CONSUMER_DAG)
    ml.reparse(CONSUMER_DAG)  # the watcher starts at the next parse
    deadline = time.monotonic() + CATCH_UP_TIMEOUT
    while _lag_snapshots(ML_TEAM, dataset, data_team_lake):
        assert time.monotonic() < deadline, f"ml-team did not take snapshot {lagging}"
        time.sleep(2.0)
    wait_for_run(data, LAG_DAG, data.trigger(LAG_DAG, {}), timeout=RUN_TIMEOUT, progress=_say)
    assert _row(cli_consumers(stack, dataset), ML_TEAM)["consumed_snapshot_id"] == lagging


@pytest.mark.stops_stack
def test_embedded_stack_stops_cleanly(stack: Stack) -> None:
    """``down`` leaves no component, supervisor or child process running (the production stack's own
    check ends the fault tests)."""
    stack.down()
    assert not any(status.healthy or status.pid for status in stack.status())
    assert stack.leftovers() == []
