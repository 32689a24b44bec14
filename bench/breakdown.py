"""Where a DagRun's time goes, task by task: scheduling wait, start-up, DAG parse, imports, work.

Everything but the imports comes from the Airflow REST API of the deployment that ran the DagRun:

- **scheduling wait**: the later of the run's ``queued_at`` and its upstream tasks' ``end_date`` → the
  task instance's ``queued_when`` (the scheduler's loop and the executor's slots);
- **start-up**: ``queued_when`` → the first record of the task's own log, ``::group::Pre Execute`` (the
  executor forks, the task supervisor and runner start and import Airflow);
- **DAG parse**: ``dag_file_parse_ms`` of the log's ``Worker startup parse complete`` record (the task
  runner parses the DAG file again before running the task);
- **imports**, in situ when the deployment runs with ``PYTHONPROFILEIMPORTTIME=1`` (the bench's
  end-to-end stack does): the task process then writes one ``import time:`` line per module to its
  stderr, which the task supervisor puts in the task's log; the imports are the top-level ones logged
  after the ``Pre Execute`` group ended (the task's body, and whatever the teams' functions import
  when called), their cumulative microseconds summed. Otherwise re-enacted: the ``import`` statements
  in the body of the ``@task`` function (and in the module-level helpers of the DAG file it calls),
  timed in a fresh interpreter of the deployment's venv that has already imported the task runner and
  the DAG file, as the task process had (one interpreter per task; imports inside the teams'
  functions then count as work, and on a loaded machine the re-enactment can be slower than the task);
- **work**: the rest, up to the task instance's ``end_date``.

``python -m bench.breakdown --url http://127.0.0.1:8081 --user admin --password ... --dag housing_consumer
--run <run_id> [--python <venv>/bin/python]`` prints the table for one run.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from housing_stack.airflow_client import AirflowClient, AirflowError

PRE_EXECUTE = "::group::Pre Execute"
END_GROUP = "::endgroup::"
#: ``python -X importtime`` / ``PYTHONPROFILEIMPORTTIME=1`` lines: ``import time: self | cumulative | name``.
IMPORT_TIME = "import time:"
PARSED = "Worker startup parse complete"
#: What the task process has imported before it runs the task's body (besides the DAG file).
TASK_RUNNER = "airflow.sdk.execution_time.task_runner"


@dataclass(frozen=True)
class TaskTiming:
    """One task instance's time, split; a part is None when the run or its log does not show it."""

    dag_id: str
    task_id: str
    state: str | None
    scheduling_s: float | None
    startup_s: float | None
    parse_s: float | None
    imports_s: float | None
    work_s: float | None
    total_s: float | None  #: the scheduling wait's start → end_date
    imported: tuple[str, ...] = ()  #: the statements re-enacted, or the top-level modules seen in situ
    imports_method: str = ""  #: "in situ", "re-enacted" or "" (not measured: counted as work)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


# --- imports: what each @task function imports, timed in a fresh interpreter ------------------------


def _is_task_decorator(node: ast.expr) -> bool:
    """``@task``, ``@task(...)``, ``@task.python(...)``, ``@task.virtualenv`` and the like."""
    target = node.func if isinstance(node, ast.Call) else node
    while isinstance(target, ast.Attribute):
        if isinstance(target.value, ast.Name) and target.value.id == "task":
            return True
        target = target.value
    return isinstance(target, ast.Name) and target.id == "task"


def _task_id(function: ast.FunctionDef) -> str:
    for decorator in function.decorator_list:
        if isinstance(decorator, ast.Call):
            for keyword in decorator.keywords:
                if keyword.arg == "task_id" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    return function.name


def _imports_in(node: ast.AST) -> list[ast.stmt]:
    return [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]


