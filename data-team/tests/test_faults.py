"""A fault injected into the producer DAG (``dag.test()``): the object store crashes mid-publish.

The worst moment for a publish is after every data file is uploaded and before the manifest (the
commit) is written. Here a SeaweedFS of the test's own is killed with SIGKILL at exactly that moment,
before v1's commit (nothing committed yet) or before v2's (v1 already committed by this try); the
publish try fails on a storage error, the failed task's ``on_retry_callback`` restarts the store and
looks at the lake (no snapshot of that version may be visible), and the retry publishes. Retries wait
1 s here instead of the production backoff. The rows go to the reliability summary table.
"""

from __future__ import annotations

import posixpath
from typing import Any

import pytest

from housing_contracts import CONTRACTS, DATASET_URI, DATASET_URI_ENV, V1, V2, list_snapshots, read_snapshot
from housing_contracts.lake import snapshots as snapshot_store
from housing_contracts.lake.manifest import MANIFEST_NAME
from housing_testkit import DATA_TEAM, S3Identity, private_uri


@pytest.mark.parametrize("crashed", [V1, V2], ids=["before v1 commit", "before v2 commit"])
def test_store_killed_between_data_upload_and_manifest(
    crashed,
    producer_dag,
    run_producer,
    asset_events,
    disposable_s3_server,
    task_hooks,
    monkeypatch: pytest.MonkeyPatch,
    reliability_row,
) -> None:
    """No snapshot of the crashed version is visible after the crash; the retry commits one whole snapshot
    per version and one asset event each, including a version the failed try had already committed."""
    server = disposable_s3_server
    dataset_uri = private_uri(DATASET_URI, "faults")
    monkeypatch.setenv("AIRFLOW_CONN_LAKE_S3", S3Identity(server, DATA_TEAM).airflow_connection)
    monkeypatch.setenv(DATASET_URI_ENV, dataset_uri)
    # A fresh s3fs instance per look: a cached listing must not stand in for the store.
    options = {**server.storage_options, "skip_instance_cache": True}
    seen: dict[str, Any] = {}

    commit = snapshot_store._write_manifest

    crashed_uri = crashed.dataset_uri()

    def crash_before_commit(fs: Any, folder: str, manifest: Any) -> None:
        if "folder" not in seen and manifest.contract.version == crashed.version:
            seen["folder"] = folder
            server.kill()
        commit(fs, folder, manifest)

    def restart_and_look(context: dict[str, Any]) -> None:
        seen["error"] = type(context.get("exception")).__name__
        server.start()
        seen["visible"] = [m.snapshot_id for m in list_snapshots(crashed_uri, storage_options=options)]
        bucket, _, prefix = seen["folder"].partition("/")
        listing = server.client().list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")
        seen["left"] = sorted(posixpath.basename(item["Key"]) for item in listing.get("Contents", []))

    monkeypatch.setattr(snapshot_store, "_write_manifest", crash_before_commit)
    task_hooks.quick_retries(producer_dag)
    task_hooks.on_retry(producer_dag, "publish", restart_and_look)

    run = run_producer(producer_dag, dataset_uri, source="sklearn")
    committed = {
        contract: list_snapshots(contract.dataset_uri(), storage_options=options) for contract in CONTRACTS
    }
    events = asset_events(run.run_id)
    reliability_row(
        f"object store killed between data upload and manifest, {crashed.label}",
        "no visible snapshot after the crash; the retry commits one per version, one asset event each",
        f"{seen.get('error')} on try 1; visible after restart {seen.get('visible')}; "
        f"left in the uncommitted folder {seen.get('left')}; run {run.state}, publish try "
        f"{run.tasks['publish'][1]}; snapshots per version "
        f"{ {c.asset_name: len(m) for c, m in committed.items()} }, asset events "
        f"{ {name: len(e) for name, e in events.items()} }",
    )
    assert run.state == "success", run.tasks
    assert run.tasks["publish"] == ("success", 2)
    assert seen["visible"] == []
    assert MANIFEST_NAME not in seen["left"]
    assert not any(seen["folder"].endswith(m.snapshot_id) for m in committed[crashed])  # a new folder
    for contract in CONTRACTS:
        (manifest,) = committed[contract]
        # sizes, sha256 and fingerprint verified
        snapshot = read_snapshot(contract.dataset_uri(), storage_options=options)
        assert snapshot.manifest.row_count == len(snapshot.frame) == 20_621
        assert snapshot.manifest.producer["run_id"] == run.run_id
        assert [event["snapshot_id"] for event in events[contract.asset_name]] == [manifest.snapshot_id]
