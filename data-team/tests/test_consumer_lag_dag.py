"""The housing_consumer_lag alert end to end (``dag.test()``) against a real S3 server on loopback.

The task reads as the data-team identity (``lake_s3``); the ML team's subscription and receipts are
written with the ml-team identity, into its own prefix, as its deployment writes them.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import BaseNotifier

from housing_contracts import V2
from housing_contracts.lake.layout import snapshot_time
from include.housing_data import alerts


def _tries(dag_run) -> dict[str, tuple[str, int]]:
    return {ti.task_id: (str(ti.state), ti.try_number) for ti in dag_run.get_task_instances()}


def _older_than(snapshot_id: str, seconds: float) -> None:
    while time.time() - snapshot_time(snapshot_id).timestamp() <= seconds:
        time.sleep(0.2)


def test_kept_promises_pass_and_log_the_table(
    consumer_lag_dag, dataset, publish_sample, ml_team_records, caplog
) -> None:
    """A consumer that consumed the newest snapshot keeps any promise: the check succeeds and logs the
    per-consumer table."""
    manifest = publish_sample(dataset)
    ml_team_records.subscribe(dataset, max_lag=timedelta(hours=6))
    ml_team_records.receipt(dataset, manifest.snapshot_id)
    dag_run = consumer_lag_dag.test()
    assert str(dag_run.state) == "success", _tries(dag_run)
    assert f"every consumer of {dataset} keeps its promise" in caplog.text
    assert re.search(rf"ml-team .*{manifest.snapshot_id} +\| success +\| 0 .*\| ok", caplog.text)


def test_a_broken_promise_fails_at_once_naming_consumer_lag_and_promise(
    consumer_lag_dag, dataset, publish_sample, ml_team_records, capfd, caplog, reliability_row
) -> None:
    """A consumer whose last run failed and that promised a lag of 1 s: check_consumer_lag fails on its
    first try; the error names the dataset, the consumer, its lag, its promise and why its last run
    failed."""
    first = publish_sample(dataset, seed=1)
    ml_team_records.subscribe(dataset, max_lag=timedelta(seconds=1))
    ml_team_records.receipt(dataset, first.snapshot_id)
    newest = publish_sample(dataset, seed=2)
    reason = "train failed: ValueError: Input contains NaN"
    ml_team_records.receipt(dataset, newest.snapshot_id, outcome="failed", reason=reason, run="2")
    _older_than(newest.snapshot_id, 1.0)
    capfd.readouterr()
    dag_run = consumer_lag_dag.test()
    out, err = capfd.readouterr()
    alert = re.search(r"AirflowFailException: (.*)", out + err + caplog.text)
    reliability_row(
        "data side: ml-team lags beyond its own promise (1 s), its last run failed",
        "housing_consumer_lag fails at once, naming dataset, consumer, lag, promise and reason",
        f"run {dag_run.state}, check_consumer_lag {_tries(dag_run)['check_consumer_lag']}; "
        f"message: {alert.group(1) if alert else 'NOT FOUND'}",
    )
    assert str(dag_run.state) == "failed"
    assert _tries(dag_run)["check_consumer_lag"] == ("failed", 1)
    assert alert, "the task log has no AirflowFailException message"
    message = alert.group(1)
    assert dataset in message
    assert re.search(
        r"consumer ml-team lags 1 snapshot\(s\), [\d.]+s behind; it promises at most 1s", message
    )
    assert f"last: {newest.snapshot_id} failed: {reason}" in message


def test_every_version_is_checked_and_one_alert_names_the_v2_consumer(
    consumer_lag_dag, dataset, publish_sample, ml_team_records, capfd, caplog
) -> None:
    """ml-team keeps its promise on v1 and breaks its 1 s promise on v2 (nothing consumed): the check
    logs v1's table, then fails at once naming the v2 dataset and its lag, not v1."""
    v2 = V2.dataset_uri()  # the v2 sibling of this test's dataset
    v1_manifest = publish_sample(dataset)
    ml_team_records.subscribe(dataset, max_lag=timedelta(hours=6))
    ml_team_records.receipt(dataset, v1_manifest.snapshot_id)
    v2_manifest = publish_sample(v2, contract=V2)
    ml_team_records.subscribe(v2, max_lag=timedelta(seconds=1))
    _older_than(v2_manifest.snapshot_id, 1.0)
    capfd.readouterr()
    dag_run = consumer_lag_dag.test()
    out, err = capfd.readouterr()
    assert (str(dag_run.state), _tries(dag_run)["check_consumer_lag"]) == ("failed", ("failed", 1))
    assert f"every consumer of {dataset} keeps its promise" in caplog.text
    alert = re.search(r"AirflowFailException: (.*)", out + err + caplog.text)
    assert alert, "the task log has no AirflowFailException message"
    assert v2 in alert.group(1) and dataset not in alert.group(1)
    assert "consumer ml-team lags 1 snapshot(s)" in alert.group(1)


def test_no_consumer_is_no_alert(consumer_lag_dag, dataset, publish_sample) -> None:
    """A dataset nobody subscribes to, in either version, has no promise to break."""
    publish_sample(dataset)
    publish_sample(V2.dataset_uri(), contract=V2)
    assert str(consumer_lag_dag.test().state) == "success"


class RecordingNotifier(BaseNotifier):
    """A notifier like Slack's or SMTP's, which writes its message to a file instead of sending it."""

    template_fields = ("message",)

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.message = "{{ ti.dag_id }}.{{ ti.task_id }} failed: {{ exception }}"

    def notify(self, context: dict[str, Any]) -> None:
        self.path.write_text(self.message)


def test_a_notifier_in_alert_callbacks_receives_the_alert(
    project_dags, dataset, publish_sample, ml_team_records, tmp_path, monkeypatch
) -> None:
    """A notifier added to ``alerts.ALERT_CALLBACKS`` is called when the check fails, with the alert."""
    from airflow.models import DagBag

    inbox = tmp_path / "inbox.txt"
    monkeypatch.setattr(alerts, "ALERT_CALLBACKS", [RecordingNotifier(inbox)])
    dag = DagBag(dag_folder=project_dags.dag_folder).dags["housing_consumer_lag"]
    manifest = publish_sample(dataset)
    ml_team_records.subscribe(dataset, max_lag=timedelta(seconds=1))
    _older_than(manifest.snapshot_id, 1.0)
    assert str(dag.test().state) == "failed"
    assert inbox.read_text().startswith("housing_consumer_lag.check_consumer_lag failed: ")
    assert "consumer ml-team lags 1 snapshot(s)" in inbox.read_text()
