"""DAG integrity: the repository's shared checks over every file of dags/, and each DAG's own."""

from __future__ import annotations

import importlib
import re
import runpy
from pathlib import Path

import pytest

from housing_contracts import V2
from housing_contracts.airflow.trigger import DEFAULT_RENEW_SECONDS
from housing_testkit import DagIntegrity, dag_bag
from include.housing_ml import alerts, settings
from include.housing_ml.settings import CONSUMER, CONTRACT, MAX_LAG_ENV, RENEW_EVERY_ENV

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"
CONSUMER_FILE = DAGS_FOLDER / "housing_consumer.py"


class TestDagIntegrity(DagIntegrity):
    """Imports, tags, owner, retries, catchup, UTC start, doc_md, nothing heavy at parse time."""

    dags_folder = DAGS_FOLDER


def consumer_dag():
    return dag_bag(DAGS_FOLDER).dags["housing_consumer"]


def freshness_dag():
    return dag_bag(DAGS_FOLDER).dags["housing_freshness"]


def _watcher_kwargs(dag) -> dict:
    (asset,) = dag.timetable.asset_condition.objects
    (watcher,) = asset.watchers
    return watcher.trigger.serialize()[1]


def test_consumer_dag_is_in_the_bag() -> None:
    """The bag holds the consumer DAG."""
    assert "housing_consumer" in dag_bag(DAGS_FOLDER).dags


def test_consumer_is_scheduled_on_the_watched_contract_asset() -> None:
    """housing_consumer runs on contract 2.0.0's Asset, which carries the snapshot watcher."""
    (asset,) = consumer_dag().timetable.asset_condition.objects
    assert (asset.name, asset.uri) == ("california_housing_v2", "s3://lake/california_housing/v2")
    assert [type(w.trigger).__name__ for w in asset.watchers] == ["SnapshotCommittedTrigger"]


def test_consumer_writes_the_predictions_asset() -> None:
    """The predictions task declares the v2 predictions Asset as its outlet."""
    task = consumer_dag().get_task("write_predictions")
    assert [(a.name, a.uri) for a in task.outlets] == [
        ("california_housing_predictions_v2", "s3://lake/california_housing_predictions/v2")
    ]


def test_the_subscription_is_one_line_which_both_dags_follow() -> None:
    """settings.CONTRACT names the contract (v2); the consumer's Asset and the freshness check follow it."""
    assert CONTRACT == V2
    (asset,) = consumer_dag().timetable.asset_condition.objects
    assert asset.uri == CONTRACT.uri
    defaults = re.findall(r"\bcontract: Contract = ([\w.]+)", CONSUMER_FILE.read_text())
    assert defaults == ["settings.CONTRACT"]


def test_no_other_line_of_the_dag_file_names_a_major() -> None:
    """Apart from imports, nothing in the DAG file is specific to a major: its factory takes the contract."""
    specific = re.compile(r"\bV\d\b|\bv\d\b|_v\d\b|\d\.\d\.\d")
    lines = CONSUMER_FILE.read_text().splitlines()
    allowed = ("from housing_contracts import",)
    assert [line for line in lines if specific.search(line) and not line.startswith(allowed)] == []


def test_manual_runs_take_a_snapshot_id_param() -> None:
    """The snapshot_id param defaults to None (newest snapshot)."""
    assert consumer_dag().params["snapshot_id"] is None


def test_consumer_watcher_subscribes_as_ml_team_with_its_promise() -> None:
    """The watcher's trigger subscribes as consumer ml-team, promising a lag of at most 6 hours."""
    kwargs = _watcher_kwargs(consumer_dag())
    assert (kwargs["consumer"], kwargs["max_lag_seconds"]) == (CONSUMER, 6 * 3600)
    assert CONSUMER == "ml-team"  # the name of its S3 identity, the only one that may write its prefix