def task_imports(dag_source: str) -> dict[str, list[str]]:
    """Task id → the import statements (as source) its ``@task`` function runs: those in its body and in
    the DAG file's module-level functions it calls (transitively), in order, without repeats."""
    tree = ast.parse(dag_source)
    helpers = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    found: dict[str, list[str]] = {}
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef) or not any(
            _is_task_decorator(d) for d in function.decorator_list
        ):
            continue
        statements: list[str] = []
        pending, visited = [function], set()
        while pending:
            current = pending.pop(0)
            visited.add(current.name)
            body = ast.Module(body=current.body, type_ignores=[])
            statements += [s for s in map(ast.unparse, _imports_in(body)) if s not in statements]
            called = {
                c.func.id for c in ast.walk(body) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
            }
            pending += [helpers[name] for name in sorted(called) if name in helpers and name not in visited]
        found[_task_id(function)] = statements
    return found


#: Run by the deployment's interpreter: import what a task process has, then time the task's imports.
_TIMER = f"""
import importlib.util, json, sys, time
dag_file, statements = sys.argv[1], json.loads(sys.argv[2])
import {TASK_RUNNER}
spec = importlib.util.spec_from_file_location("unusual_prefix_bench_dag", dag_file)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
before = set(sys.modules)
started = time.perf_counter()
for statement in statements:
    exec(statement, {{}})
elapsed = time.perf_counter() - started
print(json.dumps({{"seconds": elapsed, "new_modules": len(set(sys.modules) - before)}}))
"""


