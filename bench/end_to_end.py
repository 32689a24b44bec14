"""End to end on the real dataset, producer trigger → champion/challenger decided, beside its floor.

Starts the whole native stack (``housing_stack.stack.Stack``: SeaweedFS, MLflow, both teams' Airflow
deployments) on free loopback ports in a temporary directory, never the user's ``make up`` stack. Each
deployment also serves a generated floor DAG (:mod:`bench.floor_dags`, through ``StackConfig.extra_dags``).
On that one stack, one after the other:

1. the real flow, ``housing_stack.flow.run_flow`` on the real dataset (the code of ``make demo``), and
   the per-task breakdown of both runs (:mod:`bench.breakdown`);
2. the floor: ``floor_housing_producer`` triggered, its commit fires ``floor_housing_consumer``'s watcher;
   trigger → the floor's ``decide`` ended;
3. the same steps as plain function calls, one process per team (:mod:`bench.in_process`);
4. the ``--e2e-rows`` snapshots (2M and 10M rows) bootstrapped from the real data through both real DAGs
   (Parquet file as the producer's source), each task's peak RSS sampled from /proc and its snapshot
   reads counted in its log. A task's memory for the frame is what it added to its start minus what
   the same task added on the real-data flow of step 1 (sampled the same way): that fixed cost is the
   libraries it imports and its clients, the same at any size.

Stack start-up is not part of any figure.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import breakdown as task_breakdown
from bench.deployment import REST_TIMEOUT
from bench.floor_dags import FLOOR_PREFIX, FLOOR_URI, TEMPLATE_URI, consumed_uri, write_floor_dags
from bench.results import Goal, Result, not_measured, progress, render_table
from bench.task_memory import TaskMemory
from housing_contracts import V1, contract_for, publish
from housing_contracts.consumers.records import consumer_uri
from housing_stack.airflow_client import FINISHED, AirflowClient, AirflowError
from housing_stack.flow import (
    CONSUMER_DAG,
    PRODUCER_DAG,
    FlowError,
    reader_storage_options,
    run_flow,
    team_storage_options,
)
from housing_stack.identities import DATA_TEAM, ML_TEAM
from housing_stack.process import StackError
from housing_stack.stack import Stack, StackConfig

GOAL = Goal("<=", 60.0)
FLOOR_GOAL = Goal("<=", 1.5, of="ratio")
NAME = "end to end: trigger → decision"
FLOOR_NAME = "end to end floor: the same DAG shapes, no-op tasks"
#: The task whose end is the decision (the consumer's champion/challenger step).
DECISION_TASK = "decide"
#: The producer's source (the real dataset, through scikit-learn's copy of it).
SOURCE = "sklearn"
#: Per wait of the flow: far beyond the goal; a loaded 2-core machine took 227 s for one train task.
FLOW_TIMEOUT = 900.0
BIG_TIMEOUT = 1200.0
BIG_GOAL = Goal("<=", 300.0)
#: Above 2M rows (the 10M flow): trigger → decision within 10 minutes.
LARGER_GOAL = Goal("<=", 600.0)
BIG_MEMORY_GOAL = Goal("<=", 3.0, of="ratio")
BIG_READS_GOAL = Goal("<=", 1.0)
#: The contract's log line for each snapshot read (logger housing_contracts.lake.snapshots).
READ_LINE = "read snapshot "

Say = Callable[[str], None]


def _keep_logs(state_dir: Path) -> Path:
    """Copy the stack's server and task logs out of the temporary directory, for diagnosis."""
    kept = Path(tempfile.mkdtemp(prefix="housing-bench-e2e-logs-"))
    for logs in (state_dir / "logs", *state_dir.glob("airflow-*/logs")):
        if logs.is_dir():
            shutil.copytree(logs, kept / logs.relative_to(state_dir), dirs_exist_ok=True)
    return kept


def _short(error: BaseException) -> str:
    return f"{type(error).__name__}: " + " ".join(str(error).split())[:400]


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _decided_at(client: AirflowClient, dag_id: str, run_id: str) -> datetime | None:
    """The end of the run's decision task (its last task's end if it has none)."""
    tis = client.task_instances(dag_id, run_id)
    ends = {t["task_id"]: _when(t["end_date"]) for t in tis}
    if DECISION_TASK in ends:
        return ends[DECISION_TASK]
    return max((e for e in ends.values() if e), default=None)


