"""The housing_freshness alert end to end (``dag.test()``) against a real S3 server on loopback."""

from __future__ import annotations

import re
import time

import pytest

from housing_contracts.lake.layout import snapshot_time


def _tries(dag_run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (str(ti.state), ti.try_number) for ti in dag_run.get_task_instances()}


def test_the_contracts_promise_kept_passes(freshness_dag, lake_env, published) -> None:
    """Without max_age_seconds the contract's promise (24 h) is checked: a fresh snapshot keeps it."""
    dag_run = freshness_dag.test()
    assert str(dag_run.state) == "success", _tries(dag_run)
    (ti,) = dag_run.get_task_instances()
    kept = ti.xcom_pull(task_ids="check_freshness")
    assert kept.endswith(
        "the producer promises a new snapshot, or a confirmation that the newest is still current, "
        "at least every 24h"
    ), kept


def test_a_broken_promise_fails_at_once_naming_dataset_age_and_promise(
    freshness_dag, lake_env, published, subscribed_uri, capfd, reliability_row
) -> None:
    """A snapshot older than a 1 s promise fails check_freshness on its first try; the error names the
    dataset, the snapshot's age and the promise."""
    while time.time() - snapshot_time(published.snapshot_id).timestamp() <= 1.0:
        time.sleep(0.2)
    capfd.readouterr()
    dag_run = freshness_dag.test(run_conf={"max_age_seconds": 1})
    out, err = capfd.readouterr()
    alert = re.search(r"PromiseBroken: (.*)", out + err)
    reliability_row(
        "ML side: newest snapshot older than the producer's promise (1 s)",
        "housing_freshness fails at once, naming dataset, age and promise",
        f"run {dag_run.state}, check_freshness {_tries(dag_run)['check_freshness']}; "
        f"message: {alert.group(1) if alert else 'NOT FOUND'}",
    )
    assert str(dag_run.state) == "failed"
    assert _tries(dag_run)["check_freshness"] == ("failed", 1)
    assert alert, "the task log has no PromiseBroken message"
    message = alert.group(1)
    # the subscribed contract's dataset: the v2 sibling of $HOUSING_DATASET_URI
    assert subscribed_uri in message and published.snapshot_id in message
    assert re.search(r"is \d+(\.\d)?s old", message), message
    assert message.endswith("a confirmation that the newest is still current, at least every 1s"), message


@pytest.mark.parametrize("bad", [0, "soon"])
def test_a_bad_max_age_is_refused_before_any_check(freshness_dag, lake_env, bad) -> None:
    """max_age_seconds must be a positive number (or null): Airflow refuses the run's conf."""
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="Invalid input for param max_age_seconds"):
        freshness_dag.test(run_conf={"max_age_seconds": bad})
