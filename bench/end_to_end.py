"""End to end on the real dataset, producer trigger → champion/challenger decided, per phase.

Starts the whole native stack (``housing_stack.stack.Stack``: SeaweedFS, MLflow, both teams' Airflow
deployments) on free loopback ports in a temporary directory, never the user's ``make up`` stack, and
drives it with ``housing_stack.flow.run_flow``, the same code as ``make demo`` and the end-to-end test.
Stack start-up is not part of the figure.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import httpx

from bench.deployment import REST_TIMEOUT
from bench.results import Goal, Result, not_measured, progress
from housing_stack.airflow_client import AirflowClient, AirflowError
from housing_stack.flow import FlowError, reader_storage_options, run_flow
from housing_stack.process import StackError
from housing_stack.stack import Stack, StackConfig

GOAL = Goal("<=", 120.0)
NAME = "end to end: producer trigger → decision"
#: The producer's source (the real dataset, through scikit-learn's copy of it).
SOURCE = "sklearn"
#: Per wait of the flow: far beyond the goal, short enough to keep `make bench` under 30 minutes.
FLOW_TIMEOUT = 300.0


def _keep_logs(state_dir: Path) -> Path:
    """Copy the stack's server and task logs out of the temporary directory, for diagnosis."""
    kept = Path(tempfile.mkdtemp(prefix="housing-bench-e2e-logs-"))
    for logs in (state_dir / "logs", *state_dir.glob("airflow-*/logs")):
        if logs.is_dir():
            shutil.copytree(logs, kept / logs.relative_to(state_dir), dirs_exist_ok=True)
    return kept


def run(workdir: Path) -> list[Result]:
    config = StackConfig.ephemeral(workdir / "stack")
    progress("end to end: starting the native stack (S3, MLflow, two Airflows) on free ports")
    started = time.monotonic()
    try:
        with Stack(config):
            progress(f"end to end: stack up in {time.monotonic() - started:.0f} s; triggering the producer")
            data, ml = (
                AirflowClient(url, config.airflow_user, config.airflow_password, timeout=REST_TIMEOUT)
                for url in (config.airflow_data_url, config.airflow_ml_url)
            )
            report = run_flow(
                data,
                ml,
                storage_options=reader_storage_options(config),
                conf={"source": SOURCE},
                timeout=FLOW_TIMEOUT,
                progress=lambda line: progress(f"  {line}"),
            )
    except (StackError, FlowError, AirflowError, httpx.HTTPError) as error:
        reason = f"{type(error).__name__}: " + " ".join(str(error).split())[:400]
        return [
            not_measured(NAME, "s", f"{reason} (stack logs kept in {_keep_logs(config.state_dir)})", GOAL)
        ]
    if not report.published or report.decision is None:
        return [not_measured(NAME, "s", f"the producer run {report.producer_run_id} published nothing", GOAL)]
    decision = report.decision
    note = (
        f"{report.snapshot['row_count']:,} rows; decision: version {decision.get('version')} → "
        f"{decision.get('outcome')}"
    )
    return [
        Result(NAME, report.total_s, "s", goal=GOAL, note=note),
        *(Result(f"end to end phase: {phase.name}", phase.seconds, "s") for phase in report.phases),
    ]