@dataclass
class Clients:
    data: AirflowClient
    ml: AirflowClient


def _task_rows(clients: Clients, report: Any) -> list[Result]:
    """One row per task of both runs: total, with the split in the note."""
    rows = []
    for client, dag_id, run_id in (
        (clients.data, PRODUCER_DAG, report.producer_run_id),
        (clients.ml, CONSUMER_DAG, report.consumer_run_id),
    ):
        timings = task_breakdown.breakdown(client, dag_id, run_id)
        progress("end to end: breakdown\n" + task_breakdown.render(timings))
        for t in timings:
            split = ", ".join(
                f"{label} {getattr(t, part):.2f}"
                for label, part in zip(task_breakdown.HEADER[2:7], task_breakdown.PARTS[:5], strict=True)
                if getattr(t, part) is not None
            )
            rows.append(
                Result(f"end to end task: {dag_id}.{t.task_id}", t.total_s, "s", note=f"{t.state}; {split}")
            )
    return rows


# --- the floor -----------------------------------------------------------------------------------------


def _wait_for_file(uri: str, storage_options: dict[str, Any], timeout: float) -> None:
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(uri, **storage_options)
    deadline = time.monotonic() + timeout
    while True:
        fs.invalidate_cache()
        if fs.exists(path):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{uri} did not appear within {timeout:.0f} s")
        time.sleep(0.5)


