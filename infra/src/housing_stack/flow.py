"""Drive the whole handoff on a running stack: producer run → snapshot → consumer run → decision.

Used by ``make demo`` (with a live progress display) and by the end-to-end tests, so both exercise
exactly what a user sees: the two Airflow REST APIs and the lake's committed snapshots, nothing
imported from the teams' code. The producer may publish several contract versions in one run; the flow
follows the one the consumer DAG is scheduled on, which it asks the ML team's Airflow for
(:func:`consumed_uri`), so the ML team's switch to another version needs no change here.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError

from housing_contracts import ContractError, list_snapshots
from housing_contracts.consumers.records import read_subscription
from housing_stack.airflow_client import FINISHED, AirflowClient, AirflowError
from housing_stack.identities import ML_TEAM

if TYPE_CHECKING:
    from housing_contracts import Manifest
    from housing_stack.stack import StackConfig

PRODUCER_DAG = "housing_producer"
CONSUMER_DAG = "housing_consumer"

Progress = Callable[[str], None]


class FlowError(RuntimeError):
    """A step of the flow failed or timed out; the message names the DAG, run and task."""


@dataclass
class Phase:
    """One timed step of the flow."""

    name: str
    seconds: float


@dataclass
class FlowReport:
    """What one pass of the flow did, for the demo's summary and the end-to-end test's assertions."""

    producer_run_id: str
    published: bool  #: False when the content was unchanged and no snapshot was written
    dataset_uri: str = ""  #: the dataset the consumer DAG subscribes to, whose snapshot the flow follows
    snapshot: dict[str, Any] | None = None  #: that dataset's new snapshot (:func:`snapshot_summary`)
    cleaning: dict[str, Any] | None = None  #: rows removed per cleaning rule
    consumer_run_id: str | None = None
    event_latency_s: float | None = None  #: manifest written → consumer run queued
    decision_s: float | None = None  #: producer triggered → the consumer's decide task ended
    training: dict[str, Any] | None = None  #: MLflow run id, model URI, metrics
    decision: dict[str, Any] | None = None  #: champion / challenger and both scores
    predictions: dict[str, Any] | None = None  #: the predictions file written (``uri``, ...)
    phases: list[Phase] = field(default_factory=list)
    total_s: float = 0.0


def team_storage_options(config: StackConfig, identity: str) -> dict[str, Any]:
    """s3fs options with the keys of S3 identity ``identity`` on the stack's S3."""
    return config.credentials[identity].storage_options(config.s3_endpoint_url, config.region)


def reader_storage_options(config: StackConfig) -> dict[str, Any]:
    """s3fs options with the ML team's keys: they list the dataset's snapshots, as its watcher does."""
    return team_storage_options(config, ML_TEAM)


def committed_snapshots(uri: str, storage_options: dict[str, Any]) -> list[Manifest]:
    """The manifests of the readable snapshots committed under ``uri``, oldest first: a corrupt or foreign
    manifest (old junk in the lake) is skipped, and logged with its reason, as every reader skips it."""
    try:
        return list_snapshots(uri, storage_options=storage_options)
    except (OSError, BotoCoreError, ContractError) as error:
        raise FlowError(f"cannot list the committed snapshots of {uri}: {error!r}") from error


def snapshot_summary(manifest: Manifest) -> dict[str, Any]:
    """What the flow reports of a snapshot, read from its manifest in the lake."""
    return manifest.summary() | {"created_at": manifest.created_at.isoformat()}