def time_imports(python: str, dag_file: Path, statements: list[str], *, timeout: float = 300.0) -> float:
    """Seconds the ``statements`` take in a fresh ``python`` that has imported the task runner and
    ``dag_file`` (the Astro project, ``dag_file``'s grandparent, on ``sys.path`` as in the deployment)."""
    if not statements:
        return 0.0
    dag_file = dag_file.resolve()
    project = dag_file.parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["PYTHONPATH"] = os.pathsep.join([str(project), *filter(None, [os.environ.get("PYTHONPATH")])])
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as home:
        env["AIRFLOW_HOME"] = home  # importing Airflow must not touch a real deployment's home
        done = subprocess.run(
            [python, "-c", _TIMER, str(dag_file), json.dumps(statements)],
            capture_output=True,
            text=True,
            env=env,
            cwd=project,
            timeout=timeout,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"timing the imports of {dag_file} failed: {done.stderr.strip()[-500:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


# --- the breakdown ------------------------------------------------------------------------------------


def _log_marks(records: list[dict[str, Any]]) -> tuple[datetime | None, float | None]:
    """The ``Pre Execute`` record's time and the DAG file's parse time (s) from one try's log."""
    started = next((_when(r.get("timestamp")) for r in records if r.get("event") == PRE_EXECUTE), None)
    parse_ms = next((r.get("dag_file_parse_ms") for r in records if r.get("event") == PARSED), None)
    return started, None if parse_ms is None else float(parse_ms) / 1000


def imports_in_situ(records: list[dict[str, Any]]) -> tuple[float, list[str]] | None:
    """Seconds of the top-level imports the task logged (``PYTHONPROFILEIMPORTTIME``) after its ``Pre
    Execute`` group ended, and their module names; None when the log has no import-time lines."""
    if not any(str(r.get("event", "")).startswith(IMPORT_TIME) for r in records):
        return None
    in_body, seconds, modules = False, 0.0, []
    for record in records:
        event = str(record.get("event", ""))
        if event == END_GROUP:
            in_body = True  # the first endgroup closes Pre Execute; later ones change nothing
        if not in_body or not event.startswith(IMPORT_TIME):
            continue
        parts = event[len(IMPORT_TIME) :].split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # the header line
        name = parts[2]
        if name.startswith(" ") and not name.startswith("  "):  # top level: no nesting indent
            seconds += int(parts[1]) / 1e6
            modules.append(name.strip())
    return seconds, modules


def breakdown(
    client: AirflowClient,
    dag_id: str,
    run_id: str,
    *,
    python: str | None = None,
    dag_file: Path | None = None,
) -> list[TaskTiming]:
    """Each task instance of the run, in start order. ``python`` (the deployment's interpreter) times
    the imports; without it they are not measured and count as work. ``dag_file`` defaults to the file
    the deployment parsed (``fileloc``), which must be readable here."""
    run = client.run(dag_id, run_id)
    upstream: dict[str, list[str]] = {}
    for task in client.tasks(dag_id):
        for child in task.get("downstream_task_ids") or []:
            upstream.setdefault(child, []).append(task["task_id"])
    imports: dict[str, list[str]] = {}
    if python:  # only for tasks whose log has no import-time lines
        dag_file = dag_file or Path(client.request("GET", f"/dags/{dag_id}/details")["fileloc"])
        imports = task_imports(dag_file.read_text())
    instances = {ti["task_id"]: ti for ti in client.task_instances(dag_id, run_id)}
    timings = []
    for ti in sorted(instances.values(), key=lambda t: t["queued_when"] or t["start_date"] or "~"):
        ends = [_when(instances[u]["end_date"]) for u in upstream.get(ti["task_id"], []) if u in instances]
        ready = max([_when(run.get("queued_at")), *ends], key=lambda d: d.timestamp() if d else 0.0)
        queued, end = _when(ti["queued_when"]), _when(ti["end_date"])
        pre_execute, parse_s, situ = None, None, None
        if ti["start_date"] and ti["try_number"]:
            try:
                records = client.task_log_records(dag_id, run_id, ti["task_id"], ti["try_number"])
                pre_execute, parse_s = _log_marks(records)
                situ = imports_in_situ(records)
            except AirflowError:
                pass  # no log (a task the scheduler finished itself): the split stays empty
        statements = imports.get(ti["task_id"], [])
        if situ is not None:
            imports_s, imported, method = situ[0], tuple(situ[1]), "in situ"
        elif python and pre_execute and dag_file:
            imports_s = time_imports(python, dag_file, statements)
            imported, method = tuple(statements), "re-enacted"
        else:
            imports_s, imported, method = None, (), ""
        running = _seconds(pre_execute, end)
        work = None if running is None else running - (parse_s or 0.0) - (imports_s or 0.0)
        timings.append(
            TaskTiming(
                dag_id,
                ti["task_id"],
                ti["state"],
                scheduling_s=_seconds(ready, queued),
                startup_s=_seconds(queued, pre_execute),
                parse_s=parse_s,
                imports_s=imports_s,
                work_s=work,
                total_s=_seconds(ready, end),
                imported=imported,
                imports_method=method,
            )
        )
    return timings


PARTS = ("scheduling_s", "startup_s", "parse_s", "imports_s", "work_s", "total_s")
HEADER = ("task", "state", "sched wait", "start-up", "DAG parse", "imports", "work", "total")


def render(timings: list[TaskTiming]) -> str:
    """A fixed-width table, seconds, one line per task and a sum per DAG."""

    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    rows = [
        (f"{t.dag_id}.{t.task_id}", t.state or "-", *(cell(getattr(t, p)) for p in PARTS)) for t in timings
    ]
    for dag_id in dict.fromkeys(t.dag_id for t in timings):
        mine = [t for t in timings if t.dag_id == dag_id]
        sums = [sum(getattr(t, p) or 0.0 for t in mine) for p in PARTS]
        rows.append((f"{dag_id} (sum)", "", *(f"{s:.2f}" for s in sums)))
    widths = [max(len(r[i]) for r in (HEADER, *rows)) for i in range(len(HEADER))]
    lines = [
        "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in (HEADER, *rows)
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.breakdown", description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the deployment's API, e.g. http://127.0.0.1:8081")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--dag", required=True)
    parser.add_argument("--run", required=True, help="the DagRun id")
    parser.add_argument("--python", help="the deployment's interpreter (times the imports); default: none")
    parser.add_argument("--dag-file", type=Path, help="default: the fileloc the deployment reports")
    args = parser.parse_args(argv)
    client = AirflowClient(args.url, args.user, args.password, timeout=120.0)
    timings = breakdown(client, args.dag, args.run, python=args.python, dag_file=args.dag_file)
    print(render(timings))
    methods = sorted({t.imports_method for t in timings if t.imports_method})
    print(f"imports: {', '.join(methods) or 'not measured (in work)'}; load average {os.getloadavg()[0]:.1f}")
    if any(t.work_s is not None and t.work_s < 0 for t in timings):
        print(
            "negative work: re-enacted imports ran slower than in the task (load differs), or import-time "
            "lines of the DAG parse reached the log after the Pre Execute group closed (in situ)"
        )


if __name__ == "__main__":
    main()