def _wait_for_run(client: AirflowClient, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = client.run(dag_id, run_id)
        if run["state"] in FINISHED:
            if run["state"] != "success":
                raise FlowError(f"{dag_id} run {run_id} ended {run['state']}")
            return run
        if time.monotonic() > deadline:
            raise FlowError(f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f} s")
        time.sleep(0.5)


def _run_floor(clients: Clients, config: StackConfig, watcher: dict[str, Any], say: Say) -> tuple[float, str]:
    """Trigger the floor producer once its consumer's watcher is live; seconds to the floor's decision."""
    producer, consumer = FLOOR_PREFIX + PRODUCER_DAG, FLOOR_PREFIX + CONSUMER_DAG
    clients.data.wait_for_dag(producer, timeout=180)
    clients.ml.wait_for_dag(consumer, timeout=180)
    clients.ml.unpause(consumer)
    clients.ml.reparse(consumer)
    clients.data.unpause(producer)
    subscriber = watcher["kwargs"].get("consumer")
    if subscriber:  # live = the watcher has listed its start position and written the subscription
        record = consumer_uri(FLOOR_URI, subscriber, storage_options=reader_storage_options(config))
        _wait_for_file(f"{record}/subscription.json", reader_storage_options(config), timeout=180)
    else:
        deadline = time.monotonic() + 180
        while not clients.ml.asset_watchers(FLOOR_URI) and time.monotonic() < deadline:
            time.sleep(0.5)
    seen = {r["dag_run_id"] for r in clients.ml.runs(consumer)}
    triggered = datetime.now(UTC)
    run_id = clients.data.trigger(producer)
    say(f"floor: triggered {producer} run {run_id}")
    _wait_for_run(clients.data, producer, run_id, FLOW_TIMEOUT)
    deadline = time.monotonic() + FLOW_TIMEOUT
    while not (new := [r for r in clients.ml.runs(consumer) if r["dag_run_id"] not in seen]):
        if time.monotonic() > deadline:
            raise FlowError(f"no {consumer} run within {FLOW_TIMEOUT:.0f} s of the floor commit")
        time.sleep(0.5)
    consumer_run = new[0]["dag_run_id"]
    _wait_for_run(clients.ml, consumer, consumer_run, FLOW_TIMEOUT)
    decided = _decided_at(clients.ml, consumer, consumer_run)
    if decided is None:
        raise FlowError(f"{consumer} run {consumer_run} has no end for {DECISION_TASK}")
    timings = task_breakdown.breakdown(clients.data, producer, run_id) + task_breakdown.breakdown(
        clients.ml, consumer, consumer_run
    )
    return (decided - triggered).total_seconds(), task_breakdown.render(timings)


# --- 2M rows ---------------------------------------------------------------------------------------------


def _big_source(workdir: Path, rows: int) -> tuple[Path, float]:
    """A Parquet file of ``rows`` rows bootstrapped from the real data, and the frame's size in MB."""
    from bench.data import bootstrap, frame_bytes

    frame = bootstrap(rows, seed=2_000)
    path = workdir / f"bootstrap-{rows}.parquet"
    frame.to_parquet(path, index=False)
    return path, frame_bytes(frame) / 2**20


def _reads_per_task(client: AirflowClient, dag_id: str, run_id: str) -> dict[str, int]:
    counts = {}
    for ti in client.task_instances(dag_id, run_id):
        if not ti["try_number"] or ti["state"] == "skipped":
            continue
        log = client.task_log(dag_id, run_id, ti["task_id"], ti["try_number"])
        counts[ti["task_id"]] = sum(line.startswith(READ_LINE) for line in log.splitlines())
    return counts


def _memory(
    client: AirflowClient, dag_id: str, run_id: str, memory: TaskMemory
) -> dict[str, tuple[float, float]]:
    """task id -> (MB the task added to what it started with, its absolute peak in MB)."""
    added, peaks = memory.added_mb, memory.peaks_mb
    return {
        f"{dag_id}.{t['task_id']}": (added[t["id"]], peaks[t["id"]])
        for t in client.task_instances(dag_id, run_id)
        if t["id"] in peaks
    }


def _flow_memory(clients: Clients, report: Any, memory: TaskMemory) -> dict[str, tuple[float, float]]:
    """``_memory`` of both runs of a flow, keyed ``<dag>.<task>``."""
    return {
        **_memory(clients.data, PRODUCER_DAG, report.producer_run_id, memory),
        **_memory(clients.ml, CONSUMER_DAG, report.consumer_run_id, memory),
    }


def _real_flow(clients: Clients, config: StackConfig, say: Say) -> tuple[Any, dict[str, float]]:
    """The flow on the real dataset, and task -> MB it added there (a ~1 MB frame): each task's fixed
    cost (its libraries' first use, its S3 and MLflow clients), which does not grow with the frame."""
    with TaskMemory() as memory:
        report = run_flow(
            clients.data,
            clients.ml,
            storage_options=reader_storage_options(config),
            conf={"source": SOURCE},
            timeout=FLOW_TIMEOUT,
            progress=say,
        )
    if report.consumer_run_id is None:
        return report, {}
    return report, {task: added for task, (added, _) in _flow_memory(clients, report, memory).items()}


def _run_big(
    clients: Clients,
    config: StackConfig,
    workdir: Path,
    rows: int,
    say: Say,
    fixed: dict[str, float] | None = None,
) -> list[Result]:
    label = f"{rows / 1e6:g}M rows"
    goal = BIG_GOAL if rows <= 2_000_000 else LARGER_GOAL
    names = (
        f"end to end {label}: trigger → decision",
        f"end to end {label}: peak RSS a task added (largest)",
        f"end to end {label}: snapshot reads by one task (most)",
    )
    progress(f"end to end: bootstrapping {label} into a Parquet file")
    path, frame_mb = _big_source(workdir, rows)
    with TaskMemory() as memory:
        report = run_flow(
            clients.data,
            clients.ml,
            storage_options=reader_storage_options(config),
            conf={"source": path.as_uri()},
            timeout=BIG_TIMEOUT * max(1.0, rows / 4_000_000),
            progress=say,
        )
    if not report.published or report.consumer_run_id is None:
        reason = f"the producer run {report.producer_run_id} published nothing"
        return [not_measured(names[0], "s", reason, goal)]
    decision = report.decision_s
    peaks = _flow_memory(clients, report, memory)
    reads = {
        **{
            f"{PRODUCER_DAG}.{k}": v
            for k, v in _reads_per_task(clients.data, PRODUCER_DAG, report.producer_run_id).items()
        },
        **{
            f"{CONSUMER_DAG}.{k}": v
            for k, v in _reads_per_task(clients.ml, CONSUMER_DAG, report.consumer_run_id).items()
        },
    }
    fixed = fixed or {}

    def for_the_frame(task: str) -> float:
        """What the task added beyond its fixed cost: the part that grows with the frame."""
        return peaks[task][0] - fixed.get(task, 0.0)

    largest = max(peaks, key=for_the_frame) if peaks else None
    rows_out = [
        Result(names[0], decision, "s", goal=goal, note=f"source {path.name} ({frame_mb:.0f} MB frame)"),
        Result(
            names[1],
            for_the_frame(largest) if largest else None,
            "MB",
            "the frame",
            frame_mb,
            BIG_MEMORY_GOAL,
            note=(
                f"{largest}; per 'airflow worker -- <ti id>' process, sampled every 0.2 s: VmHWM minus the "
                "first VmRSS (what the task added), minus the same task's on the real-data flow of this run "
                f"({'measured' if fixed else 'not measured: counted as 0'}; its imports and clients). "
                "Added (fixed cost, absolute VmHWM), MB: "
                + ", ".join(
                    f"{k} {added:.0f} ({fixed.get(k, 0.0):.0f}, {peak:.0f})"
                    for k, (added, peak) in peaks.items()
                )
            )
            if largest
            else "no task process was sampled",
        ),
        Result(
            names[2],
            float(max(reads.values())) if reads else None,
            "reads",
            goal=BIG_READS_GOAL,
            note=f"'{READ_LINE}...' log lines per task: " + ", ".join(f"{k} {v}" for k, v in reads.items()),
        ),
    ]
    # one row per task: what it added for the frame, so that every task's ratio is in the table
    rows_out += [
        Result(
            f"end to end {label} task memory: {task}",
            for_the_frame(task),
            "MB",
            "the frame",
            frame_mb,
            BIG_MEMORY_GOAL,
            note=(
                f"added {added:.0f} MB ({added / frame_mb:.2f}x the frame) to the {peak - added:.0f} MB it "
                f"started with (VmHWM {peak:.0f} MB); its fixed cost on the real-data flow "
                + (f"{fixed[task]:.0f} MB" if task in fixed else "not measured (counted as 0)")
            ),
        )
        for task, (added, peak) in peaks.items()
    ]
    return rows_out


def _run_all_big(
    clients: Clients,
    config: StackConfig,
    workdir: Path,
    big_rows: Sequence[int],
    say: Say,
    fixed: dict[str, float] | None = None,
) -> list[Result]:
    """The large flows, one after the other on the same stack; a failed one is a row saying why."""
    results: list[Result] = []
    for rows in big_rows:
        try:
            measured = _run_big(clients, config, workdir, rows, say, fixed)
            results += measured
            # shown at once: a later, larger flow may take long
            progress(f"end to end {rows / 1e6:g}M rows measured:\n" + render_table(measured))
        except (FlowError, AirflowError, httpx.HTTPError) as error:
            goal = BIG_GOAL if rows <= 2_000_000 else LARGER_GOAL
            results.append(
                not_measured(f"end to end {rows / 1e6:g}M rows: trigger → decision", "s", _short(error), goal)
            )
    return results


# --- the section -----------------------------------------------------------------------------------------


def run(
    workdir: Path, *, big_rows: Sequence[int] = (2_000_000,), imports: bool = True, large_only: bool = False
) -> list[Result]:
    """The whole end-to-end section on one stack (with ``large_only``, only the ``big_rows`` flows); see
    the module docstring."""
    from bench import in_process

    floor_dir = workdir / "floor-dags"
    for team in (DATA_TEAM, ML_TEAM):
        (floor_dir / team).mkdir(parents=True, exist_ok=True)
    config = StackConfig.ephemeral(
        workdir / "stack",
        extra_dags={team: floor_dir / team for team in (DATA_TEAM, ML_TEAM)},
        # every process of both deployments logs its imports' times: tasks put them in their logs, where
        # the breakdown reads them (one log line per imported module)
        airflow_env={"PYTHONPROFILEIMPORTTIME": "1"} if imports else {},
    )
    say: Say = lambda line: progress(f"  {line}")  # noqa: E731
    results: list[Result] = []
    progress("end to end: starting the native stack (S3, MLflow, two Airflows) on free ports")
    started = time.monotonic()
    try:
        with Stack(config):
            progress(f"end to end: stack up in {time.monotonic() - started:.0f} s; triggering the producer")
            clients = Clients(
                *(
                    AirflowClient(config.airflow_url(team), *config.airflow_admin(team), timeout=REST_TIMEOUT)
                    for team in (DATA_TEAM, ML_TEAM)
                )
            )
            if large_only:
                # the real-data flow first, unreported: the tasks' fixed cost, and a fresh stack's first
                # producer run (which unpausing starts on the default source) out of the way
                _, fixed = _real_flow(clients, config, say)
                return _run_all_big(clients, config, workdir, big_rows, say, fixed)
            # the floor DAG files, generated now from the real ones (the producer's names the template)
            shapes: dict[str, Any] = {}
            floor_error = ""
            try:
                template = publish(
                    _template_frame(),
                    TEMPLATE_URI,
                    storage_options=team_storage_options(config, DATA_TEAM),
                    contract=V1,
                ).manifest.snapshot_id
                shapes = write_floor_dags(config.repo_root, floor_dir, template)
            except Exception as error:  # the floor is reported as not measured; the real flow still runs
                floor_error = f"generating the floor DAGs: {_short(error)}"

            report, fixed = _real_flow(clients, config, say)
            if not report.published or report.decision is None:
                reason = f"the producer run {report.producer_run_id} published nothing"
                return [not_measured(NAME, "s", reason, GOAL)]
            decision_s = report.decision_s
            real = [Result(f"end to end phase: {phase.name}", phase.seconds, "s") for phase in report.phases]
            try:
                real += _task_rows(clients, report)
            except (AirflowError, RuntimeError, httpx.HTTPError) as error:
                real.append(not_measured("end to end task breakdown", "s", _short(error)))

            progress("end to end: the floor (generated no-op DAGs, same deployments)")
            floor_s, floor_note = None, ""
            try:
                if floor_error:
                    raise RuntimeError(floor_error)
                watched = consumed_uri(shapes[ML_TEAM])
                watchers = [w for w in shapes[ML_TEAM]["watchers"] if w["uri"] == watched]
                floor_s, floor_table = _run_floor(clients, config, watchers[0], say)
                progress("end to end: floor breakdown\n" + floor_table)
                floor_note = (
                    "generated from "
                    + ", ".join(s["dag_id"] for s in shapes.values())
                    + "; per task:\n"
                    + floor_table
                )
                results.append(Result(FLOOR_NAME, floor_s, "s", note=floor_note))
            except Exception as error:  # reported as a row; the other figures still count
                results.append(not_measured(FLOOR_NAME, "s", _short(error)))
            decided = report.decision
            note = (
                f"{report.snapshot['row_count']:,} rows; decision: version {decided.get('version')} → "
                f"{decided.get('outcome')}; flow total (write_predictions included) {report.total_s:.1f} s"
            )
            results[:0] = [
                Result(NAME, decision_s, "s", "floor" if floor_s else None, floor_s, GOAL, note=note),
                Result(
                    f"{NAME}, against the floor",
                    decision_s,
                    "s",
                    "floor" if floor_s else None,
                    floor_s,
                    FLOOR_GOAL,
                ),
            ]

            progress("end to end: the same steps as plain function calls (one process per team)")
            plain = in_process.run(config, contract_for(report.dataset_uri))
            results += plain
            work = next((r.value for r in plain if r.name == in_process.WORK_NAME), None)
            results = [_against_the_floor(r, work) if r.goal is FLOOR_GOAL else r for r in results]
            results += _run_all_big(clients, config, workdir, big_rows, say, fixed)
            results += real
    except (StackError, FlowError, AirflowError, httpx.HTTPError) as error:
        reason = f"{_short(error)} (stack logs kept in {_keep_logs(config.state_dir)})"
        return [*results, not_measured(NAME, "s", reason, GOAL)]
    return results


def _against_the_floor(row: Result, work: float | None) -> Result:
    """The ratio row, with what the floor plus the steps' own ``work`` (as plain calls) allows."""
    if work is None or not row.baseline_value:
        return row
    best = (row.baseline_value + work) / row.baseline_value
    note = (
        f"the floor ({row.baseline_value:.1f} s) plus the steps' own work as plain calls ({work:.1f} s, "
        f"no Airflow, no imports) is {best:.2f}x the floor: no run of these steps can be faster"
    )
    if best > row.goal.threshold:
        note += f"; the goal needs that work under {row.goal.threshold - 1:.1f}x the floor"
    return replace(row, note=note)


def _template_frame() -> Any:
    """The fewest rows the contract accepts: the floor copies a snapshot this small (~50 kB)."""
    from bench.data import bootstrap
    from housing_contracts.contract.model import MIN_ROW_COUNT

    return bootstrap(MIN_ROW_COUNT, seed=1)