def consumed_uri(ml: AirflowClient, dag_id: str = CONSUMER_DAG, *, timeout: float = 120.0) -> str:
    """The URI of the dataset ``dag_id`` is scheduled on, as the ML team's Airflow parsed the DAG.

    The ML team picks its contract version in its DAG file; the deployment is the place that knows which
    one it currently subscribes to. Fails unless the DAG is scheduled on exactly one asset.
    """
    ml.wait_for_dag(dag_id, timeout)
    deadline = time.monotonic() + timeout
    while not (uris := ml.schedule_asset_uris(dag_id)):
        # the DAG's asset references are written with its serialisation; give the processor a moment
        if time.monotonic() > deadline:
            raise FlowError(f"{dag_id} is not scheduled on any asset after {timeout:.0f} s")
        time.sleep(1.0)
    if len(uris) != 1:
        raise FlowError(
            f"{dag_id} is scheduled on {len(uris)} assets ({', '.join(uris)}); expected one dataset"
        )
    return uris[0]


def _subscribed_at(uri: str, consumer: str, storage_options: dict[str, Any]) -> datetime | None:
    """When ``consumer``'s watcher last started (its subscription record), or None before the first."""
    subscription = read_subscription(uri, consumer, storage_options=storage_options)
    return subscription.subscribed_at if subscription else None


def start_watcher(
    ml: AirflowClient,
    uri: str,
    storage_options: dict[str, Any],
    *,
    timeout: float,
    say: Progress,
    dag_id: str = CONSUMER_DAG,
    consumer: str = ML_TEAM,
) -> None:
    """Unpause consumer DAG ``dag_id`` and return once its watcher of ``uri`` runs and holds its start
    position.

    A watcher is created when the DAG processor parses the unpaused DAG, then started by the triggerer;
    it records the consumer's subscription once it has listed the snapshots it starts after. A snapshot
    committed before that would not be an event, and the first event would wait on the DAG processor's
    interval, so the flow asks for the parse and publishes only after the subscription is written.
    """
    dag = ml.wait_for_dag(dag_id)
    if not dag["is_paused"] and ml.asset_watchers(uri):
        return
    since = datetime.now(UTC).replace(microsecond=0)  # subscribed_at is stored to the second
    ml.unpause(dag_id)
    ml.reparse(dag_id)
    deadline = time.monotonic() + timeout
    while True:
        subscribed = _subscribed_at(uri, consumer, storage_options) if ml.asset_watchers(uri) else None
        if subscribed is not None and subscribed >= since:
            say(f"{dag_id}'s watcher of {uri} is live (subscribed at {subscribed:%H:%M:%S})")
            return
        if time.monotonic() > deadline:
            raise FlowError(f"{dag_id}'s watcher did not start within {timeout:.0f} s of unpausing")
        time.sleep(0.5)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _task_phases(client: AirflowClient, dag_id: str, run_id: str) -> list[Phase]:
    phases = []
    for ti in sorted(client.task_instances(dag_id, run_id), key=lambda t: t["start_date"] or "~"):
        if ti["duration"] is not None and ti["state"] == "success":
            phases.append(Phase(f"{dag_id}.{ti['task_id']}", float(ti["duration"])))
    return phases


def _task_log_tail(client: AirflowClient, dag_id: str, run_id: str, ti: dict[str, Any]) -> str:
    try:
        log = client.task_log(dag_id, run_id, ti["task_id"], max(ti["try_number"], 1))
    except AirflowError as error:
        return f"(log unavailable: {error})"
    return "\n".join(log.splitlines()[-15:])


def wait_for_run(
    client: AirflowClient, dag_id: str, run_id: str, *, timeout: float, progress: Progress
) -> dict[str, Any]:
    """Poll a DagRun until it finishes, reporting task states as they change; fail with the log tail."""
    deadline = time.monotonic() + timeout
    shown = ""
    while True:
        run = client.run(dag_id, run_id)
        tis = client.task_instances(dag_id, run_id)
        line = f"{dag_id}: " + "  ".join(f"{t['task_id']}={t['state'] or 'none'}" for t in tis)
        if line != shown:
            progress(line)
            shown = line
        if run["state"] in FINISHED:
            break
        if time.monotonic() > deadline:
            raise FlowError(f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f} s ({line})")
        time.sleep(1.0)
    if run["state"] != "success":
        failed = [t for t in tis if t["state"] in ("failed", "upstream_failed")]
        first = next((t for t in failed if t["state"] == "failed"), None)
        tail = _task_log_tail(client, dag_id, run_id, first) if first else ""
        names = ", ".join(f"{t['task_id']} ({t['state']})" for t in failed) or "no task failed"
        raise FlowError(f"{dag_id} run {run_id} ended {run['state']}: {names}\n{tail}")
    return run