def test_the_promised_lag_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """HOUSING_MAX_LAG_SECONDS, set where the DAG file is parsed, becomes the watcher's promise."""
    monkeypatch.setenv(MAX_LAG_ENV, "30")
    try:
        importlib.reload(settings)  # settings reads the promise once, on import, as a DAG parse does
        dag = runpy.run_path(str(DAGS_FOLDER / "housing_consumer.py"))["housing_consumer"]()
    finally:
        monkeypatch.delenv(MAX_LAG_ENV)
        importlib.reload(settings)
    assert _watcher_kwargs(dag)["max_lag_seconds"] == 30.0


def test_the_renewal_interval_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """HOUSING_SUBSCRIPTION_RENEW_SECONDS, set where the DAG file is parsed, becomes the watcher's renewal
    interval (tests shorten the lease with it); unset, the contract package's default."""
    assert _watcher_kwargs(consumer_dag())["renew_seconds"] == DEFAULT_RENEW_SECONDS
    monkeypatch.setenv(RENEW_EVERY_ENV, "2")
    try:
        importlib.reload(settings)
        dag = runpy.run_path(str(CONSUMER_FILE))["housing_consumer"]()
    finally:
        monkeypatch.delenv(RENEW_EVERY_ENV)
        importlib.reload(settings)
    assert _watcher_kwargs(dag)["renew_seconds"] == 2.0


def test_receipts_record_failures_then_the_alerts_fire() -> None:
    """Every consumer task's failure callbacks: the failed receipt first, then the deployment's alerts."""
    callbacks = consumer_dag().default_args["on_failure_callback"]
    assert [getattr(cb, "__name__", None) for cb in callbacks] == ["on_failure"]
    assert (callbacks[0].__self__.consumer, callbacks[0].__self__.contract) == (CONSUMER, V2)


def test_the_success_receipt_is_written_by_the_last_task() -> None:
    """write_predictions (which writes the success receipt) runs after every other task and only if they
    all succeeded, so a skipped re-delivery (the whole run skipped) writes no receipt."""
    dag = consumer_dag()
    assert sorted(dag.task_ids) == ["decide", "resolve_snapshot", "train", "write_predictions"]
    last = dag.get_task("write_predictions")
    assert "decide" in last.upstream_task_ids
    assert last.downstream_task_ids == set()
    assert last.get_flat_relative_ids(upstream=True) == set(dag.task_ids) - {"write_predictions"}
    assert all(task.trigger_rule == "all_success" for task in dag.tasks)


def test_freshness_checks_every_30_minutes_and_starts_active() -> None:
    """housing_freshness runs every 30 minutes, is never paused on creation and does not catch up."""
    dag = freshness_dag()
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("*/30 * * * *", "UTC")
    assert dag.is_paused_upon_creation is False
    assert dag.catchup is False
    assert list(dag.task_ids) == ["check_freshness"]


def test_freshness_takes_a_tighter_promise_per_run() -> None:
    """The max_age_seconds param defaults to None (the contract's promise)."""
    assert freshness_dag().params["max_age_seconds"] is None


@pytest.mark.parametrize(("dag_id", "own"), [("housing_freshness", []), ("housing_consumer", ["on_failure"])])
def test_alerts_come_from_the_one_documented_list(
    dag_id: str, own: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notifier added to alerts.ALERT_CALLBACKS (empty by default) becomes the DAG's last failure
    callback, after its own (the consumer's failed receipt)."""
    assert alerts.ALERT_CALLBACKS == []

    def notify_team(context) -> None:
        """Stands for a SlackNotifier or SmtpNotifier."""

    monkeypatch.setattr(alerts, "ALERT_CALLBACKS", [notify_team])
    dag = runpy.run_path(str(DAGS_FOLDER / f"{dag_id}.py"))[dag_id]()
    callbacks = dag.default_args["on_failure_callback"]
    assert [callback.__name__ for callback in callbacks] == [*own, "notify_team"]
