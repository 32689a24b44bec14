"""The end-to-end floor: the teams' DAG shapes with tasks that do nothing, generated from the real DAG files.

:func:`dag_shape` imports a team's real DAG file in a fresh interpreter (the team's project on
``sys.path``, as in its deployment) and reads its tasks, their upstream tasks, setup/teardown flags and
outlets (an asset alias counts as every Asset the file defines: the ones its task may announce), and
the watchers on its schedule. :func:`write_floor_dags` writes one generated DAG file per
team into a folder that the bench's stack serves beside the team's ``dags/``
(``StackConfig.extra_dags``):

- ``floor_housing_producer`` (data team): every task a no-op, except the one whose real twin has the
  dataset the consumer subscribes to (:func:`consumed_uri`: its watcher's URI) as outlet: it commits a
  snapshot the cheapest way there is, with raw S3 calls (copy the data file of a tiny snapshot the bench
  published beforehand, PUT a manifest naming the new id), to a separate dataset URI inside the data
  team's grant (:data:`FLOOR_URI`); its outlet is the floor Asset. The real twin's other outlets (the
  other contract versions) stay, mirrored on floor URIs: each costs an asset event.
  Scheduled on nothing: the bench triggers it, as the flow triggers the real producer.
- ``floor_housing_consumer`` (ML team): scheduled on the floor Asset with the same watcher as the real
  consumer (same trigger class and arguments: poll interval, start position, subscription), only the URI
  and Asset name changed; every task a no-op.

So the floor costs what Airflow costs for this pipeline across the two deployments: scheduling, task
start-up, DAG parse of a small file, the watcher's poll and the asset event.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

PRODUCER_FILE = "data-team/dags/housing_producer.py"
CONSUMER_FILE = "ml-team/dags/housing_consumer.py"
FLOOR_PREFIX = "floor_"
#: Inside the data team's write grant (lake/california_housing/*) and the ML team's read grant, and
#: outside the real dataset's snapshots folder, so the real watcher never sees it.
FLOOR_URI = "s3://lake/california_housing/_bench_floor/v1"
#: Where the bench publishes the tiny snapshot the floor producer copies (not under FLOOR_URI: a watcher
#: starting at "latest" would fire on it).
TEMPLATE_URI = "s3://lake/california_housing/_bench_floor/template"
FLOOR_ASSET = "bench_floor_california_housing"

#: Run by the team's interpreter: the shape of the DAG its file defines (function named like the file).
_SHAPE = """
import importlib.util, json, sys
from pathlib import Path
path = Path(sys.argv[1])
spec = importlib.util.spec_from_file_location("unusual_prefix_bench_shape", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
dag = getattr(module, path.stem)()
from airflow.sdk import Asset, AssetAlias
# An asset alias outlet stands for the Assets its task may add events to: the ones the DAG file defines.
values = vars(module).values()
defined = [v for value in values for v in (value.values() if isinstance(value, dict) else [value])]
defined_uris = [v.uri for v in defined if isinstance(v, Asset)]
def outlet_uris(outlet):
    return defined_uris if isinstance(outlet, AssetAlias) else [getattr(outlet, "uri", None)]
watchers = []
pending = [getattr(dag.timetable, "asset_condition", None)]
while pending:
    node = pending.pop()
    pending += list(getattr(node, "objects", ()))  # AssetAll / AssetAny
    for watcher in getattr(node, "watchers", None) or []:
        classpath, kwargs = watcher.trigger.serialize()
        watchers.append({"uri": node.uri, "name": watcher.name, "classpath": classpath, "kwargs": kwargs})
tasks = [
    {
        "task_id": t.task_id,
        "upstream": sorted(t.upstream_task_ids),
        "is_setup": bool(getattr(t, "is_setup", False)),
        "is_teardown": bool(getattr(t, "is_teardown", False)),
        "outlets": [uri for o in t.outlets for uri in outlet_uris(o)],
    }
    for t in dag.topological_sort()
]
print(json.dumps({"dag_id": dag.dag_id, "max_active_runs": dag.max_active_runs, "tasks": tasks,
                  "watchers": watchers}))
"""


def dag_shape(dag_file: Path, python: str = sys.executable) -> dict[str, Any]:
    """The tasks (id, upstream ids, setup/teardown, outlet URIs) and schedule watchers of ``dag_file``'s
    DAG, read by importing it in a fresh ``python`` with its Astro project on ``sys.path``."""
    dag_file = dag_file.resolve()
    project = dag_file.parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env["PYTHONPATH"] = os.pathsep.join([str(project), *filter(None, [os.environ.get("PYTHONPATH")])])
    with tempfile.TemporaryDirectory(prefix="bench-shape-") as home:
        env["AIRFLOW_HOME"] = home
        done = subprocess.run(
            [python, "-c", _SHAPE, str(dag_file)],
            capture_output=True,
            text=True,
            env=env,
            cwd=project,
            timeout=300,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"reading the DAG shape of {dag_file} failed: {done.stderr.strip()[-800:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


_HEADER = '''"""
### {dag_id}: generated by bench/floor_dags.py from {source}

The same tasks and dependencies as `{real}`, each doing nothing{commit_note}. The end-to-end bench's floor.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Asset, AssetWatcher, dag, task

SHAPE = {shape!r}
'''

_NOOP = '''

@task
def noop() -> None:
    """Does nothing: the floor measures what Airflow costs around a task."""
'''

_COMMIT = '''
TEMPLATE_URI = {template_uri!r}
TEMPLATE_ID = {template_id!r}
FLOOR_URI = {floor_uri!r}
FLOOR = Asset(name={asset!r}, uri=FLOOR_URI)


@task(outlets=[FLOOR])
def commit() -> None:
    """Commit a snapshot to the floor URI with raw S3 calls: copy the template's data files, then PUT a
    manifest naming a new snapshot id (the file the consumer's watcher polls for)."""
    import json
    import secrets

    import boto3
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection("lake_s3")
    extra = conn.extra_dejson
    s3 = boto3.client(
        "s3",
        endpoint_url=extra.get("endpoint_url"),
        region_name=extra.get("region_name"),
        aws_access_key_id=conn.login,
        aws_secret_access_key=conn.password,
    )
    bucket, template = TEMPLATE_URI.removeprefix("s3://").split("/", 1)
    root = FLOOR_URI.removeprefix("s3://").split("/", 1)[1]
    manifest_key = f"{{template}}/snapshots/{{TEMPLATE_ID}}/_manifest.json"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    now = datetime.now(UTC)
    snapshot_id = f"{{now:%Y%m%dT%H%M%S.%fZ}}-{{secrets.token_hex(4)}}"
    for file in manifest["files"]:
        source = f"{{template}}/snapshots/{{TEMPLATE_ID}}/{{file['path']}}"
        s3.copy_object(
            Bucket=bucket,
            Key=f"{{root}}/snapshots/{{snapshot_id}}/{{file['path']}}",
            CopySource={{"Bucket": bucket, "Key": source}},
        )
    manifest.update(snapshot_id=snapshot_id, created_at=now.isoformat(), dataset_uri=FLOOR_URI)
    s3.put_object(
        Bucket=bucket, Key=f"{{root}}/snapshots/{{snapshot_id}}/_manifest.json", Body=json.dumps(manifest)
    )
'''

_WATCHED = """
from {module} import {cls}

FLOOR = Asset(
    name={asset!r},
    uri={floor_uri!r},
    watchers=[AssetWatcher(name={watcher!r}, trigger={cls}(**{kwargs!r}))],
)
"""

_DAG = """

@dag(
    dag_id={dag_id!r},
    schedule={schedule},
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs={max_active_runs!r},
    doc_md=__doc__,
    tags=["bench"],
)
def {dag_id}():
    made = {{}}
    for spec in SHAPE["tasks"]:
        factory = {factory}
        # other outlets (the consumer's predictions) cost an asset event each: mirrored on floor URIs
        outlets = [
            Asset(uri=f"{floor_uri}/outlets/{{spec['task_id']}}/{{n}}")
            for n, uri in enumerate(spec["outlets"])
            if uri != {dataset_uri!r}
        ]
        if outlets and spec["task_id"] == {committer!r}:
            outlets.insert(0, FLOOR)  # overriding the outlets must keep the commit's own
        extra = {{"outlets": outlets}} if outlets else {{}}
        made[spec["task_id"]] = factory.override(task_id=spec["task_id"], **extra)()
    for spec in SHAPE["tasks"]:
        for upstream in spec["upstream"]:
            made[upstream] >> made[spec["task_id"]]
    for spec in SHAPE["tasks"]:
        if spec["is_setup"]:
            made[spec["task_id"]].as_setup()
        if spec["is_teardown"]:
            made[spec["task_id"]].as_teardown()


{dag_id}()
"""


def consumed_uri(consumer_shape: dict[str, Any]) -> str:
    """The dataset the consumer DAG subscribes to: the URI of the one watcher on its schedule."""
    uris = sorted({w["uri"] for w in consumer_shape["watchers"]})
    if len(uris) != 1:
        raise ValueError(f"{consumer_shape['dag_id']} watches {uris}: expected one dataset")
    return uris[0]


def floor_source(
    shape: dict[str, Any], source: str, *, dataset_uri: str, template_id: str | None = None
) -> str:
    """The generated floor DAG file for ``shape``: a producer (committing to the floor URI from the task
    whose real twin has ``dataset_uri`` as outlet) when ``template_id`` is given, else a consumer scheduled
    on the floor Asset with a copy of the real schedule's watcher of ``dataset_uri``."""
    dag_id = FLOOR_PREFIX + shape["dag_id"]
    common = {"dag_id": dag_id, "source": source, "real": shape["dag_id"], "shape": shape}
    if template_id is not None:
        committer = next((t["task_id"] for t in shape["tasks"] if dataset_uri in t["outlets"]), None)
        if committer is None:
            raise ValueError(f"{source}: no task of {shape['dag_id']} has {dataset_uri} as outlet")
        text = _HEADER.format(**common, commit_note=f", but `{committer}` commits a snapshot to {FLOOR_URI}")
        text += _NOOP + _COMMIT.format(
            template_uri=TEMPLATE_URI, template_id=template_id, floor_uri=FLOOR_URI, asset=FLOOR_ASSET
        )
        factory = f'commit if spec["task_id"] == {committer!r} else noop'
        schedule = "None"
    else:
        watchers = [w for w in shape["watchers"] if w["uri"] == dataset_uri]
        if not watchers:
            raise ValueError(f"{source}: {shape['dag_id']} is not scheduled on a watcher of {dataset_uri}")
        watcher = watchers[0]
        module, cls = watcher["classpath"].rsplit(".", 1)
        kwargs = {**watcher["kwargs"], "uri": FLOOR_URI, "asset_name": FLOOR_ASSET}
        text = _HEADER.format(**common, commit_note="")
        text += _WATCHED.format(
            module=module,
            cls=cls,
            asset=FLOOR_ASSET,
            floor_uri=FLOOR_URI,
            watcher=f"{FLOOR_ASSET}_watcher",
            kwargs=kwargs,
        )
        text += _NOOP
        factory = "noop"
        schedule = "[FLOOR]"
        committer = None
    return text + _DAG.format(
        dag_id=dag_id,
        schedule=schedule,
        max_active_runs=shape["max_active_runs"],
        factory=factory,
        floor_uri=FLOOR_URI,
        dataset_uri=dataset_uri,
        committer=committer,
    )


def write_floor_dags(repo_root: Path, folder: Path, template_id: str) -> dict[str, dict[str, Any]]:
    """Generate both floor DAG files under ``folder/<team>/``; returns team → the real DAG's shape.

    The producer may publish several contract versions; the floor commits once, from the task that
    publishes the version the consumer subscribes to.
    """
    shapes = {
        "data-team": dag_shape(repo_root / PRODUCER_FILE),
        "ml-team": dag_shape(repo_root / CONSUMER_FILE),
    }
    watched = consumed_uri(shapes["ml-team"])
    for team, relative, template in (
        ("data-team", PRODUCER_FILE, template_id),
        ("ml-team", CONSUMER_FILE, None),
    ):
        shape = shapes[team]
        target = folder / team / f"{FLOOR_PREFIX}{shape['dag_id']}.py"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(floor_source(shape, relative, dataset_uri=watched, template_id=template))
    return shapes