def find_consumer_run(
    ml: AirflowClient, snapshot_id: str, seen: set[str], *, timeout: float, dag_id: str = CONSUMER_DAG
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The run of ``dag_id`` created for ``snapshot_id`` and its triggering manifest, or None on timeout.
    Runs found to be for other snapshots are added to ``seen`` and not asked about again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in ml.runs(dag_id):
            if run["dag_run_id"] in seen:
                continue
            try:
                events = ml.triggering_events(dag_id, run["dag_run_id"])
            except AirflowError:
                continue  # Airflow 3.3.2 answers 500 for a run still queued (apache/airflow#71360)
            for event in events:
                payload = (event.get("extra") or {}).get("payload") or {}
                if payload.get("snapshot_id") == snapshot_id:
                    return run, payload
            seen.add(run["dag_run_id"])  # a run for another snapshot
        time.sleep(0.5)
    return None


def _param_default(client: AirflowClient, dag_id: str, name: str) -> Any:
    """The default value of a DAG param, as the deployment parsed it."""
    param = client.request("GET", f"/dags/{dag_id}/details")["params"][name]
    return param.get("value") if isinstance(param, dict) else param


def start_producer(data: AirflowClient, conf: dict[str, Any] | None, *, timeout: float, say: Progress) -> str:
    """Unpause ``housing_producer`` and start the flow's run; return its run id.

    Unpausing a daily DAG whose latest interval has not run makes Airflow start that run at once; two
    runs on the same data would leave the second with nothing to publish. So when such a run is due and
    ``conf`` asks for the default source anyway, the flow follows that run instead of triggering one.
    """
    dag = data.wait_for_dag(PRODUCER_DAG)
    due = _when(dag.get("next_dagrun_run_after"))
    scheduled_is_due = dag["is_paused"] and due is not None and due <= datetime.now(UTC)
    known = {run["dag_run_id"] for run in data.runs(PRODUCER_DAG)}
    data.unpause(PRODUCER_DAG)
    if not scheduled_is_due:
        run_id = data.trigger(PRODUCER_DAG, conf)
        say(f"triggered {PRODUCER_DAG} run {run_id}")
        return run_id
    default_source = _param_default(data, PRODUCER_DAG, "source")
    if (conf or {}).get("source", default_source) != default_source:
        raise FlowError(
            f"unpausing {PRODUCER_DAG} started its daily run on the default source; run the flow with "
            f"conf {conf} again once that run and the consumer run it causes have finished"
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [run for run in data.runs(PRODUCER_DAG) if run["dag_run_id"] not in known]
        if new:
            say(f"unpausing {PRODUCER_DAG} started its daily run {new[0]['dag_run_id']}: following it")
            return new[0]["dag_run_id"]
        time.sleep(1.0)
    raise FlowError(
        f"{PRODUCER_DAG} was due a daily run after unpausing, but none started in {timeout:.0f} s"
    )


def run_flow(
    data: AirflowClient,
    ml: AirflowClient,
    *,
    storage_options: dict[str, Any],
    dataset_uri: str | None = None,
    conf: dict[str, Any] | None = None,
    timeout: float = 900.0,
    progress: Progress | None = None,
) -> FlowReport:
    """Trigger ``housing_producer`` with ``conf`` and follow the handoff to the consumer's decision.

    ``dataset_uri`` is the dataset the flow follows; by default the one ``housing_consumer`` is scheduled
    on (:func:`consumed_uri`). ``storage_options`` (s3fs) must allow listing it. The snapshot the run
    committed there is the one the consumer must take. When the producer commits none (unchanged
    content), the flow checks that the committed snapshots are exactly those before the run: with no new
    manifest the consumer's watcher, which fires only on a new one, cannot start a run. It fails if a
    consumer run appeared all the same, or if the publish task was skipped yet a snapshot appeared.
    """
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    uri = dataset_uri or consumed_uri(ml)
    start_watcher(ml, uri, storage_options, timeout=timeout, say=say)
    started = time.monotonic()
    triggered = datetime.now(UTC)
    seen = {run["dag_run_id"] for run in ml.runs(CONSUMER_DAG)}
    committed = [m.snapshot_id for m in committed_snapshots(uri, storage_options)]
    run_id = start_producer(data, conf, timeout=timeout, say=say)
    wait_for_run(data, PRODUCER_DAG, run_id, timeout=timeout, progress=say)
    report = FlowReport(producer_run_id=run_id, published=False, dataset_uri=uri)
    report.phases = _task_phases(data, PRODUCER_DAG, run_id)
    report.cleaning = data.xcom(PRODUCER_DAG, run_id, "clean").get("cleaning")
    new = [m for m in committed_snapshots(uri, storage_options) if m.snapshot_id not in committed]
    publish = next((t for t in data.task_instances(PRODUCER_DAG, run_id) if t["task_id"] == "publish"), None)
    if publish is not None and publish["state"] == "skipped" and new:
        changed = [m.snapshot_id for m in new]
        raise FlowError(f"publish was skipped, yet {uri} has new snapshots: {changed}")
    if not new:
        say(f"content unchanged: no new snapshot under {uri}")
        runs = [r["dag_run_id"] for r in ml.runs(CONSUMER_DAG) if r["dag_run_id"] not in seen]
        if runs:
            raise FlowError(f"unchanged data published nothing, yet {CONSUMER_DAG} ran: {runs}")
        say(f"{len(committed)} committed snapshots, as before: no new manifest, so no {CONSUMER_DAG} run")
        report.total_s = time.monotonic() - started
        return report
    if len(new) > 1:
        raise FlowError(f"producer run {run_id} committed {len(new)} snapshots under {uri}; expected one")

    report.published = True
    report.snapshot = snapshot_summary(new[0])
    snapshot_id = report.snapshot["snapshot_id"]
    rows = report.snapshot["row_count"]
    say(f"published snapshot {snapshot_id} of {uri} ({rows} rows); waiting for the consumer")
    found = find_consumer_run(ml, snapshot_id, seen, timeout=timeout)
    if found is None:
        raise FlowError(f"no {CONSUMER_DAG} run for snapshot {snapshot_id} within {timeout:.0f} s")
    consumer_run, manifest = found
    report.consumer_run_id = consumer_run["dag_run_id"]
    queued, created = _when(consumer_run["queued_at"]), _when(manifest.get("created_at"))
    if queued and created:
        report.event_latency_s = (queued - created).total_seconds()
        report.phases.append(Phase("event: manifest written → consumer run queued", report.event_latency_s))
    say(f"{CONSUMER_DAG} run {report.consumer_run_id} queued")
    wait_for_run(ml, CONSUMER_DAG, report.consumer_run_id, timeout=timeout, progress=say)
    report.phases += _task_phases(ml, CONSUMER_DAG, report.consumer_run_id)
    report.training = ml.xcom(CONSUMER_DAG, report.consumer_run_id, "train", key="training")
    report.decision = ml.xcom(CONSUMER_DAG, report.consumer_run_id, "decide")
    report.predictions = ml.xcom(CONSUMER_DAG, report.consumer_run_id, "write_predictions")
    tis = ml.task_instances(CONSUMER_DAG, report.consumer_run_id)
    decided = _when(next(t for t in tis if t["task_id"] == "decide")["end_date"])
    report.decision_s = (decided - triggered).total_seconds() if decided else None
    report.total_s = time.monotonic() - started
    return report
