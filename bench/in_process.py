"""The handoff's steps as plain function calls, no Airflow: what our own work costs.

One fresh process per team (both teams have a package named ``include``), one after the other, each
with its Astro project on ``sys.path`` and the team's S3 keys, against the end-to-end stack's SeaweedFS
and MLflow:

- data team: ``extract("sklearn")`` → ``clean`` → ``housing_contracts.validate`` → ``publish_all`` (every
  live contract version, as the producer publishes), the frame passed in memory (the DAG stages it in S3
  between tasks);
- ML team: ``subscription.resolve`` (the snapshot of the version it consumes just published, as a manual
  run names it) → ``consumer.train`` (read + verify once, fit, log to MLflow, register) →
  ``consumer.decide``.

Both publish to and read from dataset URIs of their own (:data:`PLAIN_URI` and its sibling majors,
through ``HOUSING_DATASET_URI``), so the content is new and the publish really writes. The figure is the
two processes' wall time, interpreter start and imports included, as a task's are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from bench.results import Result, not_measured, progress
from housing_contracts import Contract
from housing_stack.flow import team_storage_options
from housing_stack.identities import DATA_TEAM, ML_TEAM
from housing_stack.stack import StackConfig

NAME = "end to end as plain function calls (no Airflow)"
#: The same calls without interpreter start and imports: the work any way of running them pays.
WORK_NAME = "end to end as plain function calls: the steps' own work"
PLAIN_URI = "s3://lake/california_housing/_bench_plain/v1"
TIMEOUT = 900.0

_PRODUCER = """
import json, sys, time
t0 = time.perf_counter()
from housing_contracts import CONTRACTS, V1, publish_all, validate
from include.housing_data.clean import clean
from include.housing_data.extract import extract
options = json.loads(sys.argv[1])
consumed = next(c for c in CONTRACTS if c.major == int(sys.argv[2]))
t1 = time.perf_counter()
frame = extract("sklearn", storage_options=options)
t2 = time.perf_counter()
cleaned, report = clean(frame)
t3 = time.perf_counter()
validate(cleaned, V1)
t4 = time.perf_counter()
producer = {"dag_id": "bench_plain", "run_id": "1"}
result = publish_all(cleaned, source=V1, producer=producer, storage_options=options).results[consumed]
t5 = time.perf_counter()
print(json.dumps({"snapshot_id": result.manifest.snapshot_id, "created": result.created,
                  "steps": {"imports": t1 - t0, "extract": t2 - t1, "clean": t3 - t2, "validate": t4 - t3,
                            "publish": t5 - t4}}))
"""

_CONSUMER = """
import json, sys, time
t0 = time.perf_counter()
from include.housing_ml.consumer import decide, train
from housing_contracts import CONTRACTS
from include.housing_ml.subscription import resolve
options, snapshot_id = json.loads(sys.argv[1]), sys.argv[2]
consumed = next(c for c in CONTRACTS if c.major == int(sys.argv[3]))
t1 = time.perf_counter()
resolved = resolve([], snapshot_id, contract=consumed, storage_options=options)
t2 = time.perf_counter()
trained = train(resolved, airflow_dag_id="bench_plain", airflow_run_id="1", storage_options=options)
t3 = time.perf_counter()
decision = decide(trained["snapshot"], trained["version"], storage_options=options)
t4 = time.perf_counter()
print(json.dumps({"outcome": decision.get("outcome"),
                  "steps": {"imports": t1 - t0, "resolve": t2 - t1, "train": t3 - t2, "decide": t4 - t3}}))
"""


def _call(
    team: str, script: str, args: list[str], env: dict[str, str], config: StackConfig
) -> tuple[float, Any]:
    project = config.repo_root / team
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env={**env, "PYTHONPATH": str(project)},
        cwd=project,
        timeout=TIMEOUT,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{team} process failed: {done.stderr.strip()[-600:]}")
    return seconds, json.loads(done.stdout.strip().splitlines()[-1])


def run(config: StackConfig, consumed: Contract) -> list[Result]:
    """Both processes, the ML team's on ``consumed`` (the contract version its consumer subscribes to)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "MLFLOW_", "HOUSING_"))
    }
    ml_team = config.mlflow_logins[ML_TEAM]
    env.update(
        {
            "HOUSING_DATASET_URI": PLAIN_URI,
            "MLFLOW_TRACKING_URI": config.mlflow_tracking_uri,
            "MLFLOW_TRACKING_USERNAME": ml_team.user,
            "MLFLOW_TRACKING_PASSWORD": ml_team.password,
        }
    )
    try:
        produced_s, produced = _call(
            "data-team",
            _PRODUCER,
            [json.dumps(team_storage_options(config, DATA_TEAM)), str(consumed.major)],
            env,
            config,
        )
        progress(f"end to end: plain producer {produced_s:.1f} s {produced['steps']}")
        consumed_s, consumed = _call(
            "ml-team",
            _CONSUMER,
            [json.dumps(team_storage_options(config, ML_TEAM)), produced["snapshot_id"], str(consumed.major)],
            env,
            config,
        )
        progress(f"end to end: plain consumer {consumed_s:.1f} s {consumed['steps']}")
    except (RuntimeError, subprocess.TimeoutExpired, KeyError, ValueError) as error:
        return [not_measured(NAME, "s", f"{type(error).__name__}: {' '.join(str(error).split())[:400]}")]
    steps = {
        **{f"data {k}": v for k, v in produced["steps"].items()},
        **{f"ml {k}": v for k, v in consumed["steps"].items()},
    }
    note = (
        f"data-team process {produced_s:.1f} s, ml-team process {consumed_s:.1f} s (interpreter start "
        "included); "
        + ", ".join(f"{k} {v:.2f}" for k, v in steps.items())
        + f"; decision {consumed['outcome']}"
    )
    work = sum(v for k, v in steps.items() if not k.endswith(" imports"))
    return [
        Result(NAME, produced_s + consumed_s, "s", note=note),
        Result(WORK_NAME, work, "s", note="the steps above without the interpreters' start and imports"),
    ]
